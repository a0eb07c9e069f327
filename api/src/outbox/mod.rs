//! The transactional outbox and its relay.
//!
//! Invariants:
//! - an event is inserted in the same transaction as the change it announces, so it
//!   exists if and only if the change committed;
//! - events of one key (one order, one user) are published in id order: the relay
//!   publishes at most one row per key per batch, and a key whose oldest pending row
//!   is waiting out a retry waits with it. There is no order across keys;
//! - a row the broker refuses while it answers (too large, say) waits out its own
//!   backoff and is parked after `OUTBOX_MAX_ATTEMPTS` (`failed_at`, counted in
//!   `outbox_parked` and the admin stats); it never holds back other keys. Parked
//!   rows go out again with `api replay-dead-letters`;
//! - published rows are kept for `RETENTION_OUTBOX_DAYS`; `api republish SINCE`
//!   publishes every event since then again (after a broker lost its data), and the
//!   consumers' dedupe by `event_id` makes that safe;
//! - Kafka down: whole batches fail, rows stay pending without counting towards
//!   parking, the relay backs off and catches up when the broker returns. No request
//!   ever waits for Kafka. See `relay` for the relay's own invariants.

mod publisher;
mod relay;
mod replay;

pub use publisher::{KafkaPublisher, PublishError, Publisher, Recorded, RecordingPublisher};
pub use relay::{OutboxMetrics, Relay};
pub use replay::{Replayed, replay_dead_letters, republish_since};

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use crate::events::{Event, EventEnvelope};

/// Writes `event` to the outbox on `db` (use the transaction of the change).
pub async fn enqueue<P: Event>(
    db: &impl ConnectionTrait,
    key: &str,
    event: &EventEnvelope<P>,
) -> Result<(), DbErr> {
    let payload = serde_json::to_value(event).map_err(|e| DbErr::Custom(e.to_string()))?;
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO outbox (event_id, topic, message_key, payload) VALUES ($1, $2, $3, $4)",
        [
            event.event_id.into(),
            P::TOPIC.into(),
            key.into(),
            payload.into(),
        ],
    ))
    .await?;
    Ok(())
}
