//! The group's lag, measured beside the consumer on a blocking thread.

use std::{sync::atomic::Ordering, time::Duration};

use rdkafka::{
    Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
};
use tokio::sync::watch;

use super::{RunnerConfig, RunnerStatus};

/// Measures the group's lag every 5 s until shutdown, on a blocking thread: a
/// group-less view (the same `group.id`, never subscribed, so it does not join) reads
/// the committed offsets and the high watermarks from the broker.
pub(super) fn watch_lag(
    config: &RunnerConfig,
    status: &RunnerStatus,
    shutdown: &watch::Receiver<bool>,
) {
    // -1 until measured: 0 would look like a healthy consumer.
    status.lag.store(-1, Ordering::Relaxed);
    let client: BaseConsumer = match shop_common::kafka::client_config(&config.brokers)
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
