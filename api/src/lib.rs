//! The shop API library: one API instance (`startup`), and what the consumers share
//! with it (configuration, events, Kafka plumbing, telemetry).

pub mod admin;
pub mod auth;
pub mod catalogue;
pub mod configuration;
pub mod domain;
pub mod entities;
pub mod envelope;
pub mod error;
pub mod events;
pub mod jobs;
pub mod json_body;
pub mod kafka;
pub mod metrics;
pub mod middleware;
pub mod migrate;
pub mod money;
pub mod orders;
pub mod outbox;
pub mod password;
pub mod routes;
pub mod seal;
pub mod shop_stats;
pub mod sql;
pub mod startup;
pub mod state;
pub mod telemetry;
