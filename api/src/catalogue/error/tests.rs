//! The one mapping of catalogue refusals gives the statuses, codes, messages and
//! details the API has always sent.

use serde_json::json;
use uuid::Uuid;

use super::CatalogueError;
use crate::error::ApiError;

#[test]
fn a_stale_version_is_409_naming_the_current_one() {
    let e = ApiError::from(CatalogueError::VersionConflict { current: 4 });
    assert_eq!(e.status.as_u16(), 409);
    assert_eq!(e.code, "VERSION_CONFLICT");
    assert_eq!(e.details, json!({ "current_version": 4 }));
}

#[test]
fn stock_limits_are_409_below_zero_and_422_above_the_maximum() {
    let below = ApiError::from(CatalogueError::StockBelowZero {
        product_id: Uuid::nil(),
        available: 2,
    });
    assert_eq!(below.status.as_u16(), 409);
    assert_eq!(below.message, "only 2 in stock; stock cannot go below zero");
    let above = ApiError::from(CatalogueError::StockLimit {
        product_id: Uuid::nil(),
        stock: 7,
    });
    assert_eq!(above.status.as_u16(), 422);
    assert_eq!(above.code, "STOCK_LIMIT");
    assert_eq!(above.details["field"], "delta");
}

#[test]
fn a_field_problem_is_a_validation_error() {
    let e = ApiError::from(CatalogueError::from(("name", "is required".to_owned())));
    assert_eq!(e.status.as_u16(), 400);
    assert_eq!(e.code, "VALIDATION_ERROR");
    assert_eq!(e.message, "name: is required");
}
