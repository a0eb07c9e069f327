//! Rewinding a partition whose read position is past the end of the broker's log.
//!
//! A broker that lost its data starts its logs again at offset 0, while the group
//! still holds (and commits) the offsets of the old logs. Kafka answers such a fetch
//! with `OFFSET_OUT_OF_RANGE` and the consumer resets to `auto.offset.reset`; a broker
//! that does not (tansu, seen here) leaves the group waiting at the old offset, and
//! every event the new log holds below it is skipped for good. Every 5 s this checks
//! each assigned partition, and seeks one whose position was past the log's end at two
//! checks in a row (at the same position: a watermark read a moment early is not a
//! lost log) back to its beginning. Reading again is safe: every effect is
//! deduplicated by event id (`processed_events`).

use std::{collections::HashMap, time::Duration};

use rdkafka::{
    Offset,
    consumer::{Consumer, ConsumerContext, StreamConsumer},
};
use tokio::sync::watch;

/// Checks the positions every 5 s until shutdown (on a blocking thread: the checks
/// ask the broker synchronously).
pub(super) fn watch_positions<C: ConsumerContext + 'static>(
    consumer: &StreamConsumer<C>,
    shutdown: &watch::Receiver<bool>,
) {
    let timeout = Duration::from_secs(2);
    let mut suspects = HashMap::new();
    while !*shutdown.borrow() {
        suspects = rewind_past_end(consumer, timeout, &suspects);
        for _ in 0..20 {
            if *shutdown.borrow() {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// The offset to read `topic`/`partition` from: the fetch position, or the committed
/// offset before the first fetch.
fn read_offset(
    offset: Offset,
    committed: Option<&rdkafka::TopicPartitionList>,
    topic: &str,
    partition: i32,
) -> Option<i64> {
    if let Offset::Offset(at) = offset {
        return Some(at);
    }
    match committed?.find_partition(topic, partition)?.offset() {
        Offset::Offset(at) => Some(at),
        _ => None,
    }
}

/// One check: rewinds the partitions past the log's end now and at the last check
/// (`suspects`, at the same position); returns this check's suspects.
fn rewind_past_end<C: ConsumerContext + 'static>(
    consumer: &StreamConsumer<C>,
    timeout: Duration,
    suspects: &HashMap<(String, i32), i64>,
) -> HashMap<(String, i32), i64> {
    let mut past_end = HashMap::new();
    let Ok(positions) = consumer.position() else {
        return past_end;
    };
    let committed = consumer.committed(timeout).ok();
    for tp in positions.elements() {
        let (topic, partition) = (tp.topic(), tp.partition());
        let Some(at) = read_offset(tp.offset(), committed.as_ref(), topic, partition) else {
            continue;
        };
        let Ok((_, end)) = consumer.fetch_watermarks(topic, partition, timeout) else {
            continue;
        };
        if at <= end {
            continue;
        }
        let key = (topic.to_owned(), partition);
        if suspects.get(&key) != Some(&at) {
            past_end.insert(key, at);
            continue;
        }
        tracing::warn!(
            topic,
            partition,
            position = at,
            log_end = end,
            "read position past the end of the broker's log (the broker lost its data?); reading the partition again from its beginning"
        );
        if let Err(e) = consumer.seek(topic, partition, Offset::Beginning, timeout) {
            tracing::warn!(topic, partition, error = %e, "cannot rewind the partition; trying again in 5 s");
        }
    }
    past_end
}
