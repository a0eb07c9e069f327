//! The consumer runner against the real Kafka-protocol broker and PostgreSQL of the
//! running stack: events are handled once, offsets are committed, undecodable
//! messages land in the dead-letter topic and the consumer keeps going.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use consumers::runner::{HandleError, Handler, Runner, RunnerConfig};
use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer, StreamConsumer},
    producer::{FutureProducer, FutureRecord},
};
use serde_json::json;
use shop_common::events::{EventEnvelope, dlq_topic};
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

/// The runner's log (and librdkafka's, with `KAFKA_DEBUG=cgrp`) on the test's output
/// when `RUST_LOG` asks for it.
fn trace() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_handled_once_offsets_committed_and_garbage_dead_lettered() -> anyhow::Result<()>
{
    trace();
    let brokers = env("KAFKA_BROKERS")?;
    let db = shop_common::db::database(&env("DATABASE_URL")?, 2).await?;
    let suffix = Uuid::new_v4().simple().to_string();
    let topic = format!("runner-test-{suffix}");
    let group = format!("runner-test-{suffix}");
    shop_common::kafka::ensure_topics(&brokers, &[topic.clone(), dlq_topic(&topic)], 1).await?;

    let producer = shop_common::kafka::producer(&brokers)?;
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
            concurrency: 4,
            session_timeout: Duration::from_secs(15),
        },
        db,
        recorder.clone(),
    )?;
    let status = runner.status();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(runner.run(stop_rx));

    let seen = recorder.seen.clone();
    eventually("both events handled and the duplicate skipped", || {
        status.handled.load(std::sync::atomic::Ordering::SeqCst) == 2
            && status.duplicates.load(std::sync::atomic::Ordering::SeqCst) == 1
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
    let checker: BaseConsumer = shop_common::kafka::client_config(&brokers)
        .set("group.id", &group)
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&topic, 0);
    let committed = checker.committed_offsets(tpl, Duration::from_secs(10))?;
    let offset = committed.find_partition(&topic, 0).map(|p| p.offset());
    assert_eq!(offset, Some(Offset::Offset(4)));

    // The garbage is in the dead-letter topic, with the reason.
    let dlq: StreamConsumer = shop_common::kafka::client_config(&brokers)
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

/// A handler that fails transiently for one key while `failing` is set, and counts
/// the effects it made per event.
#[derive(Default)]
struct Flaky {
    failing: AtomicBool,
    stuck_attempts: AtomicU64,
    made: Mutex<HashMap<Uuid, u32>>,
}

struct FlakyHandler(Arc<Flaky>);

impl Handler for FlakyHandler {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandleError> {
        if event.payload["stuck"] == true {
            self.0.stuck_attempts.fetch_add(1, Ordering::SeqCst);
            if self.0.failing.load(Ordering::SeqCst) {
                return Err(HandleError::Transient(anyhow::anyhow!("refused for now")));
            }
        }
        let mut made = self.0.made.lock().unwrap_or_else(|e| e.into_inner());
        *made.entry(event.event_id).or_default() += 1;
        Ok(())
    }
}

fn envelope(stuck: bool, n: usize) -> (Uuid, String) {
    let id = Uuid::new_v4();
    let body = serde_json::json!({
        "event_id": id, "type": "test", "version": 1,
        "occurred_at": chrono::Utc::now(), "payload": {"stuck": stuck, "n": n}
    });
    (id, body.to_string())
}

async fn wait_for(what: &str, within: Duration, check: impl Fn() -> bool) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    while !check() {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{what} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_whose_head_message_keeps_failing_holds_back_only_itself() -> anyhow::Result<()>
{
    trace();
    let brokers = env("KAFKA_BROKERS")?;
    let name = format!("lanes-test-{}", Uuid::new_v4().simple());
    shop_common::kafka::ensure_topics(&brokers, std::slice::from_ref(&name), 3).await?;
    let flaky = Arc::new(Flaky::default());
    flaky.failing.store(true, Ordering::SeqCst);
    let db = sea_orm::Database::connect(env("DATABASE_URL")?).await?;
    let runner = Runner::new(
        RunnerConfig {
            name: name.clone(),
            topics: vec![name.clone()],
            brokers: brokers.clone(),
            max_attempts: 10_000,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            concurrency: 4,
            session_timeout: Duration::from_secs(15),
        },
        db.clone(),
        FlakyHandler(flaky.clone()),
    )?;
    let status = runner.status();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(runner.run(stop_rx));
    wait_for(
        "the group assigns partitions",
        Duration::from_secs(60),
        || status.joined.load(Ordering::SeqCst),
    )
    .await?;

    // Partition 0: a message that keeps failing, then 400 behind it (past the lane's
    // high-water mark, so its partition is paused). Partitions 1 and 2: 100 others.
    let producer: FutureProducer = shop_common::kafka::producer(&brokers)?;
    let mut on_zero = Vec::new();
    let mut elsewhere = Vec::new();
    let (stuck, body) = envelope(true, 0);
    producer
        .send(
            FutureRecord::to(&name)
                .partition(0)
                .key("stuck")
                .payload(&body),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)?;
    for n in 0..400 {
        let (id, body) = envelope(false, n);
        on_zero.push(id);
        let key = format!("zero-{n}");
        producer
            .send(
                FutureRecord::to(&name)
                    .partition(0)
                    .key(&key)
                    .payload(&body),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)?;
    }
    for n in 0..100 {
        let (id, body) = envelope(false, n);
        elsewhere.push(id);
        let key = format!("other-{n}");
        producer
            .send(
                FutureRecord::to(&name)
                    .partition(1 + (n % 2) as i32)
                    .key(&key)
                    .payload(&body),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)?;
    }
    let made = |ids: &[Uuid]| {
        let made = flaky.made.lock().unwrap_or_else(|e| e.into_inner());
        ids.iter().filter(|id| made.contains_key(id)).count()
    };
    let outcome = async {
        wait_for(
            "the other partitions' 100 events while partition 0 is stuck",
            Duration::from_secs(60),
            || made(&elsewhere) == elsewhere.len(),
        )
        .await?;
        assert_eq!(
            made(&[stuck]),
            0,
            "the stuck event cannot have been made yet"
        );
        assert!(
            flaky.stuck_attempts.load(Ordering::SeqCst) > 1,
            "it is being retried"
        );
        wait_for(
            "partition 0 paused behind its full lane",
            Duration::from_secs(30),
            || status.paused.load(Ordering::Relaxed) == 1,
        )
        .await?;

        flaky.failing.store(false, Ordering::SeqCst);
        wait_for(
            "every event once the fault clears",
            Duration::from_secs(60),
            || made(&on_zero) == on_zero.len() && made(&[stuck]) == 1,
        )
        .await?;
        wait_for("partition 0 resumed", Duration::from_secs(10), || {
            status.paused.load(Ordering::Relaxed) == 0
        })
        .await?;
        let counts = flaky.made.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let twice: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
        assert!(twice.is_empty(), "effects made more than once: {twice:?}");
        assert_eq!(counts.len(), 501);
        anyhow::Ok(())
    }
    .await;
    let _ = stop.send(true);
    running.await??;
    {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "DELETE FROM processed_events WHERE consumer = $1",
            [name.clone().into()],
        ))
        .await?;
    }
    outcome
}
