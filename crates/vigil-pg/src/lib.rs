//! vigil-pg
