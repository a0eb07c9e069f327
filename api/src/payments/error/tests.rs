//! The one mapping of payment refusals: statuses, codes and details clients and
//! providers see, and nothing of a secret or the provider's own words.

use serde_json::json;

use super::PaymentError;
use crate::{
    error::ApiError,
    payments::{event::UnusableEvent, provider::ProviderError, signature::SignatureError},
};

fn mapped(e: PaymentError) -> ApiError {
    ApiError::from(e)
}

#[test]
fn each_refused_signature_is_400_naming_only_its_reason() {
    for (e, reason) in [
        (SignatureError::Missing, "missing"),
        (SignatureError::Malformed, "malformed"),
        (SignatureError::Expired, "expired"),
        (SignatureError::Mismatch, "mismatch"),
    ] {
        let api = mapped(e.into());
        assert_eq!(api.status.as_u16(), 400);
        assert_eq!(api.code, "WEBHOOK_SIGNATURE_INVALID");
        assert_eq!(api.details, json!({ "reason": reason }));
    }
}

#[test]
fn a_mismatch_is_422_naming_expected_and_got() {
    let api = mapped(PaymentError::Mismatch {
        expected_cents: 2500,
        expected_currency: "USD".into(),
        got_cents: 2400,
        got_currency: "EUR".into(),
    });
    assert_eq!(api.status.as_u16(), 422);
    assert_eq!(api.code, "PAYMENT_MISMATCH");
    assert_eq!(
        api.details,
        json!({
            "expected": {"amount_cents": 2500, "currency": "USD"},
            "got": {"amount_cents": 2400, "currency": "EUR"},
        })
    );
    assert!(api.message.contains("2400 EUR") && api.message.contains("2500 USD"));
}

#[test]
fn a_duplicate_is_409_an_unusable_event_422_an_unknown_provider_404() {
    let api = mapped(PaymentError::Duplicate {
        event_id: "evt_1".into(),
    });
    assert_eq!((api.status.as_u16(), api.code), (409, "WEBHOOK_DUPLICATE"));
    assert_eq!(api.details, json!({ "event_id": "evt_1" }));
    let api = mapped(
        UnusableEvent {
            field: "data.object.currency",
            problem: "must be a three-letter ISO 4217 code",
        }
        .into(),
    );
    assert_eq!(
        (api.status.as_u16(), api.code),
        (422, "WEBHOOK_EVENT_INVALID")
    );
    assert_eq!(api.details["field"], "data.object.currency");
    let api = mapped(PaymentError::UnknownProvider);
    assert_eq!((api.status.as_u16(), api.code), (404, "NOT_FOUND"));
}

#[test]
fn provider_failures_are_502_without_the_providers_words_and_no_provider_is_503() {
    let api = mapped(
        ProviderError::Refused {
            status: 401,
            kind: "sk_live_leaked_in_an_error".into(),
        }
        .into(),
    );
    assert_eq!(
        (api.status.as_u16(), api.code),
        (502, "PAYMENT_PROVIDER_UNAVAILABLE")
    );
    assert!(!api.message.contains("sk_live"));
    assert_eq!(api.details, json!({}));
    let api = mapped(PaymentError::NotConfigured);
    assert_eq!(
        (api.status.as_u16(), api.code),
        (503, "PAYMENTS_NOT_CONFIGURED")
    );
}

#[test]
fn a_reference_over_200_characters_is_a_validation_error_on_reference() {
    let api = mapped(PaymentError::InvalidReference);
    assert_eq!((api.status.as_u16(), api.code), (400, "VALIDATION_ERROR"));
    assert_eq!(api.details["field"], "reference");
}
