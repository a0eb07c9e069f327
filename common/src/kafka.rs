//! Kafka plumbing shared by the API and the consumers: client configuration, topic
//! creation and the broker health check.

use std::time::Duration;

use anyhow::Context;
use rdkafka::{
    ClientConfig, Message, Offset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer},
    error::RDKafkaErrorCode,
    producer::{FutureProducer, FutureRecord},
};

use crate::events::{TOPICS, dlq_topic};

/// Partitions per topic: the most consumer instances of one group that can share the
/// work. Documented in the README; more instances than this sit idle.
pub const PARTITIONS: i32 = 6;

/// A client configuration for `brokers`.
pub fn client_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("socket.timeout.ms", "10000")
        .set("log.connection.close", "false");
    // librdkafka's own debug contexts (`cgrp`, `fetch`, `all`...), for an operator
    // chasing a broker problem; its lines go to the process log.
    if let Ok(debug) = std::env::var("KAFKA_DEBUG")
        && !debug.is_empty()
    {
        config.set("debug", debug);
    }
    config
}

/// The producer: `acks=all`, one request in flight per connection (so a retry never
/// reorders a partition), retried until `message.timeout.ms`.
///
/// Not idempotent, on purpose. After a message times out (a broker frozen longer than
/// the timeout), librdkafka's idempotent producer bumps its producer epoch locally,
/// without asking the broker; tansu 0.6's sqlite storage has no row for that epoch and
/// panics (`more or less than one row` in `Delegate::idempotent_message_check`), after
/// which the broker closes every connection. Without idempotence the producer sends no
/// producer id and that path never runs. A retry after a lost acknowledgement may then
/// write a message twice: every consumer dedupes by `event_id` (`processed_events`),
/// which is what makes effects exactly-once in any case.
pub fn producer(brokers: &str) -> anyhow::Result<FutureProducer> {
    client_config(brokers)
        .set("enable.idempotence", "false")
        .set("max.in.flight.requests.per.connection", "1")
        .set("acks", "all")
        .set("message.timeout.ms", "30000")
        .set("linger.ms", "5")
        .create()
        .context("creating the Kafka producer")
}

/// Whether the broker answers a metadata request within `timeout`.
pub async fn broker_reachable(producer: &FutureProducer, timeout: Duration) -> Result<(), String> {
    let producer = producer.clone();
    tokio::task::spawn_blocking(move || {
        use rdkafka::producer::Producer;
        producer
            .client()
            .fetch_metadata(None, timeout)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// The topic of the broker probe's canary messages (one partition).
pub const CANARY_TOPIC: &str = "shop-canary";

/// Proves the broker works end to end, the way the pipeline uses it: produces a
/// canary message with `acks=all` and consumes that very message back (a metadata
/// answer alone is not proof: a broker whose storage task died still answers it).
/// Returns how long the round trip took.
pub async fn probe(brokers: &str, timeout: Duration) -> anyhow::Result<Duration> {
    let started = std::time::Instant::now();
    let run = async {
        ensure_topics(brokers, &[CANARY_TOPIC.to_owned()], 1).await?;
        let producer: FutureProducer = client_config(brokers)
            .set("enable.idempotence", "false")
            .set("acks", "all")
            .set("message.timeout.ms", timeout.as_millis().to_string())
            .create()
            .context("creating the probe producer")?;
        let token = uuid::Uuid::new_v4().to_string();
        let delivery = producer
            .send(
                FutureRecord::to(CANARY_TOPIC).key("canary").payload(&token),
                timeout,
            )
            .await
            .map_err(|(e, _)| anyhow::anyhow!("producing the canary: {e}"))?;
        let brokers = brokers.to_owned();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let consumer: BaseConsumer = client_config(&brokers)
                .set("group.id", "shop-canary-probe")
                .set("enable.auto.commit", "false")
                .create()
                .context("creating the probe consumer")?;
            let mut at = TopicPartitionList::new();
            at.add_partition_offset(
                CANARY_TOPIC,
                delivery.partition,
                Offset::Offset(delivery.offset),
            )?;
            consumer.assign(&at)?;
            let deadline = std::time::Instant::now() + timeout;
            while std::time::Instant::now() < deadline {
                match consumer.poll(Duration::from_millis(200)) {
                    Some(Ok(m)) if m.payload() == Some(token.as_bytes()) => return Ok(()),
                    Some(Err(e)) => tracing::debug!(error = %e, "probe consumer"),
                    _ => {}
                }
            }
            anyhow::bail!("the canary was produced but not consumed back")
        })
        .await
        .context("probe consumer task")?
    };
    tokio::time::timeout(timeout, run).await.map_err(|_| {
        anyhow::anyhow!("the broker did not produce and consume a canary within {timeout:?}")
    })??;
    Ok(started.elapsed())
}

/// Creates every topic of the system and its dead-letter twin; existing ones are kept.
pub async fn create_topics(brokers: &str) -> anyhow::Result<()> {
    let mut names: Vec<String> = Vec::new();
    for topic in TOPICS {
        names.push((*topic).to_owned());
        names.push(dlq_topic(topic));
    }
    ensure_topics(brokers, &names, PARTITIONS).await
}

/// Creates `names` with `partitions` each unless they exist.
pub async fn ensure_topics(brokers: &str, names: &[String], partitions: i32) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(brokers)
        .create()
        .context("creating the Kafka admin client")?;
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(&topics, &options)
        .await
        .context("creating Kafka topics")?;
    for result in results {
        match result {
            Ok(name) => tracing::info!(topic = %name, partitions, "topic created"),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                tracing::info!(topic = %name, "topic exists");
            }
            Err((name, code)) => anyhow::bail!("creating topic {name}: {code}"),
        }
    }
    Ok(())
}
