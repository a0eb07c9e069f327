//! Where the relay publishes: Kafka in every process, or an in-memory recorder in
//! the in-process test tier.
//!
//! The relay only needs two things of a broker: publish one message and wait for its
//! acknowledgement, and answer whether it is reachable. [`Publisher`] is exactly that,
//! so the relay's invariants (one batch at a time, rows marked published in the same
//! transaction, refusals counted per row) run unchanged against either.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::future::BoxFuture;
use rdkafka::{
    error::KafkaError,
    producer::{FutureProducer, FutureRecord},
    types::RDKafkaErrorCode,
};
use tokio::sync::Notify;

/// Why one message was not published.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PublishError {
    /// The broker's words.
    pub message: String,
    /// The broker refused this message itself (too large, unknown topic...): sending
    /// it again as it is will not help. `false` when the broker could not be reached.
    pub refused: bool,
}

/// A message broker as the relay uses it.
pub trait Publisher: Send + Sync {
    /// Publishes `payload` under `key` to `topic`; resolves once acknowledged.
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        key: &'a str,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<(), PublishError>>;

    /// Whether the broker answers within `timeout`.
    fn reachable(&self, timeout: Duration) -> BoxFuture<'_, Result<(), String>>;
}

/// Kafka, through the outbox producer (`kafka::producer`).
pub struct KafkaPublisher(pub FutureProducer);

/// Whether a produce error is about the message itself (the broker will refuse it
/// however often it is sent), not about reaching the broker.
fn refuses_the_message(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::MessageBatchTooLarge
                | RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::BadMessage
        )
    )
}

impl Publisher for KafkaPublisher {
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        key: &'a str,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<(), PublishError>> {
        Box::pin(async move {
            let record = FutureRecord::to(topic).key(key).payload(payload);
            match self.0.send(record, Duration::from_secs(5)).await {
                Ok(_) => Ok(()),
                Err((e, _)) => Err(PublishError {
                    refused: refuses_the_message(&e),
                    message: e.to_string(),
                }),
            }
        })
    }

    fn reachable(&self, timeout: Duration) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(crate::kafka::broker_reachable(&self.0, timeout))
    }
}

/// One message a [`RecordingPublisher`] took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The topic.
    pub topic: String,
    /// The message key.
    pub key: String,
    /// The payload (an `EventEnvelope` as JSON).
    pub payload: String,
}

/// An in-memory broker for the in-process test tier only: it acknowledges every
/// message and keeps it. No process of the stack uses it.
#[derive(Default)]
pub struct RecordingPublisher {
    messages: Mutex<Vec<Recorded>>,
    arrived: Notify,
}

impl RecordingPublisher {
    /// An empty recorder.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Every message taken so far, in order.
    pub fn messages(&self) -> Vec<Recorded> {
        self.messages.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Waits until a message matching `wanted` has arrived (or `timeout` passed) and
    /// returns the first such message.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        wanted: impl Fn(&Recorded) -> bool,
    ) -> Option<Recorded> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.arrived.notified();
            if let Some(found) = self.messages().into_iter().find(|m| wanted(m)) {
                return Some(found);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }
}

impl Publisher for RecordingPublisher {
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        key: &'a str,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<(), PublishError>> {
        if let Ok(mut messages) = self.messages.lock() {
            messages.push(Recorded {
                topic: topic.to_owned(),
                key: key.to_owned(),
                payload: payload.to_owned(),
            });
        }
        self.arrived.notify_waiters();
        Box::pin(async { Ok(()) })
    }

    fn reachable(&self, _timeout: Duration) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}
