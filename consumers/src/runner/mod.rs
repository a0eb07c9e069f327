//! The consumer runner every consumer plugs into.
//!
//! Guarantees:
//! - at-least-once: a message's offset is stored (and so committed) only after its
//!   effect was made, or after it was written to the dead-letter topic;
//! - effects once per event, within a named window: `processed_events` holds each
//!   event this consumer has `claimed` (before the effect) and `done` (right after
//!   it, in the effect's own round trip). A redelivered `done` event is skipped. A
//!   redelivered `claimed` one is the window: the process stopped between starting the
//!   effect and recording it, so the effect is made again and counted
//!   (`shop_consumer_uncertain_redeliveries_total`). For a database effect made in
//!   the handler's own transaction that is harmless; for an SMTP send it is the
//!   README's "exactly-once window": a crash after the server accepted the mail and
//!   before the `done` row committed (one PostgreSQL round trip) sends it again, with
//!   the same `Message-ID`;
//! - partitions are independent: each has its own lane (a task and an unbounded
//!   queue). A lane whose queue passes `LANE_HIGH_WATER` has its partition paused at
//!   the broker and resumed once the lane has drained to half, so the receive loop
//!   never waits on a lane: a partition whose head message is retrying holds only
//!   itself. Within a lane, a batch of messages is handled concurrently across message
//!   keys and in order within a key;
//! - a revoked partition's lane stops (finishing its effects in flight, abandoning a
//!   retry's wait, never storing an offset it did not finish); librdkafka commits the
//!   stored offsets as the partition goes. The rebalance callback never waits: the
//!   claims' lease (`processed::CLAIM_LEASE`) makes the partition's next lane wait for
//!   effects still in flight instead of making them again;
//! - bounded retries with exponential backoff for transient failures, then the
//!   dead-letter topic `<topic>.dlq`; undecodable and permanently failing messages go
//!   there at once. Nothing is dropped: if even the dead-letter write fails, the runner
//!   keeps trying and never moves past the message.

mod dead_letter;
mod effect;
mod lag;
mod lane;
mod rewind;

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use rdkafka::{
    ClientContext, Message,
    config::RDKafkaLogLevel,
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer},
    producer::FutureProducer,
};
use sea_orm::DatabaseConnection;
use shop_common::events::EventEnvelope;
use tokio::{sync::watch, task::JoinSet};

use lane::{LaneHandle, LaneState};

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

/// What a runner has done, shared with the health endpoint.
#[derive(Debug, Default)]
pub struct RunnerStatus {
    /// True while the group has this member assigned (partitions, possibly none):
    /// set at each assignment, cleared at each revocation.
    pub joined: AtomicBool,
    /// Events whose effect was made.
    pub handled: AtomicU64,
    /// Redelivered events skipped because their effect was already made.
    pub duplicates: AtomicU64,
    /// Redelivered events found claimed but not done: the process stopped mid-effect,
    /// so the effect was made again (the exactly-once window).
    pub uncertain: AtomicU64,
    /// Messages sent to the dead-letter topic.
    pub dead_lettered: AtomicU64,
    /// Failed handler attempts that were retried.
    pub retries: AtomicU64,
    /// Partitions paused now because their lane is full.
    pub paused: AtomicI64,
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
    /// Message keys of one lane's batch handled at the same time.
    pub concurrency: usize,
    /// `session.timeout.ms`: how long the group keeps a member that stopped
    /// answering (a crashed process, a frozen broker) before moving its partitions.
    pub session_timeout: Duration,
}

impl RunnerConfig {
    /// The longest a message can keep its lane busy: every attempt's handler timeout
    /// (`attempt_timeout`) plus every backoff. `max.poll.interval.ms` is set above it.
    pub fn worst_retry_span(&self, attempt_timeout: Duration) -> Duration {
        (0..self.max_attempts).fold(Duration::ZERO, |total, attempt| {
            total + attempt_timeout + backoff_delay(self.initial_backoff, self.max_backoff, attempt)
        })
    }
}

/// The lanes of the partitions this member owns, shared with the rebalance callback.
type Lanes = Arc<Mutex<HashMap<(String, i32), LaneHandle>>>;

/// Marks the status as joined when the group assigns partitions; stops the lanes of
/// revoked partitions before they move.
struct GroupContext {
    status: Arc<RunnerStatus>,
    name: String,
    lanes: Lanes,
}

impl ClientContext for GroupContext {
    /// librdkafka's own lines (with `KAFKA_DEBUG=cgrp` set, the group's state machine)
    /// go to the process log through `tracing`.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", fac, "{log_message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", fac, "{log_message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", fac, "{log_message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", fac, "{log_message}"),
        }
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(list) = rebalance else {
            return;
        };
        // The callback runs inside the receive loop's poll: it only stops the lanes and
        // never waits for them. A stopped lane takes no new batch, gives up a retry's
        // wait and stores no offset for a batch it did not finish; librdkafka commits
        // what was stored before the partition goes. Effects still in flight finish,
        // and their claims (`processed::CLAIM_LEASE`) keep the partition's next lane,
        // here or in another member, from making them a second time.
        let stopped: Vec<Arc<LaneState>> = {
            let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
            list.elements()
                .iter()
                .filter_map(|tp| lanes.remove(&(tp.topic().to_owned(), tp.partition())))
                .map(LaneHandle::stop)
                .collect()
        };
        self.status.paused.fetch_sub(
            stopped.iter().filter(|l| l.was_paused()).count() as i64,
            Ordering::Relaxed,
        );
        tracing::info!(consumer = %self.name, partitions = list.count(), "partitions revoked; their lanes stopped");
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                // A partition paused by a lane that was then revoked must not come back
                // paused: its new lane starts empty.
                if let Err(e) = consumer.resume(list) {
                    tracing::warn!(error = %e, "resuming newly assigned partitions failed");
                }
                self.status.joined.store(true, Ordering::SeqCst);
                tracing::info!(consumer = %self.name, partitions = list.count(), "partitions assigned");
            }
            // Until the next assignment: a group that never assigns again (README,
            // Known limits) shows as a consumer that is not ready.
            Rebalance::Revoke(_) => self.status.joined.store(false, Ordering::SeqCst),
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
    lanes: Lanes,
}

/// The longest one handler attempt is expected to take (the SMTP timeout).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

impl<H: Handler> Runner<H> {
    /// Creates the consumer and subscribes it.
    pub fn new(config: RunnerConfig, db: DatabaseConnection, handler: H) -> anyhow::Result<Self> {
        let status = Arc::new(RunnerStatus::default());
        let lanes: Lanes = Arc::default();
        let context = GroupContext {
            status: status.clone(),
            name: config.name.clone(),
            lanes: lanes.clone(),
        };
        // The receive loop never waits on a lane, so it polls continuously; the
        // interval only matters if the process stalls. It is set above the worst
        // retry span anyway, with a floor of librdkafka's default (5 minutes).
        // librdkafka allows at most a day.
        let poll_interval = (config
            .worst_retry_span(ATTEMPT_TIMEOUT)
            .max(Duration::from_secs(300))
            + Duration::from_secs(60))
        .min(Duration::from_secs(86_400));
        let consumer: StreamConsumer<GroupContext> =
            shop_common::kafka::client_config(&config.brokers)
                .set("group.id", &config.name)
                .set("enable.auto.commit", "true")
                .set("auto.commit.interval.ms", "1000")
                .set("enable.auto.offset.store", "false")
                .set("auto.offset.reset", "earliest")
                .set(
                    "session.timeout.ms",
                    config.session_timeout.as_millis().to_string(),
                )
                .set(
                    "max.poll.interval.ms",
                    poll_interval.as_millis().to_string(),
                )
                // An idle partition's fetch returns after this long; bounds the latency a
                // new event adds on top of the relay's poll.
                .set("fetch.wait.max.ms", "100")
                // A topic created (or re-created, after a broker lost its data) after the
                // member joined shows its partitions within 10 s, not librdkafka's 5 min.
                .set("topic.metadata.refresh.interval.ms", "10000")
                .create_with_context(context)
                .context("creating the Kafka consumer")?;
        let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).context("subscribing")?;
        let producer = shop_common::kafka::producer(&config.brokers)?;
        Ok(Self {
            config,
            consumer,
            producer,
            db,
            handler,
            status,
            lanes,
        })
    }

    /// The status shared with the health endpoint.
    pub fn status(&self) -> Arc<RunnerStatus> {
        self.status.clone()
    }

    /// Consumes until `shutdown` turns true, then commits what was stored.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        tracing::info!(consumer = %self.config.name, topics = ?self.config.topics, "consumer started");
        let lag = tokio::task::spawn_blocking({
            let (config, status, shutdown) =
                (self.config.clone(), self.status.clone(), shutdown.clone());
            move || lag::watch_lag(&config, &status, &shutdown)
        });
        let runner = Arc::new(self);
        let rewind = tokio::task::spawn_blocking({
            let (runner, shutdown) = (runner.clone(), shutdown.clone());
            move || rewind::watch_positions(&runner.consumer, &shutdown)
        });
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
            let key = (message.topic().to_owned(), message.partition());
            let lane = {
                let mut lanes = runner.lanes.lock().unwrap_or_else(|e| e.into_inner());
                lanes
                    .entry(key.clone())
                    .or_insert_with(|| {
                        let (handle, queue) = LaneHandle::new(&key.0, key.1);
                        workers.spawn(runner.clone().lane(queue, handle.state(), shutdown.clone()));
                        handle
                    })
                    .clone()
            };
            lane.push(message, &runner.consumer, &runner.status);
        }
        runner
            .lanes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        while workers.join_next().await.is_some() {}
        if let Err(e) = runner.consumer.commit_consumer_state(CommitMode::Sync) {
            // Nothing stored since the last automatic commit is a normal outcome.
            tracing::info!(error = %e, "final offset commit");
        }
        let _ = lag.await;
        let _ = rewind.await;
        tracing::info!(consumer = %runner.config.name, "consumer stopped");
        Ok(())
    }

    /// Sleeps `initial * 2^attempt` (capped); `false` if shutdown or the lane's
    /// revocation came first.
    async fn backoff(
        &self,
        attempt: u32,
        lane: &LaneState,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        Self::wait(self.backoff_delay(attempt), lane, shutdown).await
    }

    /// The delay before retry number `attempt + 1`.
    fn backoff_delay(&self, attempt: u32) -> Duration {
        backoff_delay(
            self.config.initial_backoff,
            self.config.max_backoff,
            attempt,
        )
    }

    /// Sleeps `delay`; `false` if shutdown or the lane's revocation came first.
    async fn wait(delay: Duration, lane: &LaneState, shutdown: &mut watch::Receiver<bool>) -> bool {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => false,
            () = lane.stopped() => false,
            () = tokio::time::sleep(delay) => true,
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
