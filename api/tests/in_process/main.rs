//! The in-process test tier: each test runs its own API instance on port 0 against a
//! fresh PostgreSQL database and a Redis database of its own, with the Kafka producer
//! replaced by an in-memory recorder (`support`). Needs only PostgreSQL and Redis, so
//! `cargo test` on a clean clone runs it. What needs nginx, tansu, MailDev and the
//! consumers is proven by the end-to-end tier (`tests/`, run by `scripts/test.sh`).

mod addresses;
mod audit;
mod auth;
mod beside_orders;
mod catalogue;
mod categories;
mod coherence;
mod images;
mod instance;
mod lifecycle;
mod orders;
mod payments;
mod product_status;
mod reviews;
mod schema;
mod search;
mod security;
mod support;
