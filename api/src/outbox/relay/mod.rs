//! The relay: publishes the outbox to Kafka from every API instance.
//!
//! Invariants:
//! - one batch is published at a time across all instances (a transaction-scoped
//!   advisory lock); rows are taken with `FOR UPDATE SKIP LOCKED`, published with
//!   `acks=all`, one request in flight (`kafka::producer`), and marked published in
//!   the same transaction; a crash between publish and commit republishes (at least
//!   once: consumers dedupe by `event_id`);
//! - a relay takes the lock only while its broker answers (checked every 2 s, and
//!   after every failed batch before the next try): an instance cut off from Kafka
//!   alone (a wrong `KAFKA_BROKERS`, a partition) would otherwise hold the lock, and
//!   every instance's events with it, for a whole delivery timeout (30 s) per try;
//! - a failure counts towards a row's parking only when it is the row's own: the
//!   broker refused that message (an error about the message), or other messages of
//!   the same batch went through. A batch that fails as a whole (the broker is away)
//!   counts against no row.

use std::{sync::Arc, time::Duration};

use prometheus::{IntCounter, IntGauge};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, FromQueryResult,
    Statement, TransactionTrait,
};
use tokio::sync::watch;

use super::publisher::{PublishError, Publisher};
use crate::metrics::Metrics;

/// Rows published per batch.
const BATCH: usize = 200;
/// Pending rows looked at per batch (rows of a key already in the batch or waiting
/// out a retry are skipped, so more are read than published).
const SCAN: u64 = 1000;
/// First pause of a row the broker refused; doubles per attempt.
const ROW_BACKOFF: Duration = Duration::from_secs(1);
/// Longest pause of a refused row.
const ROW_MAX_BACKOFF: Duration = Duration::from_secs(60);
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

#[derive(Debug, FromQueryResult)]
struct Pending {
    id: i64,
    topic: String,
    message_key: String,
    payload: String,
    attempts: i32,
    due: bool,
}

#[derive(Debug, FromQueryResult)]
struct Lag {
    pending: i64,
    oldest_seconds: Option<f64>,
    parked: i64,
}

/// Outbox metrics.
#[derive(Clone)]
pub struct OutboxMetrics {
    pending: IntGauge,
    oldest: IntGauge,
    published: IntCounter,
    errors: IntCounter,
    broker_reachable: IntGauge,
    parked: IntGauge,
    parked_total: IntCounter,
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
        let parked = IntGauge::new(
            "outbox_parked",
            "Outbox events parked after the broker refused them OUTBOX_MAX_ATTEMPTS times",
        )?;
        let parked_total =
            IntCounter::new("outbox_parked_total", "Outbox events this instance parked")?;
        metrics.register(Box::new(parked.clone()))?;
        metrics.register(Box::new(parked_total.clone()))?;
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
            parked,
            parked_total,
        })
    }
}

/// The pause after `failures` failures in a row: doubling from `IDLE_POLL`, at most
/// `MAX_BACKOFF`.
fn backoff(failures: u32) -> Duration {
    (IDLE_POLL * 2u32.saturating_pow(failures.min(8))).min(MAX_BACKOFF)
}

/// The pause of a row the broker refused `attempts` times.
fn row_backoff(attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(16);
    (ROW_BACKOFF * 2u32.saturating_pow(exponent)).min(ROW_MAX_BACKOFF)
}

/// The rows of one batch: at most one per key, none of a key whose oldest pending
/// row is not due yet (so each key keeps its order), at most `BATCH`.
fn choose(rows: Vec<Pending>) -> Vec<Pending> {
    let mut keys = std::collections::HashSet::new();
    rows.into_iter()
        .filter(|row| keys.insert(row.message_key.clone()) && row.due)
        .take(BATCH)
        .collect()
}

/// Marks the rows `ids` published in `txn`.
async fn mark_published(txn: &DatabaseTransaction, ids: &[i64]) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    txn.execute_unprepared(&format!(
        "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id IN ({ids})"
    ))
    .await?;
    Ok(())
}

/// Publishes the outbox to Kafka. Cloning gives a relay over the same pool, broker
/// and metrics (the supervisor starts a new one after a panic).
#[derive(Clone)]
pub struct Relay {
    db: DatabaseConnection,
    producer: Arc<dyn Publisher>,
    metrics: OutboxMetrics,
    max_attempts: i32,
}

impl Relay {
    /// A relay over `db` and `producer`; a row is parked after the broker refused it
    /// `max_attempts` times.
    pub fn new(
        db: DatabaseConnection,
        producer: Arc<dyn Publisher>,
        metrics: OutboxMetrics,
        max_attempts: i32,
    ) -> Self {
        Self {
            db,
            producer,
            metrics,
            max_attempts,
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
        let rows = Self::take_batch(&txn).await?;
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(0);
        }
        // Queue every message, then wait for the acknowledgements: one request in
        // flight per connection keeps per-partition order across retries.
        let sends: Vec<_> = rows
            .iter()
            .map(|row| {
                self.producer
                    .publish(&row.topic, &row.message_key, &row.payload)
            })
            .collect();
        let results = futures_util::future::join_all(sends).await;
        let mut published = Vec::new();
        let mut failed = Vec::new();
        for (row, result) in rows.iter().zip(results) {
            match result {
                Ok(()) => published.push(row.id),
                Err(e) => failed.push((row, e)),
            }
        }
        mark_published(&txn, &published).await?;
        let whole_batch_failed = published.is_empty();
        let mut parked = 0u64;
        let mut first_error = None;
        for (row, error) in &failed {
            let counts = !whole_batch_failed || error.refused;
            if self.record_failure(&txn, row, error, counts).await? {
                parked += 1;
            }
            if !counts {
                first_error.get_or_insert_with(|| error.to_string());
            }
        }
        txn.commit().await?;
        self.metrics.published.inc_by(published.len() as u64);
        self.metrics.parked_total.inc_by(parked);
        match first_error {
            // Nothing went through and the errors were not the messages' own: the
            // broker is away; the caller backs off.
            Some(error) => Err(anyhow::anyhow!("publishing to Kafka: {error}")),
            None => Ok(published.len()),
        }
    }

    /// The rows of the next batch, locked in `txn`; none unless this relay holds the
    /// relay lock (another instance is publishing, and takes the rows in order).
    async fn take_batch(txn: &DatabaseTransaction) -> Result<Vec<Pending>, DbErr> {
        let leader = txn
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT pg_try_advisory_xact_lock({RELAY_LOCK}) AS leader"),
            ))
            .await?
            .and_then(|row| row.try_get::<bool>("", "leader").ok())
            .unwrap_or(false);
        if !leader {
            return Ok(Vec::new());
        }
        let rows = Pending::find_by_statement(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT id, topic, message_key, payload::text AS payload, attempts,
                        next_attempt_at <= now() AS due
                 FROM outbox WHERE published_at IS NULL AND failed_at IS NULL
                 ORDER BY id LIMIT {SCAN} FOR UPDATE SKIP LOCKED"
            ),
        ))
        .all(txn)
        .await?;
        Ok(choose(rows))
    }

    /// Records that `row` was not published; `counts` when the failure is the row's
    /// own. Returns whether the row is now parked.
    async fn record_failure(
        &self,
        txn: &DatabaseTransaction,
        row: &Pending,
        error: &PublishError,
        counts: bool,
    ) -> Result<bool, DbErr> {
        let attempts = if counts {
            row.attempts.saturating_add(1)
        } else {
            row.attempts
        };
        let park = counts && attempts >= self.max_attempts;
        let wait = if counts {
            row_backoff(attempts)
        } else {
            Duration::ZERO
        };
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE outbox SET attempts = $2, last_error = $3,
                 next_attempt_at = now() + make_interval(secs => $4),
                 failed_at = CASE WHEN $5 THEN now() END
             WHERE id = $1",
            [
                row.id.into(),
                attempts.into(),
                error.to_string().into(),
                wait.as_secs_f64().into(),
                park.into(),
            ],
        ))
        .await?;
        if park {
            tracing::error!(outbox_id = row.id, topic = %row.topic, attempts, error = %error,
                "outbox event parked: the broker refused it every time (api replay-dead-letters sends it again)");
        } else if counts {
            tracing::warn!(outbox_id = row.id, topic = %row.topic, attempts, error = %error,
                retry_in_ms = wait.as_millis() as u64, "the broker refused an outbox event");
        }
        Ok(park)
    }

    /// Whether the broker answers now; logs the changes, keeps the gauge.
    async fn broker_reachable(&self) -> bool {
        let reachable = self.producer.reachable(BROKER_CHECK_TIMEOUT).await;
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
            "SELECT count(*) FILTER (WHERE failed_at IS NULL) AS pending,
                    EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE failed_at IS NULL))::float8
                        AS oldest_seconds,
                    count(*) FILTER (WHERE failed_at IS NOT NULL) AS parked
             FROM outbox WHERE published_at IS NULL",
        ))
        .one(&self.db)
        .await;
        if let Ok(Some(lag)) = lag {
            self.metrics.pending.set(lag.pending);
            self.metrics
                .oldest
                .set(lag.oldest_seconds.unwrap_or(0.0) as i64);
            self.metrics.parked.set(lag.parked);
        }
    }
}

#[cfg(test)]
mod tests;
