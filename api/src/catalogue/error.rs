//! What can go wrong with a catalogue operation, as values; the one mapping to the
//! API's error shape is [`From<CatalogueError> for ApiError`]: statuses, codes,
//! messages, details and headers are decided there and nowhere else.

use poem::http::StatusCode;
use sea_orm::DbErr;
use serde_json::json;
use uuid::Uuid;

use super::{
    images::MAX_IMAGE_BYTES,
    model::{FieldError, MAX_STOCK_LEVEL, ProductStatus, Transition},
};
use crate::error::ApiError;

/// A refusal or failure of a catalogue operation.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// A field is not valid (400 `VALIDATION_ERROR` naming it).
    #[error("{field}: {problem}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// An image over [`MAX_IMAGE_BYTES`] (413 `IMAGE_TOO_LARGE`).
    #[error("{field}: image too large")]
    ImageTooLarge {
        /// The form field.
        field: String,
        /// Its size.
        size_bytes: usize,
    },
    /// Not a JPEG, PNG or WebP image (415 `UNSUPPORTED_IMAGE_TYPE`).
    #[error("{field}: unsupported image type")]
    UnsupportedImageType {
        /// The form field.
        field: String,
    },
    /// An uploaded file could not be read (400 `INVALID_MULTIPART`).
    #[error("images: {0}")]
    UnreadableUpload(String),
    /// No such product (404).
    #[error("product not found")]
    ProductNotFound,
    /// The product changed since the client read it (409 `VERSION_CONFLICT`).
    #[error("stale product version; now {current}")]
    VersionConflict {
        /// The current version.
        current: i32,
    },
    /// The product is not in a state the transition starts from (409
    /// `PRODUCT_STATE_CONFLICT` naming its status now).
    #[error("cannot {} a product that is {}", .transition.verb(), .current.as_str())]
    StateConflict {
        /// The transition asked for.
        transition: Transition,
        /// The product's status now.
        current: ProductStatus,
    },
    /// The stock would go below zero (409 `INSUFFICIENT_STOCK`).
    #[error("only {available} in stock")]
    StockBelowZero {
        /// Product id.
        product_id: Uuid,
        /// The current stock.
        available: i32,
    },
    /// The stock would pass [`MAX_STOCK_LEVEL`] (422 `STOCK_LIMIT`).
    #[error("stock {stock} cannot grow further")]
    StockLimit {
        /// Product id.
        product_id: Uuid,
        /// The current stock.
        stock: i32,
    },
    /// Something that must hold did not (500; the cause is logged, never sent).
    #[error("{0}")]
    Invariant(String),
    /// The database failed (503 when unreachable, else 500).
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<FieldError> for CatalogueError {
    fn from((field, problem): FieldError) -> Self {
        Self::Invalid { field, problem }
    }
}

impl From<CatalogueError> for ApiError {
    fn from(err: CatalogueError) -> Self {
        use CatalogueError as E;
        match err {
            E::Invalid { field, problem } => ApiError::validation(field, problem),
            E::ImageTooLarge { field, size_bytes } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "IMAGE_TOO_LARGE",
                format!("{field}: images are limited to {MAX_IMAGE_BYTES} bytes"),
            )
            .with_details(
                json!({ "field": field, "limit_bytes": MAX_IMAGE_BYTES, "size_bytes": size_bytes }),
            ),
            E::UnsupportedImageType { field } => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_IMAGE_TYPE",
                format!("{field}: only JPEG, PNG and WebP images are accepted"),
            )
            .with_details(
                json!({ "field": field, "accepted": ["image/jpeg", "image/png", "image/webp"] }),
            ),
            E::UnreadableUpload(e) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_MULTIPART",
                format!("images: {e}"),
            ),
            E::ProductNotFound => ApiError::not_found("product"),
            E::VersionConflict { current } => ApiError::new(
                StatusCode::CONFLICT,
                "VERSION_CONFLICT",
                "the product changed since you read it; reload and retry",
            )
            .with_details(json!({ "current_version": current })),
            E::StateConflict {
                transition,
                current,
            } => ApiError::new(
                StatusCode::CONFLICT,
                "PRODUCT_STATE_CONFLICT",
                format!(
                    "cannot {} this product: it is {}",
                    transition.verb(),
                    current.as_str()
                ),
            )
            .with_details(json!({
                "current_status": current.as_str(),
                "action": transition.verb(),
                "allowed_from": transition.from().iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            })),
            E::StockBelowZero {
                product_id,
                available,
            } => ApiError::new(
                StatusCode::CONFLICT,
                "INSUFFICIENT_STOCK",
                format!("only {available} in stock; stock cannot go below zero"),
            )
            .with_details(json!({ "product_id": product_id, "available": available })),
            E::StockLimit { product_id, stock } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "STOCK_LIMIT",
                format!("stock is {stock}; it cannot go above {MAX_STOCK_LEVEL}"),
            )
            .with_details(json!({
                "field": "delta",
                "product_id": product_id,
                "stock": stock,
                "max": MAX_STOCK_LEVEL,
            })),
            E::Invariant(what) => ApiError::internal(what),
            E::Db(e) => ApiError::from(e),
        }
    }
}

#[cfg(test)]
mod tests;
