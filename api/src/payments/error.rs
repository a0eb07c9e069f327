//! What can go wrong with a payment, as values; the one mapping to the API's error
//! shape is [`From<PaymentError> for ApiError`]. Order-state refusals
//! (`ORDER_STATE_CONFLICT`, an unknown order) are the orders' own
//! [`OrderError`]s, mapped where those are.

use poem::http::StatusCode;
use serde_json::json;

use super::{event::UnusableEvent, provider::ProviderError, signature::SignatureError};
use crate::{error::ApiError, orders::error::OrderError};

/// A refusal of a webhook call or a payment operation.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// No such provider, or it is not configured here (404 `NOT_FOUND`).
    #[error("no such payment provider")]
    UnknownProvider,
    /// The webhook's signature was refused (400 `WEBHOOK_SIGNATURE_INVALID`);
    /// nothing was written.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// A genuine event whose body is not JSON (400 `INVALID_BODY`).
    #[error("the event is not JSON")]
    NotJson,
    /// A genuine event that cannot pay an order: no usable order id, amount or
    /// currency, or an order that does not exist (422 `WEBHOOK_EVENT_INVALID`).
    #[error(transparent)]
    Unusable(#[from] UnusableEvent),
    /// This provider event was handled before (409 `WEBHOOK_DUPLICATE`); nothing
    /// changed.
    #[error("event {event_id} was already received")]
    Duplicate {
        /// The provider's event id.
        event_id: String,
    },
    /// The amount or currency paid is not the order's (422 `PAYMENT_MISMATCH`); the
    /// payment is recorded `mismatched`, the order did not move.
    #[error("paid {got_cents} {got_currency}, the order is {expected_cents} {expected_currency}")]
    Mismatch {
        /// The order's total.
        expected_cents: i64,
        /// The order's currency.
        expected_currency: String,
        /// The amount paid.
        got_cents: i64,
        /// The currency paid in.
        got_currency: String,
    },
    /// A `reference` that is blank or over 200 characters (400 `VALIDATION_ERROR`).
    #[error("reference: must be 1 to 200 characters")]
    InvalidReference,
    /// No provider to start payments with (503 `PAYMENTS_NOT_CONFIGURED`).
    #[error("payments are not configured")]
    NotConfigured,
    /// The provider could not be reached or refused (502
    /// `PAYMENT_PROVIDER_UNAVAILABLE`).
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The order refused the move (404, 409 `ORDER_STATE_CONFLICT`), or the
    /// database failed.
    #[error(transparent)]
    Order(#[from] OrderError),
}

impl From<sea_orm::DbErr> for PaymentError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Order(OrderError::Db(err))
    }
}

impl From<PaymentError> for ApiError {
    fn from(err: PaymentError) -> Self {
        use PaymentError as E;
        match err {
            E::UnknownProvider => ApiError::not_found("payment provider"),
            E::Signature(e) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "WEBHOOK_SIGNATURE_INVALID",
                format!("the webhook signature was refused: {e}"),
            )
            .with_details(json!({ "reason": e.reason() })),
            E::NotJson => ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_BODY",
                "the event is not JSON",
            ),
            E::Unusable(u) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "WEBHOOK_EVENT_INVALID",
                format!("the event cannot pay an order: {u}"),
            )
            .with_details(json!({ "field": u.field, "problem": u.problem })),
            E::Duplicate { event_id } => ApiError::new(
                StatusCode::CONFLICT,
                "WEBHOOK_DUPLICATE",
                format!("event {event_id} was already received; nothing changed"),
            )
            .with_details(json!({ "event_id": event_id })),
            E::Mismatch {
                expected_cents,
                expected_currency,
                got_cents,
                got_currency,
            } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "PAYMENT_MISMATCH",
                format!(
                    "the payment ({got_cents} {got_currency}) is not the order's total \
                     ({expected_cents} {expected_currency}); the order stays pending"
                ),
            )
            .with_details(json!({
                "expected": { "amount_cents": expected_cents, "currency": expected_currency },
                "got": { "amount_cents": got_cents, "currency": got_currency },
            })),
            E::InvalidReference => ApiError::validation("reference", "must be 1 to 200 characters"),
            E::NotConfigured => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "PAYMENTS_NOT_CONFIGURED",
                "no payment provider is configured on this shop",
            ),
            E::Provider(e) => {
                // Logged here, where it is handled: the provider's words stay inside.
                tracing::warn!(error = %e, "the payment provider failed");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "PAYMENT_PROVIDER_UNAVAILABLE",
                    "the payment provider could not be reached or refused; try again shortly",
                )
            }
            E::Order(e) => ApiError::from(e),
        }
    }
}

#[cfg(test)]
mod tests;
