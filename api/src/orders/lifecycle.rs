//! Orders after placement: the status flow.
//!
//! ```text
//!            pay             ship              deliver
//! pending ───────> paid ───────────> shipped ───────────> delivered
//!    │               │
//!    │ cancel        │ cancel
//!    v               v
//! cancelled <────────┘ ──refund (only if it was paid)──> refunded
//! ```
//!
//! Invariants:
//! - every transition is one conditional update (`UPDATE orders ... WHERE id = $1 AND
//!   status = ANY(<the states it starts from>)`): of two concurrent transitions of one
//!   order, the second waits for the first's row lock, re-reads the row and no longer
//!   matches it, so exactly one wins and the loser gets
//!   [`OrderError::StateConflict`] naming the state now;
//! - in the same transaction: one `order_history` row (from, to, actor, reason,
//!   request id), an `audit_log` row when an admin moves it, the outbox event
//!   (`order-cancelled`, or `order-status-changed`), and for a cancellation the stock of every line given back, the rows locked in
//!   product-id order as placement locks them (no deadlock with a concurrent order);
//! - stock comes back once: only the update that moved the order out of `pending` or
//!   `paid` gives it back, and a cancelled order never moves again except to
//!   `refunded`, which gives back nothing.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult, TransactionTrait};
use uuid::Uuid;

use super::error::OrderError;
use crate::{
    events::{EventEnvelope, OrderCancelled, OrderStatusChanged, ReturnedItem},
    outbox,
    sql::stmt,
};

/// Who moves an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The buyer.
    Customer(Uuid),
    /// An admin.
    Admin(Uuid),
    /// The shop itself (the expiry job).
    System,
    /// A payment provider, by a verified webhook.
    Provider,
}

impl Actor {
    /// `customer`, `admin`, `system` or `provider` (`order_history.actor`).
    pub fn kind(self) -> &'static str {
        match self {
            Self::Customer(_) => "customer",
            Self::Admin(_) => "admin",
            Self::System => "system",
            Self::Provider => "provider",
        }
    }

    fn id(self) -> Option<Uuid> {
        match self {
            Self::Customer(id) | Self::Admin(id) => Some(id),
            Self::System | Self::Provider => None,
        }
    }
}

/// A move of the status flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// `pending` → `paid`.
    Pay,
    /// `paid` → `shipped`.
    Ship,
    /// `shipped` → `delivered`.
    Deliver,
    /// `pending` or `paid` → `cancelled`, stock given back.
    Cancel,
    /// `cancelled` (after being paid) → `refunded`.
    Refund,
}

impl Transition {
    /// The states it starts from.
    pub fn from(self) -> &'static [&'static str] {
        match self {
            Self::Pay => &["pending"],
            Self::Ship => &["paid"],
            Self::Deliver => &["shipped"],
            Self::Cancel => &["pending", "paid"],
            Self::Refund => &["cancelled"],
        }
    }

    /// The state it ends in.
    pub fn to(self) -> &'static str {
        match self {
            Self::Pay => "paid",
            Self::Ship => "shipped",
            Self::Deliver => "delivered",
            Self::Cancel => "cancelled",
            Self::Refund => "refunded",
        }
    }

    /// The audit log's action for an admin's move (`order.ship`...).
    pub fn audit_action(self) -> &'static str {
        match self {
            Self::Pay => "order.pay",
            Self::Ship => "order.ship",
            Self::Deliver => "order.deliver",
            Self::Cancel => "order.cancel",
            Self::Refund => "order.refund",
        }
    }

    /// The verb, for messages (`cannot ship this order: ...`).
    pub fn verb(self) -> &'static str {
        match self {
            Self::Pay => "pay",
            Self::Ship => "ship",
            Self::Deliver => "deliver",
            Self::Cancel => "cancel",
            Self::Refund => "refund",
        }
    }
}

/// A transition asked for, and by whom.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    /// The move.
    pub transition: Transition,
    /// Who asks.
    pub actor: Actor,
    /// Why (an admin's reason, a tracking reference, a provider's payment id).
    pub reason: Option<&'a str>,
    /// The request, carried into the history and the event.
    pub request_id: Option<String>,
    /// `Some(user)`: only that buyer's order (anyone else's is
    /// [`OrderError::UnknownOrder`]).
    pub owner: Option<Uuid>,
}

/// What a transition did.
#[derive(Debug, Clone)]
pub struct Moved {
    /// The order.
    pub order_id: Uuid,
    /// Its number.
    pub number: i64,
    /// The buyer.
    pub user_id: Uuid,
    /// The state before.
    pub from: String,
    /// The state now.
    pub to: &'static str,
    /// Total in cents.
    pub total_cents: i64,
    /// Currency.
    pub currency: String,
    /// What a cancellation gave back to stock (empty otherwise).
    pub returned: Vec<ReturnedItem>,
}

#[derive(FromQueryResult)]
struct MovedRow {
    number: i64,
    user_id: Uuid,
    user_email: String,
    total_cents: i64,
    currency: String,
    was_paid: bool,
    changed_at: DateTime<Utc>,
}

#[derive(FromQueryResult)]
struct StateRow {
    status: String,
    paid: bool,
}

#[derive(FromQueryResult)]
struct ReturnedRow {
    product_id: Uuid,
    name: String,
    quantity: i32,
}

/// The conditional update: the order moves only from a state of `$3`; `$4` limits it
/// to one buyer's orders, `$5` (a refund) to orders that were paid. `was_paid` tells
/// which state a cancellation started from (only `pay` sets `paid_at`).
const MOVE: &str = "UPDATE orders o SET status = $2, updated_at = now(),
        paid_at = CASE WHEN $2 = 'paid' THEN now() ELSE o.paid_at END,
        cancelled_at = CASE WHEN $2 = 'cancelled' THEN now() ELSE o.cancelled_at END
    WHERE o.id = $1 AND o.status = ANY ($3::text[])
      AND ($4::uuid IS NULL OR o.user_id = $4) AND (NOT $5 OR o.paid_at IS NOT NULL)
    RETURNING o.number, o.user_id, o.total_cents, o.currency, o.updated_at AS changed_at,
              o.paid_at IS NOT NULL AS was_paid,
              (SELECT u.email FROM users u WHERE u.id = o.user_id) AS user_email";

/// Gives back the stock of every line of order `$1`, locking the products in id order
/// first (as placement does), and answers what went back. Stock stays within its
/// bound (`products_stock_bounded`, 10⁹): an admin who set the bound as "unlimited"
/// meanwhile keeps it, rather than the cancellation failing.
const RESTOCK: &str = "WITH lines AS (
    SELECT product_id, name, quantity FROM order_items WHERE order_id = $1
), locked AS (
    SELECT p.id FROM products p WHERE p.id IN (SELECT product_id FROM lines) ORDER BY p.id FOR UPDATE
), returned AS (
    UPDATE products p SET stock = LEAST(p.stock + l.quantity, 1000000000), updated_at = now()
    FROM lines l JOIN locked k ON k.id = l.product_id
    WHERE p.id = l.product_id
    RETURNING p.id
)
SELECT l.product_id, l.name, l.quantity FROM lines l
WHERE l.product_id IN (SELECT id FROM returned) ORDER BY l.product_id";

const HISTORY: &str = "INSERT INTO order_history
    (order_id, from_status, to_status, actor, actor_id, reason, request_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Applies `change` to `order` inside `txn` (not committed): the conditional update,
/// the history row, the stock of a cancellation, and the outbox event.
pub async fn apply(
    txn: &impl ConnectionTrait,
    order: Uuid,
    change: Change<'_>,
) -> Result<Moved, OrderError> {
    let t = change.transition;
    let from: Vec<String> = t.from().iter().map(|s| (*s).to_owned()).collect();
    let row = MovedRow::find_by_statement(stmt(
        MOVE,
        vec![
            order.into(),
            t.to().into(),
            super::place::pg_array(&from).into(),
            change.owner.into(),
            (t == Transition::Refund).into(),
        ],
    ))
    .one(txn)
    .await?;
    let Some(row) = row else {
        return Err(refusal(txn, order, &change).await?);
    };
    let from_status = match t {
        Transition::Cancel if row.was_paid => "paid",
        _ => t.from()[0],
    };
    let reason = change.reason.map(str::to_owned);
    txn.execute_raw(stmt(
        HISTORY,
        vec![
            order.into(),
            from_status.into(),
            t.to().into(),
            change.actor.kind().into(),
            change.actor.id().into(),
            reason.clone().into(),
            change.request_id.clone().into(),
        ],
    ))
    .await?;
    if t == Transition::Refund {
        txn.execute_raw(stmt(
            "UPDATE payments SET status = 'refunded', updated_at = now()
             WHERE order_id = $1 AND status = 'succeeded'",
            vec![order.into()],
        ))
        .await?;
    }
    if let Actor::Admin(admin) = change.actor {
        let entry = crate::audit::Entry::new(
            crate::audit::AuditActor::Admin(admin),
            t.audit_action(),
            "order",
            order,
        )
        .before(serde_json::json!({ "status": from_status }))
        .after(serde_json::json!({ "status": t.to(), "reason": reason }))
        .request(change.request_id.clone());
        crate::audit::record(txn, entry).await?;
    }
    let returned = if t == Transition::Cancel {
        ReturnedRow::find_by_statement(stmt(RESTOCK, vec![order.into()]))
            .all(txn)
            .await?
            .into_iter()
            .map(|r| ReturnedItem {
                product_id: r.product_id,
                name: r.name,
                quantity: r.quantity,
            })
            .collect()
    } else {
        Vec::new()
    };
    let key = order.to_string();
    if t == Transition::Cancel {
        let event = EventEnvelope::new(
            OrderCancelled {
                order_id: order,
                order_number: row.number,
                user_id: row.user_id,
                user_email: row.user_email,
                from_status: from_status.to_owned(),
                actor: change.actor.kind().to_owned(),
                reason,
                items: returned.clone(),
                total_cents: row.total_cents,
                currency: row.currency.clone(),
                cancelled_at: row.changed_at,
            },
            change.request_id,
        );
        outbox::enqueue(txn, &key, &event).await?;
    } else {
        let event = EventEnvelope::new(
            OrderStatusChanged {
                order_id: order,
                order_number: row.number,
                user_id: row.user_id,
                user_email: row.user_email,
                from_status: from_status.to_owned(),
                to_status: t.to().to_owned(),
                actor: change.actor.kind().to_owned(),
                reason,
                total_cents: row.total_cents,
                currency: row.currency.clone(),
                changed_at: row.changed_at,
            },
            change.request_id,
        );
        outbox::enqueue(txn, &key, &event).await?;
    }
    Ok(Moved {
        order_id: order,
        number: row.number,
        user_id: row.user_id,
        from: from_status.to_owned(),
        to: t.to(),
        total_cents: row.total_cents,
        currency: row.currency,
        returned,
    })
}

/// Why the conditional update matched nothing: no such order (for this owner), or
/// its state now.
async fn refusal(
    txn: &impl ConnectionTrait,
    order: Uuid,
    change: &Change<'_>,
) -> Result<OrderError, OrderError> {
    let state = StateRow::find_by_statement(stmt(
        "SELECT status, paid_at IS NOT NULL AS paid FROM orders
         WHERE id = $1 AND ($2::uuid IS NULL OR user_id = $2)",
        vec![order.into(), change.owner.into()],
    ))
    .one(txn)
    .await?;
    Ok(match state {
        None => OrderError::UnknownOrder,
        Some(s) => OrderError::StateConflict {
            action: change.transition.verb(),
            never_paid: change.transition == Transition::Refund
                && s.status == "cancelled"
                && !s.paid,
            current: s.status,
        },
    })
}

/// Applies `change` to `order` in a transaction of its own and commits.
pub async fn transition(
    db: &DatabaseConnection,
    order: Uuid,
    change: Change<'_>,
) -> Result<Moved, OrderError> {
    let txn = db.begin().await?;
    let moved = apply(&txn, order, change).await?;
    txn.commit().await?;
    tracing::info!(
        order_id = %moved.order_id, from = %moved.from, to = moved.to,
        "order moved"
    );
    Ok(moved)
}

/// Orders of a batch of the expiry job.
pub const EXPIRY_BATCH: u64 = 100;

/// The reason the expiry job gives.
pub const EXPIRED_REASON: &str = "payment not received in time";

/// Cancels up to [`EXPIRY_BATCH`] pending orders whose `expires_at` has passed, each
/// in a transaction of its own through [`apply`] (actor `system`): the conditional
/// update makes every order cancelled once, whatever the number of instances running
/// this at the same moment. Answers the orders this call cancelled.
pub async fn expire_due(db: &DatabaseConnection) -> Result<Vec<Moved>, OrderError> {
    #[derive(FromQueryResult)]
    struct Due {
        id: Uuid,
    }
    let due = Due::find_by_statement(stmt(
        &format!(
            "SELECT id FROM orders WHERE status = 'pending' AND expires_at IS NOT NULL
               AND expires_at <= now() ORDER BY expires_at LIMIT {EXPIRY_BATCH}"
        ),
        vec![],
    ))
    .all(db)
    .await?;
    let mut cancelled = Vec::new();
    for d in due {
        let change = Change {
            transition: Transition::Cancel,
            actor: Actor::System,
            reason: Some(EXPIRED_REASON),
            request_id: None,
            owner: None,
        };
        let txn = db.begin().await?;
        match apply(&txn, d.id, change).await {
            Ok(moved) => {
                txn.commit().await?;
                tracing::info!(order_id = %moved.order_id, "unpaid order expired");
                cancelled.push(moved);
            }
            // Another instance expired it, or it was paid or cancelled meanwhile: the
            // conditional update matched nothing, and nothing was written.
            Err(OrderError::StateConflict { .. } | OrderError::UnknownOrder) => {}
            // The database is away: the next tick tries again.
            Err(OrderError::Db(e)) if crate::error::database_unavailable(&e) => {
                return Err(OrderError::Db(e));
            }
            // This order cannot be cancelled now: it is logged and left for the next
            // tick, and the orders behind it still expire.
            Err(e) => {
                tracing::error!(order_id = %d.id, error = %e, "could not expire an unpaid order");
            }
        }
    }
    Ok(cancelled)
}

/// One row of an order's history.
#[derive(Debug, Clone, FromQueryResult)]
pub struct HistoryEntry {
    /// The state before (none for the placement).
    pub from_status: Option<String>,
    /// The state after.
    pub to_status: String,
    /// `customer`, `admin`, `system` or `provider`.
    pub actor: String,
    /// The account that acted, if a person.
    pub actor_id: Option<Uuid>,
    /// Why, if given.
    pub reason: Option<String>,
    /// The request that made it.
    pub request_id: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The history of `order`, oldest first.
pub async fn history(
    db: &impl ConnectionTrait,
    order: Uuid,
) -> Result<Vec<HistoryEntry>, sea_orm::DbErr> {
    HistoryEntry::find_by_statement(stmt(
        "SELECT from_status, to_status, actor, actor_id, reason, request_id, created_at
         FROM order_history WHERE order_id = $1 ORDER BY id",
        vec![order.into()],
    ))
    .all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flow_has_one_way_into_each_state_and_cancel_only_before_shipping() {
        let all = [
            Transition::Pay,
            Transition::Ship,
            Transition::Deliver,
            Transition::Cancel,
            Transition::Refund,
        ];
        for t in all {
            assert!(!t.from().contains(&t.to()), "{t:?} must move");
        }
        assert_eq!(Transition::Cancel.from(), &["pending", "paid"]);
        for t in all {
            assert!(
                !t.from().contains(&"delivered") && !t.from().contains(&"refunded"),
                "{t:?}: delivered and refunded are final"
            );
        }
        assert!(!Transition::Cancel.from().contains(&"shipped"));
        assert_eq!(Transition::Refund.from(), &["cancelled"]);
    }
}
