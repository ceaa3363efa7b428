//! vigil-gateway
