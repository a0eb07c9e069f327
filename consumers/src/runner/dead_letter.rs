//! Writing a message the consumer gives up on to its dead-letter topic.

use std::{sync::atomic::Ordering, time::Duration};

use rdkafka::{
    Message,
    message::{Header, OwnedHeaders, OwnedMessage},
    producer::FutureRecord,
};
use shop_common::events::dlq_topic;
use tokio::sync::watch;
use uuid::Uuid;

use super::{Handler, Runner, lane::LaneState};
use crate::processed::{self, DeadLetter};

impl<H: Handler> Runner<H> {
    /// Writes the message to `<topic>.dlq` with the reason in headers, retrying until
    /// the broker takes it, then records it in `dead_letters` (retrying until
    /// PostgreSQL takes it). Returns `false` if shutdown interrupted it: the offset is
    /// not stored, so the message comes back and is counted once.
    pub(super) async fn dead_letter(
        &self,
        message: &OwnedMessage,
        event_id: Option<Uuid>,
        reason: &str,
        lane: &LaneState,
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
                    if !self.backoff(attempt, lane, shutdown).await {
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
            if !self.backoff(attempt, lane, shutdown).await {
                return false;
            }
            attempt = attempt.saturating_add(1);
        }
        self.status.dead_lettered.fetch_add(1, Ordering::Relaxed);
        tracing::error!(dlq = %topic, reason, original_offset = %offset, "message dead-lettered");
        true
    }
}
