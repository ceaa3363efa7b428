//! vigil-sql
