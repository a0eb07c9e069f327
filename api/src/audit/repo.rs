//! `audit_log` rows: append and read, never change.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use serde_json::Value;
use uuid::Uuid;

use super::{Entry, diff};
use crate::sql::stmt;

/// Appends one entry.
pub async fn insert(db: &impl ConnectionTrait, e: &Entry) -> Result<(), DbErr> {
    let changes = diff(e.before.as_ref(), e.after.as_ref());
    db.execute_raw(stmt(
        "INSERT INTO audit_log (actor_id, actor, action, target_type, target_id, before, after, diff, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [
            e.actor.id().into(),
            e.actor.kind().into(),
            e.action.into(),
            e.target_type.into(),
            e.target_id.clone().into(),
            e.before.clone().into(),
            e.after.clone().into(),
            changes.into(),
            e.request_id.clone().into(),
        ],
    ))
    .await?;
    Ok(())
}

/// One stored entry.
#[derive(Debug, Clone, FromQueryResult)]
pub struct AuditRow {
    /// Sequence number (newest is highest).
    pub id: i64,
    /// The admin, if one.
    pub actor_id: Option<Uuid>,
    /// `admin` or `system`.
    pub actor: String,
    /// `<target>.<verb>`.
    pub action: String,
    /// Kind of target.
    pub target_type: String,
    /// Target id.
    pub target_id: String,
    /// Before.
    pub before: Option<Value>,
    /// After.
    pub after: Option<Value>,
    /// What changed.
    pub diff: Value,
    /// Request id.
    pub request_id: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// `<type>:<id>` or just `<type>`.
    pub target_type: Option<String>,
    /// The target's id (with `target_type`).
    pub target_id: Option<String>,
    /// The admin.
    pub actor_id: Option<Uuid>,
    /// From this time on.
    pub since: Option<DateTime<Utc>>,
    /// Only entries older than this id (keyset paging, newest first).
    pub before_id: Option<i64>,
}

/// Up to `limit` entries matching `f`, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    f: &AuditFilter,
    limit: u64,
) -> Result<Vec<AuditRow>, DbErr> {
    AuditRow::find_by_statement(stmt(
        "SELECT id, actor_id, actor, action, target_type, target_id, before, after, diff,
                request_id, created_at
         FROM audit_log
         WHERE ($1::text IS NULL OR target_type = $1)
           AND ($2::text IS NULL OR target_id = $2)
           AND ($3::uuid IS NULL OR actor_id = $3)
           AND ($4::timestamptz IS NULL OR created_at >= $4)
           AND ($5::bigint IS NULL OR id < $5)
         ORDER BY id DESC
         LIMIT $6",
        [
            f.target_type.clone().into(),
            f.target_id.clone().into(),
            f.actor_id.into(),
            f.since.into(),
            f.before_id.into(),
            (limit as i64).into(),
        ],
    ))
    .all(db)
    .await
}
