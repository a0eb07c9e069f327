//! The audit log: one append-only row per admin write (product create, update,
//! status change and stock adjustment, category changes, review moderation, order
//! transitions), written by [`record`] on the connection of the change itself, so
//! the row and the change commit together or not at all.
//!
//! The table refuses `UPDATE`, `DELETE` and `TRUNCATE` by a trigger (migration
//! 0013), whatever role asks; no route edits it.

pub mod repo;

use serde_json::{Map, Value};
use uuid::Uuid;

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditActor {
    /// An admin, by id.
    Admin(Uuid),
    /// The shop itself (jobs).
    System,
}

impl AuditActor {
    fn kind(self) -> &'static str {
        match self {
            Self::Admin(_) => "admin",
            Self::System => "system",
        }
    }

    fn id(self) -> Option<Uuid> {
        match self {
            Self::Admin(id) => Some(id),
            Self::System => None,
        }
    }
}

/// One admin write, as the log records it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Who.
    pub actor: AuditActor,
    /// What, as `<target>.<verb>`: `product.create`, `product.update`,
    /// `product.status`, `product.stock`, `category.create`, `review.approve`,
    /// `order.ship`...
    pub action: &'static str,
    /// The kind of thing changed: `product`, `category`, `review`, `order`.
    pub target_type: &'static str,
    /// Its id.
    pub target_id: String,
    /// The thing before the change (`None` for a creation).
    pub before: Option<Value>,
    /// The thing after the change (`None` for a deletion).
    pub after: Option<Value>,
    /// The request that made it (`X-Request-Id`).
    pub request_id: Option<String>,
}

impl Entry {
    /// An entry for `action` on `target_type` `target_id`, by `actor`.
    pub fn new(
        actor: AuditActor,
        action: &'static str,
        target_type: &'static str,
        target_id: impl ToString,
    ) -> Self {
        Self {
            actor,
            action,
            target_type,
            target_id: target_id.to_string(),
            before: None,
            after: None,
            request_id: None,
        }
    }

    /// With the state before the change.
    pub fn before(mut self, value: impl serde::Serialize) -> Self {
        self.before = serde_json::to_value(value).ok();
        self
    }

    /// With the state after the change.
    pub fn after(mut self, value: impl serde::Serialize) -> Self {
        self.after = serde_json::to_value(value).ok();
        self
    }

    /// With the request id.
    pub fn request(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }
}

/// Appends `entry` on `db`: pass the transaction of the change it records.
pub async fn record(
    db: &impl sea_orm::ConnectionTrait,
    entry: Entry,
) -> Result<(), sea_orm::DbErr> {
    repo::insert(db, &entry).await
}

/// The fields that differ between `before` and `after`, as
/// `{"field": {"from": <before>, "to": <after>}}`. Objects are compared key by key
/// (one level: a changed nested value is shown whole); anything else is one change
/// under `"value"`. Nothing changed: `{}`.
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> Value {
    let change = |from: Option<&Value>, to: Option<&Value>| {
        let mut c = Map::new();
        c.insert("from".into(), from.cloned().unwrap_or(Value::Null));
        c.insert("to".into(), to.cloned().unwrap_or(Value::Null));
        Value::Object(c)
    };
    let mut out = Map::new();
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            for key in b.keys().chain(a.keys().filter(|k| !b.contains_key(*k))) {
                let (from, to) = (b.get(key), a.get(key));
                if from != to {
                    out.insert(key.clone(), change(from, to));
                }
            }
        }
        (Some(Value::Object(b)), None) => {
            for (key, v) in b {
                out.insert(key.clone(), change(Some(v), None));
            }
        }
        (None, Some(Value::Object(a))) => {
            for (key, v) in a {
                out.insert(key.clone(), change(None, Some(v)));
            }
        }
        (b, a) if b != a => {
            out.insert("value".into(), change(b, a));
        }
        _ => {}
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::diff;

    #[test]
    fn a_diff_names_only_the_fields_that_changed() {
        let before = json!({"name": "Tea", "price_cents": 100, "stock": 5});
        let after = json!({"name": "Tea", "price_cents": 120, "stock": 5, "status": "draft"});
        assert_eq!(
            diff(Some(&before), Some(&after)),
            json!({
                "price_cents": {"from": 100, "to": 120},
                "status": {"from": null, "to": "draft"}
            })
        );
    }

    #[test]
    fn a_creation_and_a_deletion_list_every_field() {
        let v = json!({"name": "Tea"});
        assert_eq!(
            diff(None, Some(&v)),
            json!({"name": {"from": null, "to": "Tea"}})
        );
        assert_eq!(
            diff(Some(&v), None),
            json!({"name": {"from": "Tea", "to": null}})
        );
        assert_eq!(diff(Some(&v), Some(&v)), json!({}));
    }
}
