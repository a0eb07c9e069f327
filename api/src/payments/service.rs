//! Payment use cases that own their transaction: a provider's webhook event, an
//! admin's manual payment, and starting a payment at the provider.

use std::time::Duration;

use sea_orm::{DatabaseConnection, TransactionTrait};
use uuid::Uuid;

use super::{
    error::PaymentError,
    event::{self, Event, PaidEvent, UnusableEvent},
    provider::{PaymentProvider, PaymentRequest, StartedPayment},
    repo::{self, NewPayment, PaymentStatus},
    signature,
};
use crate::orders::{
    error::OrderError,
    lifecycle::{self, Actor, Change, Moved, Transition},
};

/// The provider name Stripe's payments are stored under.
pub const STRIPE: &str = "stripe";
/// The provider name of payments an admin records by hand.
pub const MANUAL: &str = "manual";

/// What a genuine webhook event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// The order is paid now.
    Paid {
        /// The order.
        order_id: Uuid,
    },
    /// An event type the shop does not act on; nothing was written.
    Ignored {
        /// The event's type.
        kind: String,
    },
}

/// A Stripe webhook call as it arrived.
pub struct StripeCall<'a> {
    /// The endpoint's signing secret.
    pub secret: &'a str,
    /// How far the signed timestamp may be from `now`.
    pub tolerance: Duration,
    /// Unix seconds.
    pub now: i64,
    /// The `Stripe-Signature` header, if any.
    pub signature: Option<&'a str>,
    /// The raw body, exactly as received.
    pub body: &'a [u8],
    /// The request's id, for the order's history.
    pub request_id: Option<String>,
}

/// Verifies a Stripe webhook call and acts on its event. Refused signatures and
/// unusable events write nothing; a mismatched payment or one for an order that is no
/// longer pending is recorded (`mismatched`, `refused`) and committed, then answered
/// as the error it is.
pub async fn receive_stripe(
    db: &DatabaseConnection,
    call: StripeCall<'_>,
) -> Result<Received, PaymentError> {
    signature::verify(
        call.signature,
        call.body,
        call.secret,
        call.tolerance,
        call.now,
    )?;
    let json: serde_json::Value =
        serde_json::from_slice(call.body).map_err(|_| PaymentError::NotJson)?;
    match event::parse(&json)? {
        Event::Ignored(kind) => {
            tracing::info!(kind, "payment webhook event ignored");
            Ok(Received::Ignored { kind })
        }
        Event::Paid(paid) => record(db, &paid, call.request_id).await,
    }
}

/// Records `paid` against its order in one transaction; see [`receive_stripe`].
async fn record(
    db: &DatabaseConnection,
    paid: &PaidEvent,
    request_id: Option<String>,
) -> Result<Received, PaymentError> {
    let txn = db.begin().await?;
    let order = repo::lock_order(&txn, paid.order_id)
        .await?
        .ok_or(UnusableEvent {
            field: "data.object.metadata.order_id",
            problem: "no such order",
        })?;
    // Under the order's lock: a concurrent copy of this event waits for ours to
    // commit and then sees it here.
    if repo::event_seen(&txn, STRIPE, &paid.event_id).await? {
        return Err(duplicate(paid));
    }
    let mismatch = (paid.amount_cents != order.total_cents
        || !paid.currency.eq_ignore_ascii_case(&order.currency))
    .then(|| PaymentError::Mismatch {
        expected_cents: order.total_cents,
        expected_currency: order.currency.clone(),
        got_cents: paid.amount_cents,
        got_currency: paid.currency.clone(),
    });
    let (status, refusal) = match mismatch {
        Some(m) => (PaymentStatus::Mismatched, Some(m)),
        None if order.status != "pending" => (
            PaymentStatus::Refused,
            Some(PaymentError::Order(OrderError::StateConflict {
                action: Transition::Pay.verb(),
                current: order.status.clone(),
                never_paid: false,
            })),
        ),
        None => (PaymentStatus::Succeeded, None),
    };
    let inserted = repo::insert(
        &txn,
        NewPayment {
            order_id: paid.order_id,
            provider: STRIPE,
            provider_ref: Some(&paid.reference),
            provider_event_id: Some(&paid.event_id),
            amount_cents: paid.amount_cents,
            currency: &paid.currency,
            status,
            detail: refusal.as_ref().map(ToString::to_string),
        },
    )
    .await;
    if let Err(e) = inserted {
        return Err(match repo::violated_constraint(&e).as_deref() {
            Some("payments_event_once") => duplicate(paid),
            _ => e.into(),
        });
    }
    if refusal.is_none() {
        let reason = format!("{STRIPE} {}", paid.reference);
        lifecycle::apply(
            &txn,
            paid.order_id,
            Change {
                transition: Transition::Pay,
                actor: Actor::Provider,
                reason: Some(&reason),
                request_id,
                owner: None,
            },
        )
        .await?;
    }
    txn.commit().await?;
    match refusal {
        Some(refusal) => {
            tracing::warn!(
                order_id = %paid.order_id,
                event_id = %paid.event_id,
                reason = %refusal,
                "a payment was recorded but did not pay its order"
            );
            Err(refusal)
        }
        None => {
            tracing::info!(order_id = %paid.order_id, event_id = %paid.event_id, "order paid");
            Ok(Received::Paid {
                order_id: paid.order_id,
            })
        }
    }
}

fn duplicate(paid: &PaidEvent) -> PaymentError {
    tracing::info!(event_id = %paid.event_id, "payment webhook event received again");
    PaymentError::Duplicate {
        event_id: paid.event_id.clone(),
    }
}

/// The longest reference an admin may give a manual payment.
pub const MAX_REFERENCE_CHARS: usize = 200;

/// An admin's reference for a manual payment (a bank transfer's, a receipt's),
/// trimmed; blank is none.
pub fn parse_reference(raw: Option<&str>) -> Result<Option<String>, PaymentError> {
    let reference = raw.map(str::trim).filter(|r| !r.is_empty());
    match reference {
        Some(r) if r.chars().count() > MAX_REFERENCE_CHARS => Err(PaymentError::InvalidReference),
        r => Ok(r.map(str::to_owned)),
    }
}

/// Marks order `order` paid by hand (cash, a bank transfer), as `admin`: the move and
/// a `manual` payment of the order's total commit together.
pub async fn mark_paid(
    db: &DatabaseConnection,
    order: Uuid,
    admin: Uuid,
    reference: Option<&str>,
    request_id: Option<String>,
) -> Result<Moved, PaymentError> {
    let txn = db.begin().await?;
    let moved = lifecycle::apply(
        &txn,
        order,
        Change {
            transition: Transition::Pay,
            actor: Actor::Admin(admin),
            reason: reference,
            request_id,
            owner: None,
        },
    )
    .await?;
    repo::insert(
        &txn,
        NewPayment {
            order_id: order,
            provider: MANUAL,
            provider_ref: reference,
            provider_event_id: None,
            amount_cents: moved.total_cents,
            currency: &moved.currency.to_ascii_uppercase(),
            status: PaymentStatus::Succeeded,
            detail: None,
        },
    )
    .await?;
    txn.commit().await?;
    tracing::info!(order_id = %order, admin = %admin, "order marked paid by hand");
    Ok(moved)
}

/// Starts paying `order` of `buyer` at `provider`: their own pending order only.
/// Nothing is written; the webhook records the payment when it succeeds.
pub async fn start(
    db: &DatabaseConnection,
    provider: Option<&impl PaymentProvider>,
    order: Uuid,
    buyer: Uuid,
) -> Result<StartedPayment, PaymentError> {
    let found = repo::buyers_order(db, order, buyer)
        .await?
        .ok_or(OrderError::UnknownOrder)?;
    if found.status != "pending" {
        return Err(OrderError::StateConflict {
            action: Transition::Pay.verb(),
            current: found.status,
            never_paid: false,
        }
        .into());
    }
    let provider = provider.ok_or(PaymentError::NotConfigured)?;
    let started = provider
        .create_payment(&PaymentRequest {
            order_id: order,
            amount_cents: found.total_cents,
            currency: found.currency,
        })
        .await?;
    tracing::info!(order_id = %order, provider = provider.name(), provider_ref = %started.provider_ref, "payment started");
    Ok(started)
}

#[cfg(test)]
mod tests {
    use super::{MAX_REFERENCE_CHARS, parse_reference};

    #[test]
    fn a_reference_is_trimmed_blank_is_none_and_over_200_characters_is_refused() {
        assert_eq!(parse_reference(None).ok(), Some(None));
        assert_eq!(parse_reference(Some("  ")).ok(), Some(None));
        assert_eq!(
            parse_reference(Some(" wire 42 ")).ok(),
            Some(Some("wire 42".to_owned()))
        );
        let longest = "é".repeat(MAX_REFERENCE_CHARS);
        assert_eq!(
            parse_reference(Some(&longest)).ok(),
            Some(Some(longest.clone()))
        );
        assert!(parse_reference(Some(&format!("{longest}x"))).is_err());
    }
}
