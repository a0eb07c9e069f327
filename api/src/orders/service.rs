//! Cart and order use cases that own their transaction. Routes parse the request, call these,
//! and map the outcome; the canonical and the legacy routes share them.

use sea_orm::{DatabaseConnection, TransactionTrait};
use serde_json::Value;
use uuid::Uuid;

use super::{
    cart,
    error::OrderError,
    idempotency,
    lifecycle::{self, Change, Moved},
    place::{self, Buyer},
    repo::Order,
};
use crate::catalogue::cache::CatalogueCache;

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
/// taken over meanwhile. After the commit, before the caller answers, it records in
/// the catalogue cache that stock moved (the stock version, never the generation:
/// listings stay cached while orders flow, see `catalogue::cache`).
pub async fn place_order(
    db: &DatabaseConnection,
    cache: &CatalogueCache,
    buyer: Buyer<'_>,
    claim: Option<StoredAnswer<'_>>,
) -> Result<Order, OrderError> {
    let user = buyer.id;
    let txn = db.begin().await?;
    let order = place::place(&txn, buyer).await?;
    if let Some(claim) = claim {
        let body = (claim.body)(&order);
        idempotency::complete(&txn, user, claim.key, claim.fence, 201, &body).await?;
    }
    txn.commit().await?;
    cache.stock_moved().await;
    tracing::info!(order_id = %order.id, %user, total_cents = order.total_cents, "order placed");
    Ok(order)
}

/// Applies `change` to `order` (`lifecycle::transition`); when it gave stock back
/// (a cancellation), records in the catalogue cache that stock moved, before the
/// caller answers.
pub async fn transition(
    db: &DatabaseConnection,
    cache: &CatalogueCache,
    order: Uuid,
    change: Change<'_>,
) -> Result<Moved, OrderError> {
    let moved = lifecycle::transition(db, order, change).await?;
    if !moved.returned.is_empty() {
        cache.stock_moved().await;
    }
    Ok(moved)
}

/// Adds `quantity` of `product` to the cart of `user` (or increases the line), in
/// one transaction; returns the line's id. The product must be on sale with the
/// line's new quantity in stock; a line holds at most `max`.
pub async fn add_to_cart(
    db: &DatabaseConnection,
    user: Uuid,
    product: Uuid,
    quantity: i32,
    max: i32,
) -> Result<Uuid, OrderError> {
    let txn = db.begin().await?;
    let currency = cart::check_available(&txn, product, quantity).await?;
    let cart_id = cart::upsert_cart(&txn, user).await?;
    // The upsert above locks the cart row, so two adds to one cart are decided one
    // after the other: a cart never ends up holding two currencies.
    cart::check_cart_currency(&txn, cart_id, product, currency).await?;
    let line = cart::upsert_line(&txn, cart_id, product, quantity).await?;
    if line.quantity > max {
        return Err(OrderError::QuantityLimit {
            max,
            would_be: line.quantity,
        });
    }
    if cart::line_count(&txn, cart_id).await? > cart::MAX_CART_LINES {
        return Err(OrderError::CartFull);
    }
    cart::check_available(&txn, product, line.quantity).await?;
    txn.commit().await?;
    Ok(line.id)
}

/// Sets the quantity of `product` in the cart of `user`, if that many are on sale.
pub async fn set_cart_quantity(
    db: &DatabaseConnection,
    user: Uuid,
    product: Uuid,
    quantity: i32,
) -> Result<(), OrderError> {
    let txn = db.begin().await?;
    cart::check_available(&txn, product, quantity).await?;
    if !cart::update_quantity(&txn, user, product, quantity).await? {
        return Err(OrderError::UnknownCartItem);
    }
    txn.commit().await?;
    Ok(())
}

/// Sets the quantity of the cart line `item` of `user`; returns its product id.
pub async fn set_cart_item_quantity(
    db: &DatabaseConnection,
    user: Uuid,
    item: Uuid,
    quantity: i32,
) -> Result<Uuid, OrderError> {
    let product = cart::item_product(db, user, item)
        .await?
        .ok_or(OrderError::UnknownCartItem)?;
    set_cart_quantity(db, user, product, quantity).await?;
    Ok(product)
}
