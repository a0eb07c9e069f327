//! The product catalogue: products, images stored in PostgreSQL (so every instance
//! serves them), and a Redis cache that never serves a listing older than the last
//! write an admin was told succeeded.

pub mod bulk;
pub mod cache;
pub mod images;
pub mod model;
pub mod repo;
