//! The consumer runner every consumer plugs into.
//!
//! Guarantees:
//! - at-least-once: a message's offset is stored (and so committed) only after its
//!   handler succeeded, or after it was written to the dead-letter topic;
//! - exactly-once effects: an event whose id is in `processed_events` for this
//!   consumer is skipped, and the id is recorded after the handler succeeds;
//! - bounded retries with exponential backoff for transient failures, then the
//!   dead-letter topic `<topic>.dlq`; undecodable and permanently failing messages go
//!   there at once. Nothing is dropped: if even the dead-letter write fails, the runner
//!   keeps trying and never moves past the message.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use api::events::{EventEnvelope, dlq_topic, parse_envelope};
use rdkafka::{
    ClientContext, Message, Offset, TopicPartitionList,
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer},
    message::{Header, OwnedHeaders, OwnedMessage},
    producer::{FutureProducer, FutureRecord},
};
use sea_orm::DatabaseConnection;
use tokio::{
    sync::{mpsc, watch},
    task::JoinSet,
};
use tracing::Instrument;
use uuid::Uuid;

use crate::processed::{self, DeadLetter};

/// How a handler failed.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Worth retrying (SMTP or database down).
    #[error("transient: {0:#}")]
    Transient(anyhow::Error),
    /// Will never succeed (unknown event type, invalid payload).
    #[error("permanent: {0:#}")]
    Permanent(anyhow::Error),
}

/// The effect of one consumer.
pub trait Handler: Send + Sync + 'static {
    /// Makes the effect of `event`. Must be safe to call again for the same event if
    /// the process dies before the runner records it.
    fn handle(&self, event: &EventEnvelope)
    -> impl Future<Output = Result<(), HandleError>> + Send;
}

/// Messages queued per partition lane before the receive loop waits.
const LANE_DEPTH: usize = 32;

/// What a runner has done, shared with the health endpoint.
#[derive(Debug, Default)]
pub struct RunnerStatus {
    /// Set once the group has assigned partitions (possibly none) to this member.
    pub joined: AtomicBool,
    /// Events whose effect was made.
    pub handled: AtomicU64,
    /// Redelivered events skipped because their effect was already made.
    pub duplicates: AtomicU64,
    /// Messages sent to the dead-letter topic.
    pub dead_lettered: AtomicU64,
    /// Failed handler attempts that were retried.
    pub retries: AtomicU64,
    /// The group's lag: messages on its topics past its committed offsets (what
    /// `kafka-consumer-groups --describe` shows), refreshed every 5 seconds.
    pub lag: AtomicI64,
}

/// Runner configuration.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Consumer name: the Kafka group id and the `processed_events.consumer` value.
    pub name: String,
    /// Topics to subscribe to.
    pub topics: Vec<String>,
    /// Bootstrap servers.
    pub brokers: String,
    /// Attempts before dead-lettering a transient failure.
    pub max_attempts: u32,
    /// First retry delay.
    pub initial_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
}

/// Marks the status as joined when the group assigns partitions.
struct GroupContext {
    status: Arc<RunnerStatus>,
    name: String,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                self.status.joined.store(true, Ordering::SeqCst);
                tracing::info!(consumer = %self.name, partitions = list.count(), "partitions assigned");
            }
            Rebalance::Revoke(list) => {
                tracing::info!(consumer = %self.name, partitions = list.count(), "partitions revoked");
            }
            Rebalance::Error(e) => {
                tracing::warn!(consumer = %self.name, error = %e, "rebalance error")
            }
        }
    }
}

/// A consumer bound to its handler.
pub struct Runner<H: Handler> {
    config: RunnerConfig,
    consumer: StreamConsumer<GroupContext>,
    producer: FutureProducer,
    db: DatabaseConnection,
    handler: H,
    status: Arc<RunnerStatus>,
}

impl<H: Handler> Runner<H> {
    /// Creates the consumer and subscribes it.
    pub fn new(config: RunnerConfig, db: DatabaseConnection, handler: H) -> anyhow::Result<Self> {
        let status = Arc::new(RunnerStatus::default());
        let context = GroupContext {
            status: status.clone(),
            name: config.name.clone(),
        };
        let consumer: StreamConsumer<GroupContext> = api::kafka::client_config(&config.brokers)
            .set("group.id", &config.name)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "15000")
            .create_with_context(context)
            .context("creating the Kafka consumer")?;
        let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).context("subscribing")?;
        let producer = api::kafka::producer(&config.brokers)?;
        Ok(Self {
            config,
            consumer,
            producer,
            db,
            handler,
            status,
        })
    }

    /// The status shared with the health endpoint.
    pub fn status(&self) -> Arc<RunnerStatus> {
        self.status.clone()
    }

    /// Consumes until `shutdown` turns true, then commits what was stored.
    ///
    /// Each partition gets its own lane (a task fed in order through a short queue), so
    /// partitions are handled concurrently (an e-mail to one customer does not wait for
    /// an e-mail to another) while each partition keeps its order and its offsets are
    /// stored one after another, only after the work.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        tracing::info!(consumer = %self.config.name, topics = ?self.config.topics, "consumer started");
        let lag = tokio::task::spawn_blocking({
            let (config, status, shutdown) =
                (self.config.clone(), self.status.clone(), shutdown.clone());
            move || watch_lag(&config, &status, &shutdown)
        });
        let runner = Arc::new(self);
        let mut lanes: HashMap<(String, i32), mpsc::Sender<OwnedMessage>> = HashMap::new();
        let mut workers = JoinSet::new();
        loop {
            let message = tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => break,
                message = runner.consumer.recv() => message,
            };
            let message = match message {
                Ok(m) => m.detach(),
                Err(e) => {
                    tracing::warn!(error = %e, "kafka receive error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let lane = lanes
                .entry((message.topic().to_owned(), message.partition()))
                .or_insert_with(|| {
                    let (tx, rx) = mpsc::channel(LANE_DEPTH);
                    workers.spawn(runner.clone().lane(rx, shutdown.clone()));
                    tx
                });
            let queued = tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => break,
                queued = lane.send(message) => queued,
            };
            if queued.is_err() {
                // A lane only ends early at shutdown.
                break;
            }
        }
        drop(lanes);
        while workers.join_next().await.is_some() {}
        if let Err(e) = runner.consumer.commit_consumer_state(CommitMode::Sync) {
            // Nothing stored since the last automatic commit is a normal outcome.
            tracing::info!(error = %e, "final offset commit");
        }
        let _ = lag.await;
        tracing::info!(consumer = %runner.config.name, "consumer stopped");
        Ok(())
    }

    /// Handles the messages of one partition in order; stores each offset after the
    /// work. Stops at shutdown, leaving what is queued to be redelivered.
    async fn lane(
        self: Arc<Self>,
        mut queue: mpsc::Receiver<OwnedMessage>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        while let Some(message) = queue.recv().await {
            if *shutdown.borrow() {
                break;
            }
            if !self.owns(message.topic(), message.partition()) {
                // Revoked meanwhile: its new owner starts from the committed offset.
                tracing::info!(
                    topic = message.topic(),
                    partition = message.partition(),
                    offset = message.offset(),
                    "partition no longer assigned; message left to its new owner"
                );
                continue;
            }
            if !self.process(&message, &mut shutdown).await {
                break;
            }
            if let Err(e) =
                self.consumer
                    .store_offset(message.topic(), message.partition(), message.offset())
            {
                tracing::error!(error = %e, "storing the offset failed; the message will be redelivered");
            }
        }
    }

    /// Whether `partition` of `topic` is assigned to this member now.
    fn owns(&self, topic: &str, partition: i32) -> bool {
        self.consumer
            .assignment()
            .map_or(true, |a| a.find_partition(topic, partition).is_some())
    }

    /// Handles one message to the end: effect made, duplicate skipped or dead-lettered.
    /// Returns `false` if shutdown interrupted it (the offset must not be stored).
    async fn process(&self, message: &OwnedMessage, shutdown: &mut watch::Receiver<bool>) -> bool {
        let event = match parse_envelope(message.payload().unwrap_or_default()) {
            Ok(event) => event,
            Err(e) => {
                return self
                    .dead_letter(message, None, &format!("undecodable: {e}"), shutdown)
                    .await;
            }
        };
        let name = self.config.name.as_str();
        let span = tracing::info_span!("event", consumer = name, event_id = %event.event_id,
            event_type = %event.event_type, request_id = event.request_id.as_deref().unwrap_or(""));

        // A database outage must not turn into a second effect: wait for it.
        let mut attempt = 0u32;
        let already = loop {
            match processed::is_processed(&self.db, name, event.event_id).await {
                Ok(done) => break done,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read processed_events; retrying");
                    if !self.backoff(attempt, shutdown).await {
                        return false;
                    }
                    attempt = attempt.saturating_add(1);
                }
            }
        };
        if already {
            self.status.duplicates.fetch_add(1, Ordering::Relaxed);
            tracing::info!(event_id = %event.event_id, "duplicate event skipped");
            return true;
        }

        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.handler.handle(&event).instrument(span.clone()).await {
                Ok(()) => break,
                Err(HandleError::Permanent(e)) => {
                    return self
                        .dead_letter(message, Some(event.event_id), &format!("{e:#}"), shutdown)
                        .await;
                }
                Err(HandleError::Transient(e)) if attempt >= self.config.max_attempts => {
                    tracing::error!(event_id = %event.event_id, attempt, error = %format!("{e:#}"), "giving up");
                    return self
                        .dead_letter(
                            message,
                            Some(event.event_id),
                            &format!("after {attempt} attempts: {e:#}"),
                            shutdown,
                        )
                        .await;
                }
                Err(HandleError::Transient(e)) => {
                    self.status.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(event_id = %event.event_id, attempt, error = %format!("{e:#}"), "handler failed; retrying");
                    if !self.backoff(attempt - 1, shutdown).await {
                        return false;
                    }
                }
            }
        }

        let mut attempt = 0u32;
        while let Err(e) = processed::mark_processed(&self.db, name, event.event_id).await {
            tracing::warn!(error = %e, "cannot record the processed event; retrying");
            if !self.backoff(attempt, shutdown).await {
                return false;
            }
            attempt = attempt.saturating_add(1);
        }
        self.status.handled.fetch_add(1, Ordering::Relaxed);
        tracing::info!(event_id = %event.event_id, event_type = %event.event_type, "event handled");
        true
    }

    /// Writes the message to `<topic>.dlq` with the reason in headers, retrying until
    /// the broker takes it, then records it in `dead_letters` (retrying until
    /// PostgreSQL takes it). Returns `false` if shutdown interrupted it: the offset is
    /// not stored, so the message comes back and is counted once.
    async fn dead_letter(
        &self,
        message: &OwnedMessage,
        event_id: Option<Uuid>,
        reason: &str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let topic = dlq_topic(message.topic());
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let mut attempt = 0u32;
        loop {
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "dlq-reason",
                    value: Some(reason),
                })
                .insert(Header {
                    key: "dlq-consumer",
                    value: Some(self.config.name.as_str()),
                })
                .insert(Header {
                    key: "original-topic",
                    value: Some(message.topic()),
                })
                .insert(Header {
                    key: "original-partition",
                    value: Some(partition.as_str()),
                })
                .insert(Header {
                    key: "original-offset",
                    value: Some(offset.as_str()),
                });
            let mut record = FutureRecord::to(&topic)
                .payload(message.payload().unwrap_or_default())
                .headers(headers);
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            match self.producer.send(record, Duration::from_secs(10)).await {
                Ok(_) => break,
                Err((e, _)) => {
                    tracing::error!(error = %e, dlq = %topic, "dead-letter write failed; retrying");
                    if !self.backoff(attempt, shutdown).await {
                        return false;
                    }
                    attempt = attempt.saturating_add(1);
                }
            }
        }
        let letter = DeadLetter {
            consumer: &self.config.name,
            topic: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
            event_id,
            reason,
        };
        let mut attempt = 0u32;
        while let Err(e) = processed::record_dead_letter(&self.db, letter).await {
            tracing::warn!(error = %e, "cannot record the dead letter; retrying");
            if !self.backoff(attempt, shutdown).await {
                return false;
            }
            attempt = attempt.saturating_add(1);
        }
        self.status.dead_lettered.fetch_add(1, Ordering::Relaxed);
        tracing::error!(dlq = %topic, reason, original_offset = %offset, "message dead-lettered");
        true
    }

    /// Sleeps `initial * 2^attempt` (capped); `false` if shutdown came first.
    async fn backoff(&self, attempt: u32, shutdown: &mut watch::Receiver<bool>) -> bool {
        let delay = backoff_delay(
            self.config.initial_backoff,
            self.config.max_backoff,
            attempt,
        );
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => false,
            () = tokio::time::sleep(delay) => true,
        }
    }
}

/// Measures the group's lag every 5 s until shutdown, on a blocking thread: a
/// group-less view (the same `group.id`, never subscribed, so it does not join) reads
/// the committed offsets and the high watermarks from the broker.
fn watch_lag(config: &RunnerConfig, status: &RunnerStatus, shutdown: &watch::Receiver<bool>) {
    // -1 until measured: 0 would look like a healthy consumer.
    status.lag.store(-1, Ordering::Relaxed);
    let client: BaseConsumer = match api::kafka::client_config(&config.brokers)
        .set("group.id", &config.name)
        .set("enable.auto.commit", "false")
        .create()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot create the lag client; lag stays unknown");
            status.lag.store(-1, Ordering::Relaxed);
            return;
        }
    };
    let timeout = Duration::from_secs(2);
    let stopping = || *shutdown.borrow();
    while !stopping() {
        // Serves the client's queued events (errors while the broker is away).
        let _ = client.poll(Duration::ZERO);
        let measured = config.topics.iter().try_fold(0i64, |total, topic| {
            if stopping() {
                return Err(rdkafka::error::KafkaError::Canceled);
            }
            let metadata = client.fetch_metadata(Some(topic), timeout)?;
            let mut partitions = TopicPartitionList::new();
            for t in metadata.topics() {
                for p in t.partitions() {
                    partitions.add_partition(topic, p.id());
                }
            }
            let committed = client.committed_offsets(partitions, timeout)?;
            committed.elements().iter().try_fold(total, |total, tp| {
                if stopping() {
                    return Err(rdkafka::error::KafkaError::Canceled);
                }
                let (low, high) = client.fetch_watermarks(topic, tp.partition(), timeout)?;
                let at = match tp.offset() {
                    Offset::Offset(o) => o,
                    _ => low,
                };
                Ok::<i64, rdkafka::error::KafkaError>(total + (high - at).max(0))
            })
        });
        match measured {
            Ok(lag) => status.lag.store(lag, Ordering::Relaxed),
            Err(e) => {
                tracing::debug!(error = %e, "lag not measured this round");
                status.lag.store(-1, Ordering::Relaxed);
            }
        }
        for _ in 0..20 {
            if stopping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// `initial * 2^attempt`, at most `max`.
pub fn backoff_delay(initial: Duration, max: Duration, attempt: u32) -> Duration {
    initial
        .checked_mul(2u32.saturating_pow(attempt.min(20)))
        .unwrap_or(max)
        .min(max)
}

#[cfg(test)]
mod tests {
    use super::backoff_delay;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_and_stops_at_the_cap() {
        let (i, m) = (Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(backoff_delay(i, m, 0), Duration::from_millis(100));
        assert_eq!(backoff_delay(i, m, 1), Duration::from_millis(200));
        assert_eq!(backoff_delay(i, m, 3), Duration::from_millis(800));
        assert_eq!(backoff_delay(i, m, 4), m);
        assert_eq!(backoff_delay(i, m, u32::MAX), m);
    }
}
