//! Sending events again: dead letters and parked rows after their cause is fixed,
//! and everything since a time after a broker lost its data. The consumers' dedupe by
//! `event_id` makes both safe.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};
/// What a replay sends again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Replayed {
    /// Events of dead letters, published again.
    pub dead_letters: u64,
    /// Parked outbox rows, given a new set of attempts.
    pub parked: u64,
}

/// Sends the events of dead letters not yet replayed back through the outbox (all
/// consumers, or only `consumer`'s; every event, or only `event`), and marks those
/// dead letters replayed; with no `consumer`, also unparks parked outbox rows (every
/// one, or only `event`). One transaction: a dead letter is replayed once. Safe
/// because every consumer dedupes by `event_id`: a consumer that handled the event
/// already skips it; the one that dead-lettered it tries again.
pub async fn replay_dead_letters(
    db: &DatabaseConnection,
    consumer: Option<&str>,
    event: Option<uuid::Uuid>,
) -> Result<Replayed, DbErr> {
    let txn = db.begin().await?;
    let dead_letters = txn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "WITH letters AS (
                 UPDATE dead_letters SET replayed_at = now()
                 WHERE replayed_at IS NULL AND event_id IS NOT NULL
                   AND ($1::text IS NULL OR consumer = $1)
                   AND ($2::uuid IS NULL OR event_id = $2)
                 RETURNING event_id)
             UPDATE outbox SET published_at = NULL, last_error = NULL
             WHERE event_id IN (SELECT event_id FROM letters) AND failed_at IS NULL",
            [consumer.map(str::to_owned).into(), event.into()],
        ))
        .await?
        .rows_affected();
    let parked = if consumer.is_none() {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE outbox SET failed_at = NULL, attempts = 0, next_attempt_at = now()
             WHERE failed_at IS NOT NULL AND ($1::uuid IS NULL OR event_id = $1)",
            [event.into()],
        ))
        .await?
        .rows_affected()
    } else {
        0
    };
    txn.commit().await?;
    Ok(Replayed {
        dead_letters,
        parked,
    })
}

/// Marks every event published at or after `since` unpublished, so the relay
/// publishes it again (in id order); returns how many. For a broker that lost its
/// data: the consumers skip what they had handled and handle the rest once.
pub async fn republish_since(
    db: &DatabaseConnection,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<u64, DbErr> {
    Ok(db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE outbox SET published_at = NULL, next_attempt_at = now()
             WHERE published_at >= $1",
            [since.into()],
        ))
        .await?
        .rows_affected())
}
