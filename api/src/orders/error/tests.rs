//! The one mapping of order refusals gives the statuses, codes, messages, details
//! and headers the API has always sent.

use poem::http::header;
use serde_json::json;
use uuid::Uuid;

use super::{OrderError, Shortage};
use crate::error::ApiError;

fn tea(requested: i32, available: i32) -> Shortage {
    Shortage {
        product_id: Uuid::nil(),
        name: "Tea".into(),
        requested,
        available,
    }
}

#[test]
fn an_empty_cart_is_422_cart_empty() {
    let e = ApiError::from(OrderError::CartEmpty);
    assert_eq!(e.status.as_u16(), 422);
    assert_eq!(e.code, "CART_EMPTY");
    assert_eq!(e.message, "the cart is empty");
    assert_eq!(e.details, json!({}));
}

#[test]
fn missing_stock_names_every_product_and_what_is_left() {
    let e = ApiError::from(OrderError::InsufficientStock(vec![tea(3, 1), tea(2, 0)]));
    assert_eq!(e.status.as_u16(), 409);
    assert_eq!(e.code, "INSUFFICIENT_STOCK");
    assert_eq!(
        e.message,
        "not enough stock: Tea (requested 3, available 1); Tea (requested 2, available 0)"
    );
    assert_eq!(
        e.details,
        json!({ "products": [
            { "product_id": Uuid::nil(), "name": "Tea", "requested": 3, "available": 1 },
            { "product_id": Uuid::nil(), "name": "Tea", "requested": 2, "available": 0 },
        ] })
    );
}

#[test]
fn a_cart_line_short_of_stock_is_409_with_one_product() {
    let e = ApiError::from(OrderError::NotInStock(tea(5, 2)));
    assert_eq!(e.status.as_u16(), 409);
    assert_eq!(e.message, "only 2 of Tea in stock");
    assert_eq!(e.details["products"][0]["requested"], 5);
}

#[test]
fn a_key_in_use_is_409_with_retry_after_and_a_vanished_one_without() {
    let busy = ApiError::from(OrderError::IdempotencyInProgress);
    assert_eq!(busy.status.as_u16(), 409);
    assert_eq!(busy.code, "IDEMPOTENCY_IN_PROGRESS");
    assert_eq!(busy.headers, vec![(header::RETRY_AFTER, "1".to_owned())]);
    let vanished = ApiError::from(OrderError::IdempotencyKeyVanished);
    assert_eq!(vanished.message, "retry in a moment");
    assert!(vanished.headers.is_empty());
}

#[test]
fn a_bad_quantity_or_key_is_a_validation_error_naming_the_field() {
    let e = ApiError::from(OrderError::InvalidQuantity {
        field: "quantity".into(),
        max: 10,
    });
    assert_eq!(e.status.as_u16(), 400);
    assert_eq!(e.code, "VALIDATION_ERROR");
    assert_eq!(e.message, "quantity: must be between 1 and 10");
    let e = ApiError::from(OrderError::InvalidIdempotencyKey);
    assert_eq!(e.details["field"], "Idempotency-Key");
}

#[test]
fn a_lost_race_is_409_order_state_conflict_naming_the_state_now() {
    let e = ApiError::from(OrderError::StateConflict {
        action: "cancel",
        current: "shipped".into(),
        never_paid: false,
    });
    assert_eq!(e.status.as_u16(), 409);
    assert_eq!(e.code, "ORDER_STATE_CONFLICT");
    assert_eq!(e.message, "cannot cancel this order: it is shipped");
    assert_eq!(
        e.details,
        json!({ "current_status": "shipped", "action": "cancel" })
    );
    let e = ApiError::from(OrderError::StateConflict {
        action: "refund",
        current: "cancelled".into(),
        never_paid: true,
    });
    assert_eq!(
        e.message,
        "cannot refund this order: it was cancelled before it was paid"
    );
}

#[test]
fn an_order_without_an_address_is_422_naming_the_field() {
    for named in [false, true] {
        let e = ApiError::from(OrderError::NoShippingAddress { named });
        assert_eq!(e.status.as_u16(), 422);
        assert_eq!(e.code, "SHIPPING_ADDRESS_REQUIRED");
        assert_eq!(e.details, json!({ "field": "shipping_address_id" }));
        assert!(
            e.message.starts_with("shipping_address_id: "),
            "{}",
            e.message
        );
    }
    assert_eq!(
        ApiError::from(OrderError::UnknownOrder).status.as_u16(),
        404
    );
}
