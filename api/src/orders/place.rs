//! Placing an order, in one transaction and a fixed number of statements whatever
//! the number of lines (`scripts/bench/order.sql` runs the same ones):
//!
//! 1. read the buyer and their shipping address, and lock their cart (two orders of
//!    one user go one after the other);
//! 2. read the cart's lines (a statement of its own: it must see the cart as the lock
//!    left it);
//! 3. take the stock of every line in one `UPDATE ... FROM unnest(...)`, each row only
//!    if the product is active with `stock >= q`, after locking the rows in product-id
//!    order (no deadlock between concurrent orders, whatever their carts' order);
//!    the statement also answers what is left of the products it could not take;
//! 4. insert the order (with the snapshot of its shipping address read in step 1, and
//!    when it expires unpaid), its placement in `order_history`, all its items with
//!    price snapshots, and empty the cart;
//! 5. write the `order-placed` event to the outbox.
//!
//! The caller (`orders::service::place_order`) owns the transaction, commits, and
//! records the stock move in the catalogue cache before answering.

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
struct BuyerRow {
    email: String,
    cart_id: Option<Uuid>,
    /// The snapshot of the shipping address (JSON text), if the buyer has it.
    address: Option<String>,
}

#[derive(Debug, FromQueryResult)]
struct CartRow {
    product_id: Uuid,
    quantity: i32,
}

/// One wanted product after the stock statement: what was taken (`price_cents` and
/// the rest set), or what is left of it (`name`, `stock_now`, `status`, all unset
/// when the product is gone).
#[derive(Debug, FromQueryResult)]
struct Taken {
    product_id: Uuid,
    quantity: i32,
    name: Option<String>,
    stock_now: Option<i32>,
    status: Option<String>,
    price_cents: Option<i64>,
    currency: Option<String>,
    stock_after: Option<i32>,
    low_stock_threshold: Option<i32>,
}

#[derive(FromQueryResult)]
struct Created {
    number: i64,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
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
    /// The buyer's note, trimmed, if any.
    pub note: Option<&'a str>,
    /// The request id, carried into the event.
    pub request_id: Option<String>,
    /// The address to ship to: one of the buyer's by id, or (none) their default
    /// shipping address.
    pub shipping_address: Option<Uuid>,
    /// Whether an order without a shipping address is refused.
    pub address_required: bool,
    /// An unpaid order is cancelled this long after placement (none: never).
    pub expires_in: Option<std::time::Duration>,
}

/// Places the order of `buyer` inside `txn` (not committed here).
pub async fn place(txn: &impl ConnectionTrait, buyer: Buyer<'_>) -> Result<Order, OrderError> {
    let (email, cart, address) = lock_cart(txn, &buyer).await?;
    let wanted = cart_lines(txn, cart).await?;
    if address.is_none() && (buyer.address_required || buyer.shipping_address.is_some()) {
        return Err(OrderError::NoShippingAddress {
            named: buyer.shipping_address.is_some(),
        });
    }
    let reserved = reserve_stock(txn, &wanted).await?;
    let order_id = Uuid::now_v7();
    let total_cents: i64 = reserved.lines.iter().map(|l| l.line_total_cents).sum();
    let currency = reserved.currency.unwrap_or_else(|| "USD".to_owned());
    let created = write_order(
        txn,
        order_id,
        &buyer,
        cart,
        total_cents,
        &currency,
        &reserved.lines,
        address.as_deref(),
    )
    .await?;
    let event = EventEnvelope::new(
        OrderPlaced {
            order_id,
            order_number: Some(created.number),
            user_id: buyer.id,
            user_email: email,
            items: reserved.event_items,
            total_cents,
            currency: currency.clone(),
            created_at: created.created_at,
        },
        buyer.request_id.clone(),
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
        shipping_address: address.and_then(|a| serde_json::from_str(&a).ok()),
        expires_at: created.expires_at,
    })
}

/// Reads the e-mail of the buyer, locks their cart (serializing two orders of one
/// user) and snapshots their shipping address (the named one, or the default) as
/// JSON; [`OrderError::UnknownUser`] without the account, [`OrderError::CartEmpty`]
/// without a cart.
async fn lock_cart(
    txn: &impl ConnectionTrait,
    buyer: &Buyer<'_>,
) -> Result<(String, Uuid, Option<String>), OrderError> {
    let row = BuyerRow::find_by_statement(stmt(
        "WITH cart AS (SELECT id FROM carts WHERE user_id = $1 FOR UPDATE)
         SELECT u.email, (SELECT id FROM cart) AS cart_id,
                (SELECT jsonb_build_object('name', a.name, 'line1', a.line1, 'line2', a.line2,
                          'city', a.city, 'region', a.region, 'postal_code', a.postal_code,
                          'country', a.country, 'phone', a.phone)::text
                 FROM addresses a
                 WHERE a.user_id = $1
                   AND CASE WHEN $2::uuid IS NULL THEN a.is_default_shipping ELSE a.id = $2 END
                ) AS address
         FROM users u WHERE u.id = $1",
        vec![buyer.id.into(), buyer.shipping_address.into()],
    ))
    .one(txn)
    .await?
    .ok_or(OrderError::UnknownUser)?;
    let cart = row.cart_id.ok_or(OrderError::CartEmpty)?;
    Ok((row.email, cart, row.address))
}

/// The quantities of the locked `cart` per product, in product-id order;
/// [`OrderError::CartEmpty`] without any. Read after the lock, by a statement of its
/// own, so an order placed meanwhile (which emptied the cart) is seen.
async fn cart_lines(
    txn: &impl ConnectionTrait,
    cart: Uuid,
) -> Result<BTreeMap<Uuid, i32>, OrderError> {
    let rows = CartRow::find_by_statement(stmt(
        "SELECT product_id, quantity FROM cart_items WHERE cart_id = $1",
        vec![cart.into()],
    ))
    .all(txn)
    .await?;
    if rows.is_empty() {
        return Err(OrderError::CartEmpty);
    }
    let mut wanted: BTreeMap<Uuid, i32> = BTreeMap::new();
    for row in rows {
        *wanted.entry(row.product_id).or_default() += row.quantity;
    }
    Ok(wanted)
}

/// Takes the stock of every wanted product in one statement. The `locked` CTE locks
/// the rows in product-id order before the `UPDATE` can touch any of them (it joins
/// on that CTE), so every order takes its row locks in the same order; the `UPDATE`
/// re-checks `status` and `stock >= q` on the newest row. A product it could not take
/// comes back with what is left of it (read under the same lock).
const TAKE_STOCK: &str = "WITH wanted AS (
    SELECT w.id, w.quantity FROM unnest($1::uuid[], $2::int4[]) AS w (id, quantity)
), locked AS (
    SELECT p.id, p.name, p.stock, p.status FROM products p
    WHERE p.id = ANY ($1::uuid[]) ORDER BY p.id FOR UPDATE
), taken AS (
    UPDATE products p SET stock = p.stock - w.quantity, updated_at = now()
    FROM wanted w JOIN locked l ON l.id = w.id
    WHERE p.id = w.id AND p.id = ANY ($1::uuid[]) AND p.status = 'published' AND p.stock >= w.quantity
    RETURNING p.id, p.price_cents, p.currency, p.stock, p.low_stock_threshold
)
SELECT w.id AS product_id, w.quantity, l.name, l.stock AS stock_now, l.status,
       t.price_cents, t.currency, t.stock AS stock_after, t.low_stock_threshold
FROM wanted w LEFT JOIN locked l ON l.id = w.id LEFT JOIN taken t ON t.id = w.id
ORDER BY w.id";

/// Decrements the stock of every wanted product (see [`TAKE_STOCK`]). Refuses mixed
/// currencies, and lists every product short of stock; the caller's transaction is
/// then rolled back, so nothing taken stays taken.
async fn reserve_stock(
    txn: &impl ConnectionTrait,
    wanted: &BTreeMap<Uuid, i32>,
) -> Result<Reserved, OrderError> {
    let rows = Taken::find_by_statement(stmt(
        TAKE_STOCK,
        vec![
            pg_array(wanted.keys()).into(),
            pg_array(wanted.values()).into(),
        ],
    ))
    .all(txn)
    .await?;
    if rows.len() != wanted.len() {
        return Err(OrderError::Invariant("the stock statement lost a line"));
    }
    let mut reserved = Reserved {
        lines: Vec::with_capacity(wanted.len()),
        event_items: Vec::with_capacity(wanted.len()),
        currency: None,
    };
    let mut shortages = Vec::new();
    for row in rows {
        let (product_id, quantity) = (row.product_id, row.quantity);
        let (Some(price_cents), Some(currency), Some(stock_after), Some(low_stock_threshold)) = (
            row.price_cents,
            row.currency,
            row.stock_after,
            row.low_stock_threshold,
        ) else {
            shortages.push(shortage(
                product_id,
                quantity,
                row.name,
                row.stock_now,
                row.status,
            ));
            continue;
        };
        if reserved.currency.get_or_insert_with(|| currency.clone()) != &currency {
            return Err(OrderError::MixedCurrencies);
        }
        let name = row.name.unwrap_or_default();
        reserved.lines.push(OrderItem {
            product_id,
            name: name.clone(),
            unit_price_cents: price_cents,
            quantity,
            line_total_cents: price_cents * i64::from(quantity),
        });
        reserved.event_items.push(OrderPlacedItem {
            product_id,
            name,
            quantity,
            unit_price_cents: price_cents,
            stock_after,
            low_stock_threshold,
        });
    }
    if !shortages.is_empty() {
        return Err(OrderError::InsufficientStock(shortages));
    }
    Ok(reserved)
}

/// How a cart line or a refusal names a product that went back to `draft`.
pub const UNAVAILABLE_PRODUCT: &str = "(unavailable product)";

/// What is left of `product` for a refusal (an archived product has none).
fn shortage(
    product: Uuid,
    requested: i32,
    name: Option<String>,
    stock: Option<i32>,
    status: Option<String>,
) -> Shortage {
    let (name, available) = match (name, stock, status.as_deref()) {
        (Some(name), Some(stock), Some("published")) => (name, stock),
        // A draft's name is not for customers (it may be an upcoming product's).
        (Some(_), _, Some("draft")) => (UNAVAILABLE_PRODUCT.to_owned(), 0),
        (Some(name), _, _) => (name, 0),
        (None, _, _) => ("(removed product)".to_owned(), 0),
    };
    Shortage {
        product_id: product,
        name,
        requested,
        available,
    }
}

/// Inserts the order (with its address snapshot and, when payment is awaited, when it
/// expires), its placement in the history, all its `lines` (one multi-row insert, in
/// the lines' order) and empties `cart`, in one statement.
const WRITE_ORDER: &str = "WITH placed AS (
    INSERT INTO orders (id, user_id, total_cents, currency, note, shipping_address, expires_at)
    VALUES ($1, $2, $3, $4, $5, $12::jsonb, now() + make_interval(secs => $13::float8))
    RETURNING id, number, created_at, expires_at
), history AS (
    INSERT INTO order_history (order_id, from_status, to_status, actor, actor_id, reason, request_id)
    SELECT id, NULL, 'pending', 'customer', $2, 'placed', $14 FROM placed
), lines AS (
    INSERT INTO order_items (order_id, product_id, name, unit_price_cents, quantity, line_total_cents)
    SELECT o.id, l.product_id, l.name, l.unit_price_cents, l.quantity, l.line_total_cents
    FROM placed o,
         unnest($7::uuid[], $8::text[], $9::int8[], $10::int4[], $11::int8[]) WITH ORDINALITY
           AS l (product_id, name, unit_price_cents, quantity, line_total_cents, n)
    ORDER BY l.n
), emptied AS (
    DELETE FROM cart_items WHERE cart_id = $6
)
SELECT number, created_at, expires_at FROM placed";

#[allow(clippy::too_many_arguments)]
async fn write_order(
    txn: &impl ConnectionTrait,
    order_id: Uuid,
    buyer: &Buyer<'_>,
    cart: Uuid,
    total_cents: i64,
    currency: &str,
    lines: &[OrderItem],
    address: Option<&str>,
) -> Result<Created, OrderError> {
    Created::find_by_statement(stmt(
        WRITE_ORDER,
        vec![
            order_id.into(),
            buyer.id.into(),
            total_cents.into(),
            currency.into(),
            buyer.note.map(str::to_owned).into(),
            cart.into(),
            pg_array(lines.iter().map(|l| l.product_id)).into(),
            pg_array(lines.iter().map(|l| &l.name)).into(),
            pg_array(lines.iter().map(|l| l.unit_price_cents)).into(),
            pg_array(lines.iter().map(|l| l.quantity)).into(),
            pg_array(lines.iter().map(|l| l.line_total_cents)).into(),
            address.map(str::to_owned).into(),
            buyer.expires_in.map(|d| d.as_secs_f64()).into(),
            buyer.request_id.clone().into(),
        ],
    ))
    .one(txn)
    .await?
    .ok_or(OrderError::Invariant("order insert returned nothing"))
}

/// A PostgreSQL array literal of `items` (`{"a","b"}`), bound as text and cast by
/// the statement (`$1::uuid[]`): every element quoted, `"` and `\` escaped, so any
/// text survives (the API's driver binds no arrays).
pub(crate) fn pg_array<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let mut out = String::from("{");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in item.to_string().chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::pg_array;

    #[test]
    fn array_literals_quote_and_escape_every_element() {
        assert_eq!(pg_array(Vec::<i32>::new()), "{}");
        assert_eq!(pg_array([1, -2]), r#"{"1","-2"}"#);
        assert_eq!(
            pg_array(["a,b", r#"say "hi""#, r"back\slash", "{x}", "NULL", " "]),
            r#"{"a,b","say \"hi\"","back\\slash","{x}","NULL"," "}"#
        );
    }
}
