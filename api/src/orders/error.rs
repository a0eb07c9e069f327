//! What can go wrong with a cart, an order or an `Idempotency-Key`, as values; the
//! one mapping to the API's error shape is [`From<OrderError> for ApiError`]: the
//! status, code, message, details and headers clients (and the end-to-end tests)
//! rely on are decided there and nowhere else.

use poem::http::{StatusCode, header};
use sea_orm::DbErr;
use serde_json::json;
use uuid::Uuid;

use crate::error::ApiError;

/// A product an order could not have as many of as the cart holds.
#[derive(Debug, Clone)]
pub struct Shortage {
    /// Product id.
    pub product_id: Uuid,
    /// Its name, or `(removed product)`.
    pub name: String,
    /// Units in the cart.
    pub requested: i32,
    /// Units on sale now.
    pub available: i32,
}

/// A refusal of a cart, order or idempotency operation.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// The cart holds nothing (422 `CART_EMPTY`).
    #[error("the cart is empty")]
    CartEmpty,
    /// The cart's products are priced in more than one currency (422).
    #[error("all products of one order must share a currency")]
    MixedCurrencies,
    /// Some products lack stock (409 `INSUFFICIENT_STOCK`); nothing was written.
    #[error("not enough stock")]
    InsufficientStock(Vec<Shortage>),
    /// The buyer's account is gone (404).
    #[error("user not found")]
    UnknownUser,
    /// No such product (404).
    #[error("product not found")]
    UnknownProduct,
    /// No such line in the user's cart (404).
    #[error("cart item not found")]
    UnknownCartItem,
    /// The product is archived (409 `PRODUCT_UNAVAILABLE`).
    #[error("{name} is no longer on sale")]
    ProductUnavailable {
        /// Product id.
        product_id: Uuid,
        /// Its name.
        name: String,
    },
    /// Not that many in stock for a cart line (409 `INSUFFICIENT_STOCK`).
    #[error("only {} of {} in stock", .0.available, .0.name)]
    NotInStock(Shortage),
    /// The product's currency differs from the cart's (409).
    #[error("the cart holds products in {cart_currency}")]
    CartCurrencyMismatch {
        /// Product id.
        product_id: Uuid,
        /// The product's currency.
        currency: String,
        /// The cart's currency.
        cart_currency: String,
    },
    /// A requested quantity outside `1..=max` (400 `VALIDATION_ERROR` on `field`).
    #[error("{field}: must be between 1 and {max}")]
    InvalidQuantity {
        /// The field at fault.
        field: String,
        /// The per-product limit.
        max: i32,
    },
    /// The line would pass the per-product limit (409 `QUANTITY_LIMIT`).
    #[error("at most {max} of one product per cart")]
    QuantityLimit {
        /// The per-product limit.
        max: i32,
        /// The quantity the line would reach.
        would_be: i32,
    },
    /// The cart holds too many different products (409 `CART_FULL`).
    #[error("the cart is full")]
    CartFull,
    /// An `Idempotency-Key` that is not 1 to 255 printable ASCII characters (400).
    #[error("invalid Idempotency-Key")]
    InvalidIdempotencyKey,
    /// The key vanished between the claim and its read (409, no `Retry-After`).
    #[error("the Idempotency-Key vanished; retry")]
    IdempotencyKeyVanished,
    /// Another request holds the key (409 with `Retry-After: 1`).
    #[error("a request with this Idempotency-Key is still being processed")]
    IdempotencyInProgress,
    /// The key was used with another body (422).
    #[error("this Idempotency-Key was used with a different request body")]
    IdempotencyKeyReused,
    /// No such order, or not the caller's (404).
    #[error("order not found")]
    UnknownOrder,
    /// The order is not in a state this transition starts from (409
    /// `ORDER_STATE_CONFLICT`); `current` is its state now.
    #[error("the order is {current}")]
    StateConflict {
        /// The transition asked for (`cancel`, `ship`, ...).
        action: &'static str,
        /// The order's state now.
        current: String,
        /// A refund asked of a cancelled order that was never paid.
        never_paid: bool,
    },
    /// An order needs a shipping address and none was named nor set as default (422
    /// `VALIDATION_ERROR` on `shipping_address_id`).
    #[error("no shipping address")]
    NoShippingAddress {
        /// Whether an id was named (and is not one of the buyer's addresses).
        named: bool,
    },
    /// A statement returned nothing where it must return a row (500).
    #[error("{0}")]
    Invariant(&'static str),
    /// The database failed (503 when unreachable, else 500).
    #[error(transparent)]
    Db(#[from] DbErr),
}

fn shortage_json(s: &Shortage) -> serde_json::Value {
    json!({
        "product_id": s.product_id, "name": s.name, "requested": s.requested, "available": s.available
    })
}

impl From<OrderError> for ApiError {
    fn from(err: OrderError) -> Self {
        use OrderError as E;
        let conflict = |code, message: String| ApiError::new(StatusCode::CONFLICT, code, message);
        match err {
            E::CartEmpty => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "CART_EMPTY",
                "the cart is empty",
            ),
            E::MixedCurrencies => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "MIXED_CURRENCIES",
                "all products of one order must share a currency",
            ),
            E::InsufficientStock(shortages) => insufficient_stock(&shortages),
            E::UnknownUser => ApiError::not_found("user"),
            E::UnknownProduct => ApiError::not_found("product"),
            E::UnknownCartItem => ApiError::not_found("cart item"),
            E::ProductUnavailable { product_id, name } => conflict(
                "PRODUCT_UNAVAILABLE",
                format!("{name} is no longer on sale"),
            )
            .with_details(json!({ "product_id": product_id })),
            E::NotInStock(s) => conflict(
                "INSUFFICIENT_STOCK",
                format!("only {} of {} in stock", s.available, s.name),
            )
            .with_details(json!({ "products": [shortage_json(&s)] })),
            E::CartCurrencyMismatch {
                product_id,
                currency,
                cart_currency,
            } => currency_mismatch(product_id, &currency, &cart_currency),
            E::InvalidQuantity { field, max } => {
                ApiError::validation(&field, format!("must be between 1 and {max}"))
            }
            E::QuantityLimit { max, would_be } => conflict(
                "QUANTITY_LIMIT",
                format!("at most {max} of one product per cart (this would make {would_be})"),
            )
            .with_details(json!({ "field": "quantity", "max": max, "would_be": would_be })),
            E::CartFull => conflict(
                "CART_FULL",
                format!(
                    "a cart holds at most {} different products",
                    super::cart::MAX_CART_LINES
                ),
            )
            .with_details(json!({ "max_lines": super::cart::MAX_CART_LINES })),
            E::InvalidIdempotencyKey => ApiError::validation(
                "Idempotency-Key",
                "must be 1 to 255 printable ASCII characters",
            ),
            E::IdempotencyKeyVanished => {
                conflict("IDEMPOTENCY_IN_PROGRESS", "retry in a moment".to_owned())
            }
            E::IdempotencyInProgress => idempotency_in_progress(),
            E::IdempotencyKeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "IDEMPOTENCY_KEY_REUSED",
                "this Idempotency-Key was used with a different request body",
            ),
            E::UnknownOrder => ApiError::not_found("order"),
            E::StateConflict {
                action,
                current,
                never_paid,
            } => conflict(
                "ORDER_STATE_CONFLICT",
                if never_paid {
                    format!("cannot {action} this order: it was cancelled before it was paid")
                } else {
                    format!("cannot {action} this order: it is {current}")
                },
            )
            .with_details(json!({ "current_status": current, "action": action })),
            E::NoShippingAddress { named } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "SHIPPING_ADDRESS_REQUIRED",
                if named {
                    "shipping_address_id: is not one of your addresses"
                } else {
                    "shipping_address_id: an order needs a shipping address; name one, or add \
                     one (POST /api/me/addresses)"
                },
            )
            .with_details(json!({ "field": "shipping_address_id" })),
            E::Invariant(what) => ApiError::internal(what),
            E::Db(e) => ApiError::from(e),
        }
    }
}

/// 409 naming every product short of stock and what is left of it.
fn insufficient_stock(shortages: &[Shortage]) -> ApiError {
    let names: Vec<String> = shortages
        .iter()
        .map(|s| {
            format!(
                "{} (requested {}, available {})",
                s.name, s.requested, s.available
            )
        })
        .collect();
    let products: Vec<_> = shortages.iter().map(shortage_json).collect();
    ApiError::new(
        StatusCode::CONFLICT,
        "INSUFFICIENT_STOCK",
        format!("not enough stock: {}", names.join("; ")),
    )
    .with_details(json!({ "products": products }))
}

fn currency_mismatch(product_id: Uuid, currency: &str, cart_currency: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "CART_CURRENCY_MISMATCH",
        format!(
            "this product is priced in {currency} and the cart holds products in {cart_currency}; one order is paid in one currency"
        ),
    )
    .with_details(json!({ "product_id": product_id, "currency": currency, "cart_currency": cart_currency }))
}

fn idempotency_in_progress() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "IDEMPOTENCY_IN_PROGRESS",
        "a request with this Idempotency-Key is still being processed",
    )
    .with_header(header::RETRY_AFTER, "1")
}

#[cfg(test)]
mod tests;
