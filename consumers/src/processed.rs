//! The `processed_events` log: which consumer has made the effect of which event.
//!
//! Invariant: a row is written only after (or in the same transaction as) the effect,
//! so a redelivered event whose row exists has nothing left to do. Dead-lettered
//! messages are recorded here too, after their `.dlq` write.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use uuid::Uuid;

/// Whether `consumer` has already handled `event_id`.
pub async fn is_processed(
    db: &impl ConnectionTrait,
    consumer: &str,
    event_id: Uuid,
) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 AS one FROM processed_events WHERE consumer = $1 AND event_id = $2",
            [consumer.into(), event_id.into()],
        ))
        .await?;
    Ok(row.is_some())
}

/// Records that `consumer` handled `event_id`; recording twice is harmless. Returns
/// `false` when it was already recorded.
pub async fn mark_processed(
    db: &impl ConnectionTrait,
    consumer: &str,
    event_id: Uuid,
) -> Result<bool, DbErr> {
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
            [consumer.into(), event_id.into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Where a dead-lettered message came from, and why.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetter<'a> {
    /// The consumer that gave up.
    pub consumer: &'a str,
    /// Topic, partition and offset of the original message.
    pub topic: &'a str,
    /// Partition of the original message.
    pub partition: i32,
    /// Offset of the original message.
    pub offset: i64,
    /// The event id, when the message could be decoded.
    pub event_id: Option<Uuid>,
    /// Why it was dead-lettered.
    pub reason: &'a str,
}

/// Records a dead-lettered message once, however often it is dead-lettered.
pub async fn record_dead_letter(
    db: &impl ConnectionTrait,
    letter: DeadLetter<'_>,
) -> Result<(), DbErr> {
    // PostgreSQL text cannot hold NUL, and the reason may quote the message itself.
    let reason: String = letter
        .reason
        .chars()
        .filter(|c| *c != '\0')
        .take(2000)
        .collect();
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO dead_letters
             (consumer, original_topic, original_partition, original_offset, event_id, reason)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT DO NOTHING",
        [
            letter.consumer.into(),
            letter.topic.into(),
            letter.partition.into(),
            letter.offset.into(),
            letter.event_id.into(),
            reason.into(),
        ],
    ))
    .await?;
    Ok(())
}
