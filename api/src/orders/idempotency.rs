//! `Idempotency-Key` for order placement, stored in PostgreSQL for 24 hours.
//!
//! The first request with a key records it `in_progress` (committed at once, so a
//! concurrent duplicate sees it and gets 409); the order transaction then stores the
//! response in the same commit as the order, so a replay can never disagree with what
//! was written. The same key with another body is 422. A key left `in_progress` by a
//! crashed instance may be taken over after [`STALE_AFTER_SECS`].
//!
//! Fencing: every claim (the first, or a takeover) writes a fresh `fence` token, and
//! storing the answer requires it (`complete` updates only `in_progress` rows holding
//! that fence). A request that lost its key to a takeover while it waited on a lock
//! therefore cannot overwrite the answer of the one that took it: its `complete`
//! fails, its transaction (and order) rolls back, and it answers 409.

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::OrderError;
use crate::sql::stmt;

/// An `in_progress` key older than this is considered abandoned.
pub const STALE_AFTER_SECS: i64 = 60;

/// What to do with a request carrying a key.
pub enum Claim {
    /// This request holds the key: go ahead, and store the answer with this fence.
    Proceed(Uuid),
    /// Already answered: replay this.
    Replay {
        /// Status.
        status: u16,
        /// Body.
        body: Value,
    },
}

/// The hash of a request body, to spot a key reused for another request.
pub fn request_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Validates a client key given as raw header bytes (a key outside printable ASCII is
/// refused like any other bad key, never ignored).
pub fn parse_key_bytes(raw: &[u8]) -> Result<String, OrderError> {
    let text = std::str::from_utf8(raw).map_err(|_| OrderError::InvalidIdempotencyKey)?;
    parse_key(text)
}

/// Validates a client key.
pub fn parse_key(raw: &str) -> Result<String, OrderError> {
    let key = raw.trim();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(OrderError::InvalidIdempotencyKey);
    }
    Ok(key.to_owned())
}

/// Claims `key` for `user`, or says how to answer.
pub async fn claim(
    db: &impl ConnectionTrait,
    user: Uuid,
    key: &str,
    hash: &str,
) -> Result<Claim, OrderError> {
    // Expired keys are forgotten first, so they can be reused.
    db.execute_raw(stmt(
        "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND expires_at < now()",
        vec![user.into(), key.into()],
    ))
    .await?;
    let fence = Uuid::new_v4();
    let inserted = db
        .execute_raw(stmt(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, fence) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            vec![user.into(), key.into(), hash.into(), fence.into()],
        ))
        .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Claim::Proceed(fence));
    }
    #[derive(FromQueryResult)]
    struct Row {
        request_hash: String,
        state: String,
        response_status: Option<i32>,
        response_body: Option<Value>,
        age_secs: f64,
    }
    let row = Row::find_by_statement(stmt(
        "SELECT request_hash, state, response_status, response_body,
                EXTRACT(EPOCH FROM now() - created_at)::float8 AS age_secs
         FROM idempotency_keys WHERE user_id = $1 AND key = $2",
        vec![user.into(), key.into()],
    ))
    .one(db)
    .await?
    .ok_or(OrderError::IdempotencyKeyVanished)?;
    if row.request_hash != hash {
        return Err(OrderError::IdempotencyKeyReused);
    }
    match (row.state.as_str(), row.response_status, row.response_body) {
        ("done", Some(status), Some(body)) => Ok(Claim::Replay {
            status: status as u16,
            body,
        }),
        _ if row.age_secs > STALE_AFTER_SECS as f64 => {
            let taken = db
                .execute_raw(stmt(
                    "UPDATE idempotency_keys SET created_at = now(), fence = $4
                     WHERE user_id = $1 AND key = $2 AND state = 'in_progress'
                       AND created_at < now() - make_interval(secs => $3)",
                    vec![
                        user.into(),
                        key.into(),
                        (STALE_AFTER_SECS as f64).into(),
                        fence.into(),
                    ],
                ))
                .await?;
            if taken.rows_affected() == 1 {
                Ok(Claim::Proceed(fence))
            } else {
                Err(OrderError::IdempotencyInProgress)
            }
        }
        _ => Err(OrderError::IdempotencyInProgress),
    }
}

/// Stores the response of the request that claimed `key` with `fence` (call inside its
/// transaction). 409 when the key was taken over meanwhile: the caller's transaction
/// must roll back, so nothing it wrote survives.
pub async fn complete(
    db: &impl ConnectionTrait,
    user: Uuid,
    key: &str,
    fence: Uuid,
    status: u16,
    body: &Value,
) -> Result<(), OrderError> {
    let stored = db
        .execute_raw(stmt(
            "UPDATE idempotency_keys SET state = 'done', response_status = $3, response_body = $4
             WHERE user_id = $1 AND key = $2 AND state = 'in_progress' AND fence = $5",
            vec![
                user.into(),
                key.into(),
                i32::from(status).into(),
                body.clone().into(),
                fence.into(),
            ],
        ))
        .await?;
    if stored.rows_affected() == 1 {
        Ok(())
    } else {
        Err(OrderError::IdempotencyInProgress)
    }
}

/// Forgets `key` if this request (`fence`) still holds it (the request failed without
/// a result worth replaying).
pub async fn release(
    db: &impl ConnectionTrait,
    user: Uuid,
    key: &str,
    fence: Uuid,
) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND state = 'in_progress' AND fence = $3",
        vec![user.into(), key.into(), fence.into()],
    ))
    .await?;
    Ok(())
}
