//! Placing an order, in one transaction:
//! lock the user's cart; sum quantities per product; decrement each product's stock
//! with `stock >= q` in product-id order (no deadlock between concurrent orders);
//! insert the order and its items with price snapshots; empty the cart; write the
//! `order-placed` event to the outbox; commit. The caller invalidates the catalogue
//! cache before answering.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, FromQueryResult, Statement};
use serde_json::json;
use uuid::Uuid;

use super::repo::{OrderLine, OrderView};
use crate::{
    error::ApiError,
    events::{EventEnvelope, OrderPlaced, OrderPlacedItem},
    outbox,
};

fn stmt(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

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

/// Places the order of `user` inside `txn` (not committed here).
pub async fn place(
    txn: &DatabaseTransaction,
    user: Uuid,
    user_email: &str,
    note: Option<&str>,
    request_id: Option<String>,
) -> Result<OrderView, ApiError> {
    // The cart row lock serializes two orders of the same user.
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
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "CART_EMPTY",
            "the cart is empty",
        ));
    }
    let mut wanted: BTreeMap<Uuid, i32> = BTreeMap::new();
    for row in cart_rows {
        *wanted.entry(row.product_id).or_default() += row.quantity;
    }

    let mut lines = Vec::with_capacity(wanted.len());
    let mut event_items = Vec::with_capacity(wanted.len());
    let mut shortages = Vec::new();
    let mut currency: Option<String> = None;
    // BTreeMap iterates in product-id order: every order takes row locks in the same order.
    for (&product_id, &quantity) in &wanted {
        let done = Decremented::find_by_statement(stmt(
            "UPDATE products SET stock = stock - $2, updated_at = now()
             WHERE id = $1 AND status = 'active' AND stock >= $2
             RETURNING name, price_cents, currency, stock, low_stock_threshold",
            vec![product_id.into(), quantity.into()],
        ))
        .one(txn)
        .await?;
        match done {
            Some(p) => {
                if currency.get_or_insert_with(|| p.currency.clone()) != &p.currency {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "MIXED_CURRENCIES",
                        "all products of one order must share a currency",
                    ));
                }
                lines.push(OrderLine {
                    product_id,
                    name: p.name.clone(),
                    unit_price_cents: p.price_cents,
                    quantity,
                    line_total_cents: p.price_cents * i64::from(quantity),
                });
                event_items.push(OrderPlacedItem {
                    product_id,
                    name: p.name,
                    quantity,
                    unit_price_cents: p.price_cents,
                    stock_after: p.stock,
                    low_stock_threshold: p.low_stock_threshold,
                });
            }
            None => {
                let current = Current::find_by_statement(stmt(
                    "SELECT name, stock, status FROM products WHERE id = $1",
                    vec![product_id.into()],
                ))
                .one(txn)
                .await?;
                let (name, available) = match current {
                    Some(c) if c.status == "active" => (c.name, c.stock),
                    Some(c) => (c.name, 0),
                    None => ("(removed product)".to_owned(), 0),
                };
                shortages.push(json!({
                    "product_id": product_id, "name": name, "requested": quantity, "available": available
                }));
            }
        }
    }
    if !shortages.is_empty() {
        let names: Vec<String> = shortages
            .iter()
            .map(|s| {
                format!(
                    "{} (requested {}, available {})",
                    s["name"].as_str().unwrap_or_default(),
                    s["requested"],
                    s["available"]
                )
            })
            .collect();
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "INSUFFICIENT_STOCK",
            format!("not enough stock: {}", names.join("; ")),
        )
        .with_details(json!({ "products": shortages })));
    }

    let order_id = Uuid::now_v7();
    let total_cents: i64 = lines.iter().map(|l| l.line_total_cents).sum();
    let currency = currency.unwrap_or_else(|| "USD".to_owned());
    #[derive(FromQueryResult)]
    struct Created {
        number: i64,
        created_at: DateTime<Utc>,
    }
    let created = Created::find_by_statement(stmt(
        "INSERT INTO orders (id, user_id, total_cents, currency, note) VALUES ($1, $2, $3, $4, $5) RETURNING number, created_at",
        vec![order_id.into(), user.into(), total_cents.into(), currency.clone().into(), note.map(str::to_owned).into()],
    ))
    .one(txn)
    .await?
    .ok_or_else(|| ApiError::internal("order insert returned nothing"))?;
    for line in &lines {
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
    txn.execute_raw(stmt(
        "DELETE FROM cart_items ci USING carts c WHERE ci.cart_id = c.id AND c.user_id = $1",
        vec![user.into()],
    ))
    .await?;
    let event = EventEnvelope::new(
        OrderPlaced {
            order_id,
            order_number: Some(created.number),
            user_id: user,
            user_email: user_email.to_owned(),
            items: event_items,
            total_cents,
            currency: currency.clone(),
            created_at: created.created_at,
        },
        request_id,
    );
    outbox::enqueue(txn, &order_id.to_string(), &event).await?;
    Ok(OrderView {
        id: order_id,
        number: Some(created.number),
        user_id: user,
        status: "pending".into(),
        note: note.map(str::to_owned),
        items: lines,
        total_cents,
        currency,
        created_at: created.created_at,
    })
}
