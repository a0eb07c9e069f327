//! The `processed_events` log: which consumer has made the effect of which event.
//!
//! Invariant: a `done` row is written only after (or in the same transaction as) the
//! effect, so a redelivered event whose row is `done` has nothing left to do. A
//! `claimed` row is written before an effect starts and turns `done` right after it:
//! finding one on redelivery means the previous attempt stopped mid-effect, unless
//! the claim is younger than [`CLAIM_LEASE`]: then the lane that claimed it (one whose
//! partition has just moved, in this process or another) may still be making the
//! effect, and the reader waits for the claim to turn `done` or to grow old.
//!
//! Claims and marks commit with `synchronous_commit = off`: a consumer that dies
//! still leaves them committed (only a PostgreSQL crash can lose the last few
//! hundred milliseconds of them, and a lost mark means the effect is made again,
//! never skipped: at least once holds), and the consumer does not wait for a WAL
//! flush per e-mail.

use std::{collections::HashMap, time::Duration};

use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement};
use uuid::Uuid;

/// How long a claim keeps other lanes off its event: longer than one attempt at an
/// effect (the SMTP timeout, 15 s). A retrying lane renews its claim before each
/// attempt ([`renew`]).
pub const CLAIM_LEASE: Duration = Duration::from_secs(20);

/// How far a consumer got with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimState {
    /// Claimed within the lease: the effect may be in flight in another lane.
    InFlight,
    /// Claimed longer ago: the claimer stopped mid-effect, which may or may not have
    /// been made.
    Claimed,
    /// The effect was made.
    Done,
}

/// Ids as one text parameter (`string_to_array($n, ',')::uuid[]`): uuids have no
/// comma, and one parameter keeps the statement the same for every batch size.
fn id_list(ids: &[Uuid]) -> String {
    ids.iter()
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[derive(FromQueryResult)]
struct StateRow {
    event_id: Uuid,
    state: String,
    fresh: bool,
}

/// The state of each of `ids` that `consumer` has claimed or done.
pub async fn states(
    db: &impl ConnectionTrait,
    consumer: &str,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, ClaimState>, DbErr> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = StateRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT event_id, state, processed_at > now() - make_interval(secs => $3) AS fresh
         FROM processed_events
         WHERE consumer = $1 AND event_id = ANY(string_to_array($2, ',')::uuid[])",
        [
            consumer.into(),
            id_list(ids).into(),
            CLAIM_LEASE.as_secs_f64().into(),
        ],
    ))
    .all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let state = match (r.state.as_str(), r.fresh) {
                ("done", _) => ClaimState::Done,
                (_, true) => ClaimState::InFlight,
                (_, false) => ClaimState::Claimed,
            };
            (r.event_id, state)
        })
        .collect())
}

/// Claims `ids` for `consumer` before their effects start (one statement).
pub async fn claim(db: &impl ConnectionTrait, consumer: &str, ids: &[Uuid]) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "WITH async AS (SELECT set_config('synchronous_commit', 'off', true))
         INSERT INTO processed_events (consumer, event_id, state)
         SELECT $1, unnest(string_to_array($2, ',')::uuid[]), 'claimed' FROM async
         ON CONFLICT DO NOTHING",
        [consumer.into(), id_list(ids).into()],
    ))
    .await?;
    Ok(())
}

/// Runs `sql` with `$1` = `consumer` and `$2` = `event_id`.
async fn execute_for(
    db: &impl ConnectionTrait,
    sql: &str,
    consumer: &str,
    event_id: Uuid,
) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [consumer.into(), event_id.into()],
    ))
    .await?;
    Ok(())
}

/// Renews the lease of a claim before another attempt at its effect.
pub async fn renew(db: &impl ConnectionTrait, consumer: &str, event_id: Uuid) -> Result<(), DbErr> {
    let sql = "UPDATE processed_events SET processed_at = now()
               WHERE consumer = $1 AND event_id = $2 AND state = 'claimed'";
    execute_for(db, sql, consumer, event_id).await
}

/// Records `event_id` done for `consumer`, claimed or not.
pub async fn mark_done(
    db: &impl ConnectionTrait,
    consumer: &str,
    event_id: Uuid,
) -> Result<(), DbErr> {
    let sql = "WITH async AS (SELECT set_config('synchronous_commit', 'off', true))
               INSERT INTO processed_events (consumer, event_id, state)
               SELECT $1, $2, 'done' FROM async
               ON CONFLICT (consumer, event_id) DO UPDATE SET state = 'done', processed_at = now()";
    execute_for(db, sql, consumer, event_id).await
}

/// Drops the claim of an event whose effect was not made (it was dead-lettered).
pub async fn release(
    db: &impl ConnectionTrait,
    consumer: &str,
    event_id: Uuid,
) -> Result<(), DbErr> {
    let sql = "DELETE FROM processed_events
               WHERE consumer = $1 AND event_id = $2 AND state = 'claimed'";
    execute_for(db, sql, consumer, event_id).await
}

/// Whether `consumer` has already made the effect of `event_id`.
pub async fn is_processed(
    db: &impl ConnectionTrait,
    consumer: &str,
    event_id: Uuid,
) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 AS one FROM processed_events
             WHERE consumer = $1 AND event_id = $2 AND state = 'done'",
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
