//! `GET /api/admin/audit`: the audit log of admin writes, newest first, paged by a
//! cursor (the log only grows, so offsets would drift and counting it would cost a
//! scan). There is no route that changes it, and the table refuses it anyway.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Query, payload::Json};
use uuid::Uuid;

use super::{ApiTags, outcomes};
use crate::{
    audit::repo::{self, AuditFilter, AuditRow},
    auth::extract::AdminAuth,
    envelope::Envelope,
    error::{ApiError, Failure},
    state::SharedState,
};

/// Largest page.
const MAX_LIMIT: u64 = 100;

/// One admin write.
#[derive(Debug, Clone, Object)]
pub struct AuditEntryView {
    /// Sequence number: higher is later.
    pub id: i64,
    /// `admin` or `system`.
    pub actor: String,
    /// The admin's user id (`null` for the system).
    #[oai(nullable)]
    pub actor_id: Option<Uuid>,
    /// `<target>.<verb>`: `product.create`, `product.update`, `product.publish`,
    /// `product.stock`, `category.delete`, `review.approve`, `order.ship`...
    pub action: String,
    /// The kind of thing changed: `product`, `category`, `review`, `order`.
    pub target_type: String,
    /// Its id.
    pub target_id: String,
    /// The thing before the change (`null` for a creation).
    #[oai(nullable)]
    pub before: Option<serde_json::Value>,
    /// The thing after it (`null` for a deletion).
    #[oai(nullable)]
    pub after: Option<serde_json::Value>,
    /// The fields that changed: `{"field": {"from": …, "to": …}}`.
    pub diff: serde_json::Value,
    /// The request that made the change (`X-Request-Id`).
    #[oai(nullable)]
    pub request_id: Option<String>,
    /// When it was committed.
    pub created_at: DateTime<Utc>,
}

impl From<AuditRow> for AuditEntryView {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            actor: r.actor,
            actor_id: r.actor_id,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            before: r.before,
            after: r.after,
            diff: r.diff,
            request_id: r.request_id,
            created_at: r.created_at,
        }
    }
}

/// One page of the audit log.
#[derive(Debug, Clone, Object)]
pub struct AuditPage {
    /// Entries, newest first.
    pub items: Vec<AuditEntryView>,
    /// Pass as `before` for the next (older) page; `null` on the last page.
    #[oai(nullable)]
    pub next_before: Option<i64>,
}

/// Reads the audit log.
pub struct AdminAuditApi;

/// `type` or `type:id`.
fn parse_target(raw: &str) -> Result<(String, Option<String>), ApiError> {
    let bad = || {
        ApiError::validation(
            "target",
            "must be `<type>` or `<type>:<id>`: a lowercase type (product, category, review, order) and an id of at most 200 characters",
        )
    };
    let (kind, id) = match raw.split_once(':') {
        Some((k, id)) => (k, Some(id)),
        None => (raw, None),
    };
    if kind.is_empty()
        || kind.len() > 40
        || !kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        return Err(bad());
    }
    match id {
        Some(id) if id.is_empty() || id.len() > 200 || id.chars().any(char::is_control) => {
            Err(bad())
        }
        _ => Ok((kind.to_owned(), id.map(str::to_owned))),
    }
}

#[OpenApi(prefix_path = "/api/admin/audit", tag = "ApiTags::Admin")]
impl AdminAuditApi {
    /// The audit log: every admin write (products, categories, reviews, orders) with
    /// who, what, before and after, the request id and the time, newest first.
    /// Filters combine. Admin only.
    #[oai(path = "/", method = "get", operation_id = "admin_audit_list")]
    #[allow(clippy::too_many_arguments)] // one per documented query parameter
    async fn list(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
        /// `<type>` or `<type>:<id>`, e.g. `product` or `product:<uuid>`.
        target: Query<Option<String>>,
        /// Only this admin's writes (user id).
        actor: Query<Option<Uuid>>,
        /// Only entries at or after this time (RFC 3339, e.g. `2026-12-07T10:00:00Z`).
        since: Query<Option<String>>,
        /// Only entries older than this sequence number: the `next_before` of the
        /// previous page.
        before: Query<Option<i64>>,
        /// Entries per page, 1 to 100 (default 50).
        limit: Query<Option<u64>>,
    ) -> Result<Json<Envelope<AuditPage>>, Failure<outcomes::AdminRead>> {
        let limit = limit.0.unwrap_or(50);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::validation("limit", "must be between 1 and 100").into());
        }
        let (target_type, target_id) = match target.0.as_deref() {
            Some(t) => {
                let (k, id) = parse_target(t.trim())?;
                (Some(k), id)
            }
            None => (None, None),
        };
        let since = match since.0.as_deref() {
            Some(s) => Some(
                DateTime::parse_from_rfc3339(s.trim())
                    .map_err(|_| {
                        ApiError::validation(
                            "since",
                            "must be an RFC 3339 time, e.g. 2026-12-07T10:00:00Z",
                        )
                    })?
                    .with_timezone(&Utc),
            ),
            None => None,
        };
        if before.0.is_some_and(|b| b < 1) {
            return Err(
                ApiError::validation("before", "must be a positive sequence number").into(),
            );
        }
        let filter = AuditFilter {
            target_type,
            target_id,
            actor_id: actor.0,
            since,
            before_id: before.0,
        };
        let mut rows = repo::list(&state.db, &filter, limit + 1).await?;
        let next_before = if rows.len() as u64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|r| r.id)
        } else {
            None
        };
        Ok(Json(Envelope::new(
            AuditPage {
                items: rows.into_iter().map(AuditEntryView::from).collect(),
                next_before,
            },
            "audit log",
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_target;

    #[test]
    fn a_target_is_a_type_and_maybe_an_id() {
        assert_eq!(parse_target("product").ok(), Some(("product".into(), None)));
        assert_eq!(
            parse_target("order:abc").ok(),
            Some(("order".into(), Some("abc".into())))
        );
        for bad in [
            "",
            "Product",
            "product:",
            ":x",
            "a b",
            &format!("p:{}", "x".repeat(201)),
        ] {
            assert!(parse_target(bad).is_err(), "{bad:?} accepted");
        }
    }
}
