//! Order use cases that own their transaction. Routes parse the request, call these,
//! and map the outcome; the canonical and the legacy routes share them.

use sea_orm::{DatabaseConnection, TransactionTrait};
use serde_json::Value;
use uuid::Uuid;

use super::{
    error::OrderError,
    idempotency,
    place::{self, Buyer},
    repo::Order,
};
use crate::auth::users;

/// The `Idempotency-Key` a request claimed, and the answer to store under it in the
/// order's own commit.
pub struct StoredAnswer<'a> {
    /// The key.
    pub key: &'a str,
    /// The fence of the claim.
    pub fence: Uuid,
    /// The 201 body to store for the placed order.
    pub body: &'a (dyn Fn(&Order) -> Value + Sync),
}

/// Places the order of `user` from their cart and commits; with a claimed key, its
/// answer is stored in the same commit, or nothing is committed when the key was
/// taken over meanwhile. The caller invalidates the catalogue cache.
pub async fn place_order(
    db: &DatabaseConnection,
    user: Uuid,
    note: Option<&str>,
    request_id: Option<String>,
    claim: Option<StoredAnswer<'_>>,
) -> Result<Order, OrderError> {
    let buyer = users::by_id(db, user)
        .await?
        .ok_or(OrderError::UnknownUser)?;
    let txn = db.begin().await?;
    let order = place::place(
        &txn,
        Buyer {
            id: user,
            email: &buyer.email,
            note,
            request_id,
        },
    )
    .await?;
    if let Some(claim) = claim {
        let body = (claim.body)(&order);
        idempotency::complete(&txn, user, claim.key, claim.fence, 201, &body).await?;
    }
    txn.commit().await?;
    tracing::info!(order_id = %order.id, total_cents = order.total_cents, "order placed");
    Ok(order)
}
