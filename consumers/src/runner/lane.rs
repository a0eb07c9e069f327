//! One partition's lane: its queue, its pause state and the task that works through
//! it in batches.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use rdkafka::{
    Message, TopicPartitionList,
    consumer::{Consumer, StreamConsumer},
    message::OwnedMessage,
};
use shop_common::events::{EventEnvelope, parse_envelope};
use tokio::sync::{Notify, mpsc, watch};

use super::{GroupContext, Handler, Runner, RunnerStatus};
use crate::processed::{self, ClaimState};

/// Messages a lane takes from its queue at once.
const LANE_BATCH: usize = 64;
/// Queued messages at which a lane's partition is paused (resumed at half).
const LANE_HIGH_WATER: usize = 256;
/// How often a lane looks again at events another lane has claimed moments ago.
const IN_FLIGHT_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// What the receive loop, the lane's task and the rebalance callback share.
pub(super) struct LaneState {
    topic: String,
    partition: i32,
    queued: AtomicUsize,
    paused: Mutex<bool>,
    stopped: AtomicBool,
    stop: Notify,
}

impl LaneState {
    /// Whether the lane's partition was paused when the lane stopped.
    pub(super) fn was_paused(&self) -> bool {
        *self.paused.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Resolves once the lane is stopped (its partition revoked).
    pub(super) async fn stopped(&self) {
        loop {
            let notified = self.stop.notified();
            if self.is_stopped() {
                return;
            }
            notified.await;
        }
    }

    fn partition_list(&self) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        list.add_partition(&self.topic, self.partition);
        list
    }

    /// Pauses (`true`) or resumes the partition if the queue length calls for it.
    fn set_paused(
        &self,
        consumer: &StreamConsumer<GroupContext>,
        status: &RunnerStatus,
        pause: bool,
    ) {
        let mut paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        let queued = self.queued.load(Ordering::SeqCst);
        let list = self.partition_list();
        if pause && !*paused && queued >= LANE_HIGH_WATER {
            match consumer.pause(&list) {
                Ok(()) => {
                    *paused = true;
                    status.paused.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(topic = %self.topic, partition = self.partition, queued, "lane full; partition paused");
                }
                Err(e) => tracing::warn!(error = %e, "pausing a partition failed"),
            }
        } else if !pause && *paused && queued <= LANE_HIGH_WATER / 2 && !self.is_stopped() {
            match consumer.resume(&list) {
                Ok(()) => {
                    *paused = false;
                    status.paused.fetch_sub(1, Ordering::Relaxed);
                    tracing::info!(topic = %self.topic, partition = self.partition, queued, "lane drained; partition resumed");
                }
                Err(e) => tracing::warn!(error = %e, "resuming a partition failed"),
            }
        }
    }
}

/// The receive loop's end of a lane.
#[derive(Clone)]
pub(super) struct LaneHandle {
    queue: mpsc::UnboundedSender<OwnedMessage>,
    state: Arc<LaneState>,
}

impl LaneHandle {
    /// A lane for `partition` of `topic`, and the queue its task reads.
    pub(super) fn new(
        topic: &str,
        partition: i32,
    ) -> (Self, mpsc::UnboundedReceiver<OwnedMessage>) {
        let (queue, rx) = mpsc::unbounded_channel();
        let state = Arc::new(LaneState {
            topic: topic.to_owned(),
            partition,
            queued: AtomicUsize::new(0),
            paused: Mutex::new(false),
            stopped: AtomicBool::new(false),
            stop: Notify::new(),
        });
        (Self { queue, state }, rx)
    }

    pub(super) fn state(&self) -> Arc<LaneState> {
        self.state.clone()
    }

    /// Stops the lane: it takes no new batch, and a retrying one gives up.
    pub(super) fn stop(self) -> Arc<LaneState> {
        self.state.stopped.store(true, Ordering::SeqCst);
        self.state.stop.notify_waiters();
        self.state
    }

    /// Queues `message`; pauses the partition if the lane is full. Never waits.
    pub(super) fn push(
        &self,
        message: OwnedMessage,
        consumer: &StreamConsumer<GroupContext>,
        status: &RunnerStatus,
    ) {
        self.state.queued.fetch_add(1, Ordering::SeqCst);
        if self.queue.send(message).is_err() {
            // The lane's task ended (shutdown): the message is redelivered later.
            self.state.queued.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        self.state.set_paused(consumer, status, true);
    }
}

impl<H: Handler> Runner<H> {
    /// Works through one partition's queue in batches; stores the batch's last offset
    /// after the whole batch is done. Stops at shutdown or revocation, leaving what
    /// is not done to be redelivered.
    pub(super) async fn lane(
        self: Arc<Self>,
        mut queue: mpsc::UnboundedReceiver<OwnedMessage>,
        lane: Arc<LaneState>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        while let Some(first) = queue.recv().await {
            let mut batch = vec![first];
            while batch.len() < LANE_BATCH {
                match queue.try_recv() {
                    Ok(message) => batch.push(message),
                    Err(_) => break,
                }
            }
            lane.queued.fetch_sub(batch.len(), Ordering::SeqCst);
            if lane.is_stopped() || *shutdown.borrow() {
                break;
            }
            let finished = self.process_batch(&batch, &lane, &mut shutdown).await;
            let stored = match (finished, batch.last()) {
                (true, Some(last)) => {
                    self.consumer
                        .store_offset(last.topic(), last.partition(), last.offset())
                }
                _ => Ok(()),
            };
            if let Err(e) = stored {
                tracing::info!(error = %e, "offset not stored (partition revoked?); the batch may be redelivered");
            }
            if !finished {
                break;
            }
            lane.set_paused(&self.consumer, &self.status, false);
        }
    }

    /// Handles a batch to the end: each event's effect made, skipped as a duplicate
    /// or dead-lettered. Keys are handled concurrently, each key's events in order.
    /// Returns `false` if shutdown or revocation interrupted it.
    async fn process_batch(
        &self,
        batch: &[OwnedMessage],
        lane: &LaneState,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let Some(events) = self.decode_batch(batch, lane, shutdown).await else {
            return false;
        };
        if events.is_empty() {
            return true;
        }
        let ids: Vec<uuid::Uuid> = events.iter().map(|(_, e)| e.event_id).collect();
        let Some(states) = self.settled_states(&ids, lane, shutdown).await else {
            return false;
        };
        let todo = self.to_do(events, &states);
        let unclaimed: Vec<uuid::Uuid> = todo
            .iter()
            .map(|(_, e)| e.event_id)
            .filter(|id| !states.contains_key(id))
            .collect();
        let mut attempt = 0u32;
        while let Err(e) = processed::claim(&self.db, &self.config.name, &unclaimed).await {
            tracing::warn!(error = %e, "cannot claim events in processed_events; retrying");
            if !self.backoff(attempt, lane, shutdown).await {
                return false;
            }
            attempt = attempt.saturating_add(1);
        }
        self.make_effects(todo, lane, shutdown).await
    }

    /// The batch's events, each once; undecodable messages are dead-lettered on the
    /// way. `None` when the lane was stopped meanwhile.
    async fn decode_batch<'m>(
        &self,
        batch: &'m [OwnedMessage],
        lane: &LaneState,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Vec<(&'m OwnedMessage, EventEnvelope)>> {
        let mut events = Vec::with_capacity(batch.len());
        let mut seen = HashSet::new();
        for message in batch {
            match parse_envelope(message.payload().unwrap_or_default()) {
                Ok(event) if seen.insert(event.event_id) => events.push((message, event)),
                Ok(_) => {
                    // The same event twice in one batch (a republish).
                    self.status.duplicates.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    let reason = format!("undecodable: {e}");
                    if !self
                        .dead_letter(message, None, &reason, lane, shutdown)
                        .await
                    {
                        return None;
                    }
                }
            }
        }
        Some(events)
    }

    /// The recorded states of `ids` once none is in flight elsewhere. A database
    /// outage must not turn into a second effect: wait for it. So must a claim
    /// another lane may still be working on (its partition just moved): wait until
    /// it is done or its lease has run out. `None` when the lane was stopped.
    async fn settled_states(
        &self,
        ids: &[uuid::Uuid],
        lane: &LaneState,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<HashMap<uuid::Uuid, ClaimState>> {
        let name = self.config.name.as_str();
        let mut attempt = 0u32;
        loop {
            let wait = match processed::states(&self.db, name, ids).await {
                Ok(states) if !states.values().any(|s| *s == ClaimState::InFlight) => {
                    return Some(states);
                }
                Ok(_) => {
                    tracing::info!(
                        consumer = name,
                        "events claimed moments ago by another lane; waiting for their claims"
                    );
                    IN_FLIGHT_POLL
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read processed_events; retrying");
                    attempt = attempt.saturating_add(1);
                    self.backoff_delay(attempt - 1)
                }
            };
            if !Self::wait(wait, lane, shutdown).await {
                return None;
            }
        }
    }

    /// The events whose effect is still to be made: done ones are skipped (counted as
    /// duplicates), ones claimed by a consumer that stopped mid-effect are made again.
    fn to_do<'m>(
        &self,
        events: Vec<(&'m OwnedMessage, EventEnvelope)>,
        states: &HashMap<uuid::Uuid, ClaimState>,
    ) -> Vec<(&'m OwnedMessage, EventEnvelope)> {
        let mut todo = Vec::with_capacity(events.len());
        for (message, event) in events {
            match states.get(&event.event_id) {
                Some(ClaimState::Done) => {
                    self.status.duplicates.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(event_id = %event.event_id, "duplicate event skipped");
                }
                Some(ClaimState::Claimed | ClaimState::InFlight) => {
                    self.status.uncertain.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(event_id = %event.event_id,
                        "event was claimed by a consumer that stopped mid-effect; making the effect again");
                    todo.push((message, event));
                }
                None => todo.push((message, event)),
            }
        }
        todo
    }
}
