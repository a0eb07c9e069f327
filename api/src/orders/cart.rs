//! The cart of a user: queries on any connection (the transactions are in
//! `orders::service`). Concurrent adds of the same product sum atomically
//! (`INSERT ... ON CONFLICT DO UPDATE SET quantity = quantity + excluded`).

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter,
};
use uuid::Uuid;

use super::error::{OrderError, Shortage};
use crate::{entities::carts, sql::stmt};

/// A cart line, priced now.
#[derive(Debug, Clone, FromQueryResult)]
pub struct CartItem {
    /// Cart item id.
    pub id: Uuid,
    /// Product id.
    pub product_id: Uuid,
    /// Product name now.
    pub product_name: String,
    /// Unit price now, in cents.
    pub unit_price_cents: i64,
    /// Currency.
    pub currency: String,
    /// Quantity.
    pub quantity: i32,
    /// `unit_price_cents * quantity`.
    pub line_total_cents: i64,
    /// Units in stock now.
    pub available: i32,
}

/// A cart.
#[derive(Debug, Clone)]
pub struct Cart {
    /// Lines, oldest first.
    pub items: Vec<CartItem>,
    /// Sum of the line totals, in cents.
    pub total_cents: i64,
    /// Units in the cart.
    pub item_count: i64,
    /// Currency of the total.
    pub currency: String,
}

/// The cart lines of `user`. A line whose product went back to `draft` after it was
/// added shows no name, no price and nothing available (a draft is never shown to
/// customers; placing the order refuses it); an archived one shows nothing available.
pub async fn lines(db: &impl ConnectionTrait, user: Uuid) -> Result<Vec<CartItem>, DbErr> {
    CartItem::find_by_statement(stmt(
        "SELECT ci.id, ci.product_id,
                CASE WHEN p.status = 'draft' THEN $2 ELSE p.name END AS product_name,
                CASE WHEN p.status = 'draft' THEN 0 ELSE p.price_cents END AS unit_price_cents,
                p.currency, ci.quantity,
                CASE WHEN p.status = 'draft' THEN 0 ELSE p.price_cents * ci.quantity END
                    AS line_total_cents,
                CASE WHEN p.status = 'published' THEN p.stock ELSE 0 END AS available
         FROM carts c JOIN cart_items ci ON ci.cart_id = c.id JOIN products p ON p.id = ci.product_id
         WHERE c.user_id = $1 ORDER BY ci.added_at, ci.id",
        vec![user.into(), super::place::UNAVAILABLE_PRODUCT.into()],
    ))
    .all(db)
    .await
}

/// The cart of `user`.
pub async fn view(db: &impl ConnectionTrait, user: Uuid) -> Result<Cart, DbErr> {
    let items = lines(db, user).await?;
    Ok(Cart {
        total_cents: items.iter().map(|l| l.line_total_cents).sum(),
        item_count: items.iter().map(|l| i64::from(l.quantity)).sum(),
        currency: items
            .first()
            .map_or_else(|| "USD".to_owned(), |l| l.currency.clone()),
        items,
    })
}

#[derive(Debug, FromQueryResult)]
struct ProductState {
    name: String,
    stock: i32,
    status: String,
    currency: String,
}

async fn product_state(
    db: &impl ConnectionTrait,
    product: Uuid,
) -> Result<Option<ProductState>, DbErr> {
    ProductState::find_by_statement(stmt(
        "SELECT name, stock, status, currency FROM products WHERE id = $1",
        vec![product.into()],
    ))
    .one(db)
    .await
}

/// Checks that `product` is on sale with `quantity` in stock now; returns its currency.
/// Unknown or draft: [`OrderError::UnknownProduct`] (404, alike); archived:
/// [`OrderError::ProductUnavailable`] naming it.
pub async fn check_available(
    db: &impl ConnectionTrait,
    product: Uuid,
    quantity: i32,
) -> Result<String, OrderError> {
    // A draft is answered as no product at all: customers are never told one exists.
    let Some(p) = product_state(db, product)
        .await?
        .filter(|p| p.status != "draft")
    else {
        return Err(OrderError::UnknownProduct);
    };
    if p.status != "published" {
        return Err(OrderError::ProductUnavailable {
            product_id: product,
            name: p.name,
        });
    }
    if p.stock < quantity {
        return Err(OrderError::NotInStock(Shortage {
            product_id: product,
            name: p.name,
            requested: quantity,
            available: p.stock,
        }));
    }
    Ok(p.currency)
}

/// Checks a requested quantity against the per-product limit.
pub fn check_quantity(field: &str, quantity: i64, max: i32) -> Result<i32, OrderError> {
    if quantity < 1 || quantity > i64::from(max) {
        return Err(OrderError::InvalidQuantity {
            field: field.to_owned(),
            max,
        });
    }
    Ok(quantity as i32)
}

/// The most lines (distinct products) one cart holds: an order's event and its
/// e-mail stay small, and no list the API returns grows without bound.
pub const MAX_CART_LINES: i64 = 100;

/// The cart of `user`, created if need be, locked until the transaction ends.
pub async fn upsert_cart(txn: &impl ConnectionTrait, user: Uuid) -> Result<Uuid, OrderError> {
    #[derive(FromQueryResult)]
    struct Id {
        id: Uuid,
    }
    Ok(Id::find_by_statement(stmt(
        "INSERT INTO carts (id, user_id) VALUES ($1, $2)
         ON CONFLICT (user_id) DO UPDATE SET updated_at = now() RETURNING id",
        vec![Uuid::now_v7().into(), user.into()],
    ))
    .one(txn)
    .await?
    .ok_or(OrderError::Invariant("cart upsert returned nothing"))?
    .id)
}

/// Refuses `product` (priced in `currency`) when the cart holds another currency.
pub async fn check_cart_currency(
    txn: &impl ConnectionTrait,
    cart: Uuid,
    product: Uuid,
    currency: String,
) -> Result<(), OrderError> {
    #[derive(FromQueryResult)]
    struct Other {
        currency: String,
    }
    if let Some(other) = Other::find_by_statement(stmt(
        "SELECT p.currency FROM cart_items ci JOIN products p ON p.id = ci.product_id
         WHERE ci.cart_id = $1 AND ci.product_id <> $2 AND p.currency <> $3 LIMIT 1",
        vec![cart.into(), product.into(), currency.clone().into()],
    ))
    .one(txn)
    .await?
    {
        return Err(OrderError::CartCurrencyMismatch {
            product_id: product,
            currency,
            cart_currency: other.currency,
        });
    }
    Ok(())
}

/// A cart line after an add.
#[derive(FromQueryResult)]
pub struct Line {
    /// Cart item id.
    pub id: Uuid,
    /// Its quantity now.
    pub quantity: i32,
}

/// Adds `quantity` to the line of `product` (created if need be); the line now.
pub async fn upsert_line(
    txn: &impl ConnectionTrait,
    cart: Uuid,
    product: Uuid,
    quantity: i32,
) -> Result<Line, OrderError> {
    Line::find_by_statement(stmt(
        "INSERT INTO cart_items (id, cart_id, product_id, quantity) VALUES ($1, $2, $3, $4)
         ON CONFLICT (cart_id, product_id)
           DO UPDATE SET quantity = cart_items.quantity + EXCLUDED.quantity, updated_at = now()
         RETURNING id, quantity",
        vec![
            Uuid::now_v7().into(),
            cart.into(),
            product.into(),
            quantity.into(),
        ],
    ))
    .one(txn)
    .await?
    .ok_or(OrderError::Invariant("cart line upsert returned nothing"))
}

/// The number of lines of `cart`.
pub async fn line_count(txn: &impl ConnectionTrait, cart: Uuid) -> Result<i64, OrderError> {
    #[derive(FromQueryResult)]
    struct Count {
        lines: i64,
    }
    Ok(Count::find_by_statement(stmt(
        "SELECT count(*) AS lines FROM cart_items WHERE cart_id = $1",
        vec![cart.into()],
    ))
    .one(txn)
    .await?
    .map_or(0, |c| c.lines))
}

/// Sets the quantity of `product` in the cart of `user`; whether it was there.
pub async fn update_quantity(
    db: &impl ConnectionTrait,
    user: Uuid,
    product: Uuid,
    quantity: i32,
) -> Result<bool, DbErr> {
    let result = db
        .execute_raw(stmt(
            "UPDATE cart_items ci SET quantity = $3, updated_at = now() FROM carts c
             WHERE ci.cart_id = c.id AND c.user_id = $1 AND ci.product_id = $2",
            vec![user.into(), product.into(), quantity.into()],
        ))
        .await?;
    Ok(result.rows_affected() > 0)
}

/// The product of the cart line `item`, if it is in the cart of `user`.
pub async fn item_product(
    db: &impl ConnectionTrait,
    user: Uuid,
    item: Uuid,
) -> Result<Option<Uuid>, DbErr> {
    #[derive(FromQueryResult)]
    struct P {
        product_id: Uuid,
    }
    Ok(P::find_by_statement(stmt(
        "SELECT ci.product_id FROM cart_items ci JOIN carts c ON c.id = ci.cart_id WHERE ci.id = $1 AND c.user_id = $2",
        vec![item.into(), user.into()],
    ))
    .one(db)
    .await?
    .map(|p| p.product_id))
}

/// Removes `product` from the cart of `user`.
pub async fn remove(
    db: &impl ConnectionTrait,
    user: Uuid,
    product: Uuid,
) -> Result<(), OrderError> {
    let result = db
        .execute_raw(stmt(
            "DELETE FROM cart_items ci USING carts c WHERE ci.cart_id = c.id AND c.user_id = $1 AND ci.product_id = $2",
            vec![user.into(), product.into()],
        ))
        .await?;
    if result.rows_affected() == 0 {
        return Err(OrderError::UnknownCartItem);
    }
    Ok(())
}

/// Whether `user` has a cart at all.
pub async fn exists(db: &impl ConnectionTrait, user: Uuid) -> Result<bool, DbErr> {
    Ok(carts::Entity::find()
        .filter(carts::Column::UserId.eq(user))
        .count(db)
        .await?
        > 0)
}
