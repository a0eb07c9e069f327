//! What the API and the consumers share, and nothing of HTTP: the events on the wire,
//! configuration primitives, Kafka plumbing, the database pool, shutdown, logging and
//! the sealing of secrets inside events. The consumer binaries depend on this crate,
//! never on the web crate (`api`), so they build without poem-openapi, bcrypt or
//! jsonwebtoken.

pub mod config;
pub mod db;
pub mod events;
pub mod html;
pub mod kafka;
pub mod money;
pub mod seal;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
