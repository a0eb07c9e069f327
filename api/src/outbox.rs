//! The transactional outbox and its relay.
//!
//! Invariants:
//! - an event is inserted in the same transaction as the change it announces, so it
//!   exists if and only if the change committed;
//! - the relay runs in every API instance, but one batch is published at a time
//!   across all of them (a transaction-scoped advisory lock), so events go out in id
//!   order even while several instances catch up after an outage; rows are taken with
//!   `FOR UPDATE SKIP LOCKED`, published with `acks=all`, one request in flight (`kafka::producer`) and
//!   marked published in the same transaction; a crash between publish and commit
//!   republishes (at least once: consumers dedupe by `event_id`);
//! - Kafka down: the batch fails, rows stay pending, the relay backs off and catches
//!   up when the broker returns. No request ever waits for Kafka;
//! - a relay takes the lock only while its broker answers (checked every 2 s, and
//!   after every failure before the next try): an instance cut off from Kafka alone
//!   (a wrong `KAFKA_BROKERS`, a partition) would otherwise hold the lock, and every
//!   instance's events with it, for a whole delivery timeout (30 s) per try.

use std::time::Duration;

use prometheus::{IntCounter, IntGauge};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, Statement,
    TransactionTrait,
};
use tokio::sync::watch;

use crate::{
    events::{Event, EventEnvelope},
    metrics::Metrics,
};

/// Rows taken per batch.
const BATCH: u64 = 200;
/// The advisory lock that makes one relay publish at a time ("outbox" in ASCII).
const RELAY_LOCK: i64 = 0x6f75_7462_6f78;
/// Pause when the outbox is empty: bounds e-mail latency, costs one tiny query.
const IDLE_POLL: Duration = Duration::from_millis(150);
/// Longest pause after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How often the lag gauges and the broker's reachability are refreshed.
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// How long the reachability check waits for the broker's metadata.
const BROKER_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

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

/// Sends the events of dead letters not yet replayed back through the outbox (all
/// consumers, or only `consumer`'s; every event, or only `event`), and marks those
/// dead letters replayed; returns
/// how many events will be published again. One transaction: a dead letter is
/// replayed once. Safe because every consumer dedupes by `event_id`: a consumer that
/// handled the event already skips it; the one that dead-lettered it tries again.
pub async fn replay_dead_letters(
    db: &DatabaseConnection,
    consumer: Option<&str>,
    event: Option<uuid::Uuid>,
) -> Result<u64, DbErr> {
    let txn = db.begin().await?;
    let replayed = txn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "WITH letters AS (
                 UPDATE dead_letters SET replayed_at = now()
                 WHERE replayed_at IS NULL AND event_id IS NOT NULL
                   AND ($1::text IS NULL OR consumer = $1)
                   AND ($2::uuid IS NULL OR event_id = $2)
                 RETURNING event_id)
             UPDATE outbox SET published_at = NULL, last_error = NULL
             WHERE event_id IN (SELECT event_id FROM letters)",
            [consumer.map(str::to_owned).into(), event.into()],
        ))
        .await?
        .rows_affected();
    txn.commit().await?;
    Ok(replayed)
}

#[derive(Debug, FromQueryResult)]
struct Pending {
    id: i64,
    topic: String,
    message_key: String,
    payload: String,
}

#[derive(Debug, FromQueryResult)]
struct Lag {
    pending: i64,
    oldest_seconds: Option<f64>,
}

/// Outbox metrics.
#[derive(Clone)]
pub struct OutboxMetrics {
    pending: IntGauge,
    oldest: IntGauge,
    published: IntCounter,
    errors: IntCounter,
    broker_reachable: IntGauge,
}

impl OutboxMetrics {
    /// Registers the outbox metrics.
    pub fn new(metrics: &Metrics) -> Result<Self, prometheus::Error> {
        let pending = IntGauge::new("outbox_pending", "Outbox events not yet published")?;
        let oldest = IntGauge::new(
            "outbox_oldest_pending_seconds",
            "Age of the oldest unpublished event (outbox lag)",
        )?;
        let published = IntCounter::new(
            "outbox_published_total",
            "Events published by this instance",
        )?;
        let errors = IntCounter::new("outbox_publish_errors_total", "Failed publish batches")?;
        let broker_reachable = IntGauge::new(
            "outbox_relay_broker_reachable",
            "1 while this instance's relay reaches the Kafka broker (it publishes only then)",
        )?;
        metrics.register(Box::new(pending.clone()))?;
        metrics.register(Box::new(oldest.clone()))?;
        metrics.register(Box::new(published.clone()))?;
        metrics.register(Box::new(errors.clone()))?;
        metrics.register(Box::new(broker_reachable.clone()))?;
        Ok(Self {
            pending,
            oldest,
            published,
            errors,
            broker_reachable,
        })
    }
}

/// The pause after `failures` failures in a row: doubling from `IDLE_POLL`, at most
/// `MAX_BACKOFF`.
fn backoff(failures: u32) -> Duration {
    (IDLE_POLL * 2u32.saturating_pow(failures.min(8))).min(MAX_BACKOFF)
}

/// Publishes the outbox to Kafka.
pub struct Relay {
    db: DatabaseConnection,
    producer: FutureProducer,
    metrics: OutboxMetrics,
}

impl Relay {
    /// A relay over `db` and `producer`.
    pub fn new(db: DatabaseConnection, producer: FutureProducer, metrics: OutboxMetrics) -> Self {
        Self {
            db,
            producer,
            metrics,
        }
    }

    /// Relays until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut failures = 0u32;
        let mut last_check = tokio::time::Instant::now() - Duration::from_secs(60);
        let mut broker_ok = false;
        loop {
            if *shutdown.borrow() {
                break;
            }
            if last_check.elapsed() >= CHECK_EVERY {
                self.update_lag().await;
                last_check = tokio::time::Instant::now();
                broker_ok = self.broker_reachable().await;
            } else if !broker_ok {
                broker_ok = self.broker_reachable().await;
            }
            let pause = if broker_ok {
                match self.publish_batch().await {
                    Ok(n) if n > 0 => {
                        failures = 0;
                        continue;
                    }
                    Ok(_) => {
                        failures = 0;
                        IDLE_POLL
                    }
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        broker_ok = false;
                        self.metrics.errors.inc();
                        let pause = backoff(failures);
                        tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "outbox relay failed");
                        pause
                    }
                }
            } else {
                // Leave the lock to instances that can publish; look again soon (the
                // check is cheap), so a returning broker is used within seconds.
                failures = failures.saturating_add(1);
                backoff(failures).min(CHECK_EVERY)
            };
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
        tracing::info!("outbox relay stopped");
    }

    /// Publishes one batch; returns how many rows were published.
    async fn publish_batch(&self) -> anyhow::Result<usize> {
        let txn = self.db.begin().await?;
        let leader = txn
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT pg_try_advisory_xact_lock({RELAY_LOCK}) AS leader"),
            ))
            .await?
            .and_then(|row| row.try_get::<bool>("", "leader").ok())
            .unwrap_or(false);
        if !leader {
            // Another instance is publishing; it takes the pending rows in order.
            txn.commit().await?;
            return Ok(0);
        }
        let rows = Pending::find_by_statement(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT id, topic, message_key, payload::text AS payload FROM outbox
                 WHERE published_at IS NULL ORDER BY id LIMIT {BATCH} FOR UPDATE SKIP LOCKED"
            ),
        ))
        .all(&txn)
        .await?;
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(0);
        }
        // Queue every message, then wait for the acknowledgements in order: one
        // request in flight per connection keeps per-partition order across retries.
        let sends: Vec<_> = rows
            .iter()
            .map(|row| {
                self.producer.send(
                    FutureRecord::to(&row.topic)
                        .key(&row.message_key)
                        .payload(&row.payload),
                    Duration::from_secs(5),
                )
            })
            .collect();
        let results = futures_util::future::join_all(sends).await;
        let mut published = Vec::new();
        let mut first_error = None;
        for (row, result) in rows.iter().zip(results) {
            match result {
                Ok(_) => published.push(row.id),
                Err((e, _)) => {
                    first_error.get_or_insert_with(|| (row.id, e.to_string()));
                }
            }
        }
        if !published.is_empty() {
            let ids = published
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            txn.execute_unprepared(&format!(
                "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id IN ({ids})"
            ))
            .await?;
        }
        if let Some((id, error)) = &first_error {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
                [(*id).into(), error.clone().into()],
            ))
            .await?;
        }
        txn.commit().await?;
        self.metrics.published.inc_by(published.len() as u64);
        match first_error {
            Some((_, error)) => Err(anyhow::anyhow!("publishing to Kafka: {error}")),
            None => Ok(published.len()),
        }
    }

    /// Whether the broker answers now; logs the changes, keeps the gauge.
    async fn broker_reachable(&self) -> bool {
        let reachable = crate::kafka::broker_reachable(&self.producer, BROKER_CHECK_TIMEOUT).await;
        let was = self.metrics.broker_reachable.get() == 1;
        match &reachable {
            Ok(()) if !was => tracing::info!("outbox relay reaches the broker"),
            Err(e) if was => {
                tracing::warn!(error = %e, "outbox relay lost the broker; leaving the lock to others");
            }
            _ => {}
        }
        self.metrics
            .broker_reachable
            .set(i64::from(reachable.is_ok()));
        reachable.is_ok()
    }

    async fn update_lag(&self) {
        let lag = Lag::find_by_statement(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS pending,
                    EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS oldest_seconds
             FROM outbox WHERE published_at IS NULL",
        ))
        .one(&self.db)
        .await;
        if let Ok(Some(lag)) = lag {
            self.metrics.pending.set(lag.pending);
            self.metrics
                .oldest
                .set(lag.oldest_seconds.unwrap_or(0.0) as i64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_idle_poll_up_to_the_cap() {
        assert_eq!(backoff(1), Duration::from_millis(300));
        assert_eq!(backoff(2), Duration::from_millis(600));
        assert_eq!(backoff(6), Duration::from_millis(9_600));
        assert_eq!(backoff(7), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
