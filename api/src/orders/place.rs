//! Placing an order, in one transaction:
//! lock the user's cart; sum quantities per product; decrement each product's stock
//! with `stock >= q` in product-id order (no deadlock between concurrent orders);
//! insert the order and its items with price snapshots; empty the cart; write the
//! `order-placed` event to the outbox; commit. The caller owns the transaction and
//! invalidates the catalogue cache before answering.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, FromQueryResult};
use uuid::Uuid;

use super::{
    error::{OrderError, Shortage},
    repo::{Order, OrderItem},
};
use crate::{
    events::{EventEnvelope, OrderPlaced, OrderPlacedItem},
    outbox,
    sql::stmt,
};

#[derive(Debug, FromQueryResult)]
struct CartRow {
    product_id: Uuid,
    quantity: i32,
}

#[derive(Debug, FromQueryResult)]
struct Decremented {
    name: String,
    price_cents: i64,
    currency: String,
    stock: i32,
    low_stock_threshold: i32,
}

#[derive(Debug, FromQueryResult)]
struct Current {
    name: String,
    stock: i32,
    status: String,
}

#[derive(FromQueryResult)]
struct Created {
    number: i64,
    created_at: DateTime<Utc>,
}

/// What the stock reservation took: the order's lines, the event's items, and the
/// one currency they share.
struct Reserved {
    lines: Vec<OrderItem>,
    event_items: Vec<OrderPlacedItem>,
    currency: Option<String>,
}

/// The buyer and the circumstances of an order.
pub struct Buyer<'a> {
    /// Account id.
    pub id: Uuid,
    /// Where the confirmation goes.
    pub email: &'a str,
    /// The buyer's note, trimmed, if any.
    pub note: Option<&'a str>,
    /// The request id, carried into the event.
    pub request_id: Option<String>,
}

/// Places the order of `buyer` inside `txn` (not committed here).
pub async fn place(txn: &impl ConnectionTrait, buyer: Buyer<'_>) -> Result<Order, OrderError> {
    let wanted = lock_cart(txn, buyer.id).await?;
    let reserved = reserve_stock(txn, &wanted).await?;
    let order_id = Uuid::now_v7();
    let total_cents: i64 = reserved.lines.iter().map(|l| l.line_total_cents).sum();
    let currency = reserved.currency.unwrap_or_else(|| "USD".to_owned());
    let created = insert_order(txn, order_id, &buyer, total_cents, &currency).await?;
    insert_items(txn, order_id, &reserved.lines).await?;
    empty_cart(txn, buyer.id).await?;
    let event = EventEnvelope::new(
        OrderPlaced {
            order_id,
            order_number: Some(created.number),
            user_id: buyer.id,
            user_email: buyer.email.to_owned(),
            items: reserved.event_items,
            total_cents,
            currency: currency.clone(),
            created_at: created.created_at,
        },
        buyer.request_id,
    );
    outbox::enqueue(txn, &order_id.to_string(), &event).await?;
    Ok(Order {
        id: order_id,
        number: created.number,
        user_id: buyer.id,
        status: "pending".into(),
        note: buyer.note.map(str::to_owned),
        items: reserved.lines,
        total_cents,
        currency,
        created_at: created.created_at,
    })
}

/// Locks the cart of `user` (serializing two orders of one user) and sums its
/// quantities per product, in product-id order; [`OrderError::CartEmpty`] without any.
async fn lock_cart(
    txn: &impl ConnectionTrait,
    user: Uuid,
) -> Result<BTreeMap<Uuid, i32>, OrderError> {
    let locked = txn
        .query_one_raw(stmt(
            "SELECT id FROM carts WHERE user_id = $1 FOR UPDATE",
            vec![user.into()],
        ))
        .await?;
    let cart_rows = match locked {
        Some(_) => CartRow::find_by_statement(stmt(
            "SELECT ci.product_id, ci.quantity FROM cart_items ci JOIN carts c ON c.id = ci.cart_id
                 WHERE c.user_id = $1",
            vec![user.into()],
        ))
        .all(txn)
        .await?,
        None => Vec::new(),
    };
    if cart_rows.is_empty() {
        return Err(OrderError::CartEmpty);
    }
    let mut wanted: BTreeMap<Uuid, i32> = BTreeMap::new();
    for row in cart_rows {
        *wanted.entry(row.product_id).or_default() += row.quantity;
    }
    Ok(wanted)
}

/// Decrements the stock of every wanted product, in product-id order (every order
/// takes row locks in the same order). Refuses mixed currencies at once, and lists
/// every product short of stock.
async fn reserve_stock(
    txn: &impl ConnectionTrait,
    wanted: &BTreeMap<Uuid, i32>,
) -> Result<Reserved, OrderError> {
    let mut reserved = Reserved {
        lines: Vec::with_capacity(wanted.len()),
        event_items: Vec::with_capacity(wanted.len()),
        currency: None,
    };
    let mut shortages = Vec::new();
    for (&product_id, &quantity) in wanted {
        let Some(p) = decrement(txn, product_id, quantity).await? else {
            shortages.push(shortage(txn, product_id, quantity).await?);
            continue;
        };
        if reserved.currency.get_or_insert_with(|| p.currency.clone()) != &p.currency {
            return Err(OrderError::MixedCurrencies);
        }
        reserved.lines.push(OrderItem {
            product_id,
            name: p.name.clone(),
            unit_price_cents: p.price_cents,
            quantity,
            line_total_cents: p.price_cents * i64::from(quantity),
        });
        reserved.event_items.push(OrderPlacedItem {
            product_id,
            name: p.name,
            quantity,
            unit_price_cents: p.price_cents,
            stock_after: p.stock,
            low_stock_threshold: p.low_stock_threshold,
        });
    }
    if !shortages.is_empty() {
        return Err(OrderError::InsufficientStock(shortages));
    }
    Ok(reserved)
}

/// Takes `quantity` of an active `product` if that many are in stock.
async fn decrement(
    txn: &impl ConnectionTrait,
    product: Uuid,
    quantity: i32,
) -> Result<Option<Decremented>, OrderError> {
    Ok(Decremented::find_by_statement(stmt(
        "UPDATE products SET stock = stock - $2, updated_at = now()
         WHERE id = $1 AND status = 'active' AND stock >= $2
         RETURNING name, price_cents, currency, stock, low_stock_threshold",
        vec![product.into(), quantity.into()],
    ))
    .one(txn)
    .await?)
}

/// What is left of `product` for a refusal (an archived product has none).
async fn shortage(
    txn: &impl ConnectionTrait,
    product: Uuid,
    requested: i32,
) -> Result<Shortage, OrderError> {
    let current = Current::find_by_statement(stmt(
        "SELECT name, stock, status FROM products WHERE id = $1",
        vec![product.into()],
    ))
    .one(txn)
    .await?;
    let (name, available) = match current {
        Some(c) if c.status == "active" => (c.name, c.stock),
        Some(c) => (c.name, 0),
        None => ("(removed product)".to_owned(), 0),
    };
    Ok(Shortage {
        product_id: product,
        name,
        requested,
        available,
    })
}

async fn insert_order(
    txn: &impl ConnectionTrait,
    order_id: Uuid,
    buyer: &Buyer<'_>,
    total_cents: i64,
    currency: &str,
) -> Result<Created, OrderError> {
    Created::find_by_statement(stmt(
        "INSERT INTO orders (id, user_id, total_cents, currency, note) VALUES ($1, $2, $3, $4, $5) RETURNING number, created_at",
        vec![order_id.into(), buyer.id.into(), total_cents.into(), currency.into(), buyer.note.map(str::to_owned).into()],
    ))
    .one(txn)
    .await?
    .ok_or(OrderError::Invariant("order insert returned nothing"))
}

async fn insert_items(
    txn: &impl ConnectionTrait,
    order_id: Uuid,
    lines: &[OrderItem],
) -> Result<(), OrderError> {
    for line in lines {
        txn.execute_raw(stmt(
            "INSERT INTO order_items (order_id, product_id, name, unit_price_cents, quantity, line_total_cents)
             VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                order_id.into(),
                line.product_id.into(),
                line.name.clone().into(),
                line.unit_price_cents.into(),
                line.quantity.into(),
                line.line_total_cents.into(),
            ],
        ))
        .await?;
    }
    Ok(())
}

async fn empty_cart(txn: &impl ConnectionTrait, user: Uuid) -> Result<(), OrderError> {
    txn.execute_raw(stmt(
        "DELETE FROM cart_items ci USING carts c WHERE ci.cart_id = c.id AND c.user_id = $1",
        vec![user.into()],
    ))
    .await?;
    Ok(())
}
