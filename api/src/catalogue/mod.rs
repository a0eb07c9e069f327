//! The product catalogue: products, images stored in PostgreSQL (so every instance
//! serves them), and a Redis cache that never serves a listing older than the last
//! write an admin was told succeeded.
//!
//! Layers: `service` owns transactions, `repo` takes any connection; failures are
//! [`error::CatalogueError`], mapped to the API's error shape in one place.

pub mod bulk;
pub mod cache;
pub mod categories;
pub mod error;
pub mod image_cache;
pub mod images;
pub mod model;
pub mod repo;
pub mod search;
pub mod service;
