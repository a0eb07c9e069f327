//! Kafka consumers of the shop: one runner, one handler per consumer, thin binaries.
//!
//! The runner owns delivery guarantees (at-least-once, offsets stored only after the
//! work is done, bounded retries, dead-letter topic); handlers own the effect.

pub mod handlers;
pub mod health;
pub mod mailer;
pub mod processed;
pub mod runner;
pub mod settings;
pub mod templates;
