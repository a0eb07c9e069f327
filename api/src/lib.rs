//! The shop API library: one API instance (`startup`). What the consumers share with
//! it (events, configuration primitives, Kafka plumbing, telemetry, sealing) lives in
//! `shop-common` and is re-exported here under its old paths.

pub mod addresses;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod catalogue;
pub mod configuration;
pub mod db_statements;
pub mod domain;
pub mod entities;
pub mod envelope;
pub mod error;
pub mod jobs;
pub mod json_body;
pub mod metrics;
pub mod middleware;
pub mod migrate;
pub mod orders;
pub mod outbox;
pub mod password;
pub mod payments;
pub mod reviews;
pub mod routes;
pub mod shop_stats;
pub mod sql;
pub mod startup;
pub mod state;

pub use shop_common::{events, kafka, money, seal, telemetry};
