//! vigil-policy
