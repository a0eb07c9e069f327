//! Making the effects of one lane's batch: each key's events in order, keys
//! concurrently, every effect recorded done right after it is made.

use std::{collections::HashMap, sync::atomic::Ordering};

use futures_util::StreamExt;
use rdkafka::message::{Message, OwnedMessage};
use shop_common::events::EventEnvelope;
use tokio::sync::watch;
use tracing::Instrument;

use super::{HandleError, Handler, Runner, lane::LaneState};
use crate::processed;

impl<H: Handler> Runner<H> {
    /// Makes the effects of `todo`: each key's events in order, keys concurrently (at
    /// most `concurrency` at once). False when one could not be made or recorded.
    pub(super) async fn make_effects(
        &self,
        todo: Vec<(&OwnedMessage, EventEnvelope)>,
        lane: &LaneState,
        shutdown: &watch::Receiver<bool>,
    ) -> bool {
        let mut groups: Vec<Vec<(&OwnedMessage, EventEnvelope)>> = Vec::new();
        let mut by_key: HashMap<Option<&[u8]>, usize> = HashMap::new();
        for (message, event) in todo {
            let group = *by_key.entry(message.key()).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[group].push((message, event));
        }
        // Boxed, and built in a loop rather than by a closure: the lane's task must be
        // `Send` for every lifetime, which a closure over borrowed messages defeats.
        let mut effects: Vec<futures_util::future::BoxFuture<'_, bool>> =
            Vec::with_capacity(groups.len());
        for group in groups {
            let mut shutdown = shutdown.clone();
            effects.push(Box::pin(async move {
                for (message, event) in group {
                    if !self.make_effect(message, &event, lane, &mut shutdown).await {
                        return false;
                    }
                }
                true
            }));
        }
        let results: Vec<bool> = futures_util::stream::iter(effects)
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await;
        results.into_iter().all(|ok| ok)
    }

    /// Makes one claimed event's effect, retrying transient failures, and records it
    /// done at once; dead-letters it when it cannot be made.
    async fn make_effect(
        &self,
        message: &OwnedMessage,
        event: &EventEnvelope,
        lane: &LaneState,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let name = self.config.name.as_str();
        let span = tracing::info_span!("event", consumer = name, event_id = %event.event_id,
            event_type = %event.event_type, request_id = event.request_id.as_deref().unwrap_or(""));
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if attempt > 1 {
                // Keeps other lanes off the event while this one still works on it.
                if let Err(e) = processed::renew(&self.db, name, event.event_id).await {
                    tracing::warn!(error = %e, event_id = %event.event_id, "cannot renew a claim");
                }
            }
            let reason = match self.handler.handle(event).instrument(span.clone()).await {
                Ok(()) => break,
                Err(HandleError::Permanent(e)) => format!("{e:#}"),
                Err(HandleError::Transient(e)) if attempt >= self.config.max_attempts => {
                    tracing::error!(event_id = %event.event_id, attempt, error = %format!("{e:#}"), "giving up");
                    format!("after {attempt} attempts: {e:#}")
                }
                Err(HandleError::Transient(e)) => {
                    self.status.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(event_id = %event.event_id, attempt, error = %format!("{e:#}"), "handler failed; retrying");
                    if !self.backoff(attempt - 1, lane, shutdown).await {
                        return false;
                    }
                    continue;
                }
            };
            if !self
                .dead_letter(message, Some(event.event_id), &reason, lane, shutdown)
                .await
            {
                return false;
            }
            // Not made: a replay must find it unclaimed, not in the crash window.
            if let Err(e) = processed::release(&self.db, name, event.event_id).await {
                tracing::warn!(error = %e, event_id = %event.event_id, "cannot release the claim of a dead-lettered event");
            }
            return true;
        }
        let mut attempt = 0u32;
        while let Err(e) = processed::mark_done(&self.db, name, event.event_id).await {
            tracing::warn!(error = %e, "cannot record the processed event; retrying");
            if !self.backoff(attempt, lane, shutdown).await {
                return false;
            }
            attempt = attempt.saturating_add(1);
        }
        self.status.handled.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(event_id = %event.event_id, event_type = %event.event_type, "event handled");
        true
    }
}
