//! Reading orders: domain rows, mapped to what clients see by the routes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

use crate::sql::stmt;

/// An order line with its price snapshot.
#[derive(Debug, Clone, FromQueryResult)]
pub struct OrderItem {
    /// Product id.
    pub product_id: Uuid,
    /// Product name when ordered.
    pub name: String,
    /// Unit price when ordered, in cents.
    pub unit_price_cents: i64,
    /// Quantity.
    pub quantity: i32,
    /// `unit_price_cents * quantity`.
    pub line_total_cents: i64,
}

/// The address an order ships to, as it was when the order was placed (the
/// address book's fields, snapshotted as JSON in `orders.shipping_address`).
pub use crate::addresses::model::AddressFields as ShippingAddress;

#[derive(Debug, Clone, FromQueryResult)]
struct OrderRow {
    id: Uuid,
    number: i64,
    user_id: Uuid,
    status: String,
    note: Option<String>,
    total_cents: i64,
    currency: String,
    created_at: DateTime<Utc>,
    shipping_address: Option<String>,
    expires_at: Option<DateTime<Utc>>,
}

/// The columns of [`OrderRow`].
const ORDER_COLUMNS: &str = "id, number, user_id, status, note, total_cents, currency, \
    created_at, shipping_address::text AS shipping_address, expires_at";

/// An order and its lines.
#[derive(Debug, Clone)]
pub struct Order {
    /// Id.
    pub id: Uuid,
    /// Short human order number, unique.
    pub number: i64,
    /// Buyer.
    pub user_id: Uuid,
    /// `pending`, `paid`, `shipped`, `delivered`, `cancelled` or `refunded`.
    pub status: String,
    /// The buyer's note, if any.
    pub note: Option<String>,
    /// Lines.
    pub items: Vec<OrderItem>,
    /// Sum of the lines, in cents.
    pub total_cents: i64,
    /// Currency.
    pub currency: String,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// Where it ships to (none for a pickup order).
    pub shipping_address: Option<ShippingAddress>,
    /// When it is cancelled if still unpaid (none: it never expires).
    pub expires_at: Option<DateTime<Utc>>,
}

/// An order line and the order it belongs to.
#[derive(FromQueryResult)]
struct LineRow {
    order_id: Uuid,
    product_id: Uuid,
    name: String,
    unit_price_cents: i64,
    quantity: i32,
    line_total_cents: i64,
}

/// The orders of `rows` with their lines: one query for the lines of all of them,
/// whatever their number (`order_id = ANY(...)`), each order's in insertion order.
async fn attach(db: &impl ConnectionTrait, rows: Vec<OrderRow>) -> Result<Vec<Order>, DbErr> {
    let mut lines: HashMap<Uuid, Vec<OrderItem>> = HashMap::with_capacity(rows.len());
    if !rows.is_empty() {
        let ids = format!(
            "{{{}}}",
            rows.iter()
                .map(|r| r.id.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        let found = LineRow::find_by_statement(stmt(
            "SELECT order_id, product_id, name, unit_price_cents, quantity, line_total_cents
             FROM order_items WHERE order_id = ANY ($1::uuid[]) ORDER BY order_id, id",
            vec![ids.into()],
        ))
        .all(db)
        .await?;
        for l in found {
            lines.entry(l.order_id).or_default().push(OrderItem {
                product_id: l.product_id,
                name: l.name,
                unit_price_cents: l.unit_price_cents,
                quantity: l.quantity,
                line_total_cents: l.line_total_cents,
            });
        }
    }
    Ok(rows
        .into_iter()
        .map(|row| Order {
            items: lines.remove(&row.id).unwrap_or_default(),
            id: row.id,
            number: row.number,
            user_id: row.user_id,
            status: row.status,
            note: row.note,
            total_cents: row.total_cents,
            currency: row.currency,
            created_at: row.created_at,
            shipping_address: row
                .shipping_address
                .and_then(|a| serde_json::from_str(&a).ok()),
            expires_at: row.expires_at,
        })
        .collect())
}

/// Order `id`, if `viewer` may see it (the buyer, or any admin).
pub async fn get(
    db: &impl ConnectionTrait,
    id: Uuid,
    viewer: Uuid,
    is_admin: bool,
) -> Result<Option<Order>, DbErr> {
    let row = OrderRow::find_by_statement(stmt(
        &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1 AND (user_id = $2 OR $3)"),
        vec![id.into(), viewer.into(), is_admin.into()],
    ))
    .one(db)
    .await?;
    Ok(attach(db, row.into_iter().collect()).await?.pop())
}

/// One page of the orders of `user`, newest first, and their total number: three
/// queries (the count, the page, the lines of the whole page) whatever the page size.
pub async fn mine(
    db: &impl ConnectionTrait,
    user: Uuid,
    page: u64,
    page_size: u64,
) -> Result<(Vec<Order>, u64), DbErr> {
    #[derive(FromQueryResult)]
    struct Count {
        total: i64,
    }
    let total = Count::find_by_statement(stmt(
        "SELECT count(*) AS total FROM orders WHERE user_id = $1",
        vec![user.into()],
    ))
    .one(db)
    .await?
    .map_or(0, |c| c.total.max(0) as u64);
    let rows = OrderRow::find_by_statement(stmt(
        &format!(
            "SELECT {ORDER_COLUMNS} FROM orders
             WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT {page_size} OFFSET {}",
            (page - 1).saturating_mul(page_size)
        ),
        vec![user.into()],
    ))
    .all(db)
    .await?;
    Ok((attach(db, rows).await?, total))
}

/// What an admin's order list is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Only orders in this state.
    pub status: Option<String>,
    /// Only this buyer's orders.
    pub user_id: Option<Uuid>,
}

/// One page of every order matching `filter`, newest first, and their total number:
/// three queries whatever the page size.
pub async fn all(
    db: &impl ConnectionTrait,
    filter: &OrderFilter,
    page: u64,
    page_size: u64,
) -> Result<(Vec<Order>, u64), DbErr> {
    #[derive(FromQueryResult)]
    struct Count {
        total: i64,
    }
    const WHERE: &str = "($1::text IS NULL OR status = $1) AND ($2::uuid IS NULL OR user_id = $2)";
    let values = || vec![filter.status.clone().into(), filter.user_id.into()];
    let total = Count::find_by_statement(stmt(
        &format!("SELECT count(*) AS total FROM orders WHERE {WHERE}"),
        values(),
    ))
    .one(db)
    .await?
    .map_or(0, |c| c.total.max(0) as u64);
    let rows = OrderRow::find_by_statement(stmt(
        &format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE {WHERE}
             ORDER BY created_at DESC, id DESC LIMIT {page_size} OFFSET {}",
            (page - 1).saturating_mul(page_size)
        ),
        values(),
    ))
    .all(db)
    .await?;
    Ok((attach(db, rows).await?, total))
}
