//! A verified Stripe event, read into what the shop acts on. Only two event types
//! pay an order; every other genuine type is acknowledged and ignored.
//!
//! - `payment_intent.succeeded`: `data.object` is a PaymentIntent (`pi_…`); the amount
//!   is `amount_received` (what was captured), else `amount`; the order id is
//!   `metadata.order_id`, which `StripeProvider` sets when it creates the intent.
//! - `checkout.session.completed` with `payment_status: "paid"`, and
//!   `checkout.session.async_payment_succeeded` (a delayed method that paid later):
//!   `data.object` is a Checkout Session (`cs_…`); the amount is `amount_total`; the
//!   order id is `metadata.order_id`, else `client_reference_id`. A session completed
//!   while its payment is still `unpaid` (SEPA, ACH) pays nothing yet.
//!
//! Amounts are in the currency's minor unit, as the shop stores them; Stripe's
//! currency is lowercase ISO 4217 and is kept uppercase here, as the shop stores it.

use serde_json::Value;
use uuid::Uuid;

/// A genuine event that cannot pay anything: which field is at fault, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct UnusableEvent {
    /// The field, as a path in the event (`data.object.metadata.order_id`).
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// A payment a provider says happened, for one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidEvent {
    /// The provider's event id (`evt_…`): the dedupe key.
    pub event_id: String,
    /// The provider's payment object (`pi_…`, `cs_…`).
    pub reference: String,
    /// The order it pays.
    pub order_id: Uuid,
    /// Amount paid, in minor units.
    pub amount_cents: i64,
    /// Currency, uppercase ISO 4217.
    pub currency: String,
}

/// What a verified event asks of the shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An order was paid.
    Paid(PaidEvent),
    /// A type the shop does not act on (named, for the log).
    Ignored(String),
}

/// Reads a verified Stripe event (parsed JSON).
pub fn parse(event: &Value) -> Result<Event, UnusableEvent> {
    let unusable = |field, problem| UnusableEvent { field, problem };
    let kind = event["type"]
        .as_str()
        .ok_or(unusable("type", "is required"))?;
    let (amount_fields, order_fields): (&[&str], &[&str]) = match kind {
        "payment_intent.succeeded" => (&["amount_received", "amount"], &["metadata"]),
        // A session completes before a delayed method (SEPA, ACH) has paid: only a
        // session whose `payment_status` is `paid` pays; the others are paid (or not)
        // by their `checkout.session.async_payment_succeeded` later.
        "checkout.session.completed" if event["data"]["object"]["payment_status"] != "paid" => {
            return Ok(Event::Ignored(format!("{kind} (payment_status not paid)")));
        }
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            (&["amount_total"], &["metadata", "client_reference_id"])
        }
        other => return Ok(Event::Ignored(other.to_owned())),
    };
    let event_id = text(&event["id"], 255).ok_or(unusable("id", "is required"))?;
    let object = &event["data"]["object"];
    let reference = text(&object["id"], 255).ok_or(unusable("data.object.id", "is required"))?;
    let order_id = order_fields
        .iter()
        .find_map(|f| match *f {
            "metadata" => object["metadata"]["order_id"].as_str(),
            other => object[other].as_str(),
        })
        .ok_or(unusable(
            "data.object.metadata.order_id",
            "no order id in the metadata (nor in client_reference_id)",
        ))?;
    let order_id = Uuid::parse_str(order_id.trim()).map_err(|_| {
        unusable(
            "data.object.metadata.order_id",
            "is not an order id (a UUID)",
        )
    })?;
    let amount_cents = amount_fields
        .iter()
        .find_map(|f| object[*f].as_i64())
        .ok_or(unusable("data.object.amount", "is required"))?;
    if amount_cents < 0 {
        return Err(unusable("data.object.amount", "must not be negative"));
    }
    let currency = object["currency"]
        .as_str()
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()))
        .ok_or(unusable(
            "data.object.currency",
            "must be a three-letter ISO 4217 code",
        ))?
        .to_ascii_uppercase();
    Ok(Event::Paid(PaidEvent {
        event_id,
        reference,
        order_id,
        amount_cents,
        currency,
    }))
}

/// A non-empty string of at most `max` bytes (the columns' limits).
fn text(value: &Value, max: usize) -> Option<String> {
    value
        .as_str()
        .filter(|s| !s.is_empty() && s.len() <= max)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests;
