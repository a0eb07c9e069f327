//! The consumer runner against the real Kafka-protocol broker and PostgreSQL of the
//! running stack: events are handled once, offsets are committed, undecodable
//! messages land in the dead-letter topic and the consumer keeps going.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use api::events::{EventEnvelope, dlq_topic};
use consumers::runner::{HandleError, Handler, Runner, RunnerConfig};
use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer, StreamConsumer},
    producer::{FutureProducer, FutureRecord},
};
use serde_json::json;
use uuid::Uuid;

#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Uuid>>>,
    fail_first: Arc<Mutex<bool>>,
}

impl Handler for Recorder {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandleError> {
        {
            let mut fail = self
                .fail_first
                .lock()
                .map_err(|e| HandleError::Permanent(anyhow::anyhow!("{e}")))?;
            if *fail {
                *fail = false;
                return Err(HandleError::Transient(anyhow::anyhow!("simulated outage")));
            }
        }
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(event.event_id);
        }
        Ok(())
    }
}

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).map_err(|_| anyhow::anyhow!("{name} must be set (scripts/test.sh sets it)"))
}

fn event() -> EventEnvelope {
    EventEnvelope {
        event_id: Uuid::now_v7(),
        event_type: "test-event".into(),
        version: 1,
        occurred_at: chrono::Utc::now(),
        request_id: Some("runner-test".into()),
        payload: json!({ "n": 1 }),
    }
}

async fn send(producer: &FutureProducer, topic: &str, payload: &[u8]) -> anyhow::Result<()> {
    producer
        .send(
            FutureRecord::to(topic).key("k").payload(payload),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| anyhow::anyhow!("produce: {e}"))?;
    Ok(())
}

async fn eventually<F: Fn() -> bool>(what: &str, check: F) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while !check() {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test]
async fn events_are_handled_once_offsets_committed_and_garbage_dead_lettered() -> anyhow::Result<()>
{
    let brokers = env("KAFKA_BROKERS")?;
    let db = api::startup::database(&env("DATABASE_URL")?, 2)?;
    let suffix = Uuid::new_v4().simple().to_string();
    let topic = format!("runner-test-{suffix}");
    let group = format!("runner-test-{suffix}");
    api::kafka::ensure_topics(&brokers, &[topic.clone(), dlq_topic(&topic)], 1).await?;

    let producer = api::kafka::producer(&brokers)?;
    let (first, second) = (event(), event());
    send(&producer, &topic, &serde_json::to_vec(&first)?).await?;
    send(&producer, &topic, b"this is not an event").await?;
    send(&producer, &topic, &serde_json::to_vec(&second)?).await?;
    // The same event again, as a redelivery would bring it.
    send(&producer, &topic, &serde_json::to_vec(&first)?).await?;

    let recorder = Recorder {
        fail_first: Arc::new(Mutex::new(true)),
        ..Recorder::default()
    };
    let runner = Runner::new(
        RunnerConfig {
            name: group.clone(),
            topics: vec![topic.clone()],
            brokers: brokers.clone(),
            max_attempts: 3,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
        },
        db,
        recorder.clone(),
    )?;
    let status = runner.status();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(runner.run(stop_rx));

    let seen = recorder.seen.clone();
    eventually("both events handled and the duplicate skipped", || {
        status.duplicates.load(std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await?;
    assert_eq!(
        *seen.lock().map_err(|e| anyhow::anyhow!("{e}"))?,
        vec![first.event_id, second.event_id]
    );
    assert_eq!(
        status
            .dead_lettered
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(status.retries.load(std::sync::atomic::Ordering::SeqCst), 1);

    let _ = stop_tx.send(true);
    task.await??;

    // The group's committed offset is past all four messages.
    let checker: BaseConsumer = api::kafka::client_config(&brokers)
        .set("group.id", &group)
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&topic, 0);
    let committed = checker.committed_offsets(tpl, Duration::from_secs(10))?;
    let offset = committed.find_partition(&topic, 0).map(|p| p.offset());
    assert_eq!(offset, Some(Offset::Offset(4)));

    // The garbage is in the dead-letter topic, with the reason.
    let dlq: StreamConsumer = api::kafka::client_config(&brokers)
        .set("group.id", format!("{group}-dlq-reader"))
        .set("auto.offset.reset", "earliest")
        .create()?;
    dlq.subscribe(&[&dlq_topic(&topic)])?;
    let message = tokio::time::timeout(Duration::from_secs(90), dlq.recv()).await??;
    assert_eq!(message.payload(), Some(&b"this is not an event"[..]));
    let reason = rdkafka::message::Headers::iter(
        message
            .headers()
            .ok_or_else(|| anyhow::anyhow!("no headers"))?,
    )
    .find(|h| h.key == "dlq-reason")
    .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()));
    assert!(reason.is_some_and(|r| r.contains("undecodable")));
    Ok(())
}
