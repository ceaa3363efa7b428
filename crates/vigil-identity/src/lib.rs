//! vigil-identity
