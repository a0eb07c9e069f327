//! Payments (issue 16): a provider's signed webhook pays an order, an admin can
//! record a payment by hand, and a buyer can start a payment at Stripe.
//!
//! Invariants:
//! - a webhook call is verified over its raw bytes before anything is read or
//!   written (`signature`); a refused signature writes nothing;
//! - one provider event is acted on at most once: `payments` is unique per provider
//!   and event id, checked under the order's row lock (and by the constraint), so a
//!   replay or a concurrent copy answers 409 and changes nothing;
//! - a payment pays its order only for exactly the order's total and currency, and
//!   only while the order is `pending`; otherwise it is recorded (`mismatched`,
//!   `refused`) and the order does not move;
//! - the payment row and the order's move (`orders::lifecycle::apply`, its history
//!   row and outbox event) commit together or not at all.
//!
//! Layers: `service` owns transactions; `repo`, `event` and `signature` take any
//! connection or none; failures are [`error::PaymentError`], mapped to the API's
//! error shape in one place.

pub mod error;
pub mod event;
pub mod provider;
pub mod repo;
pub mod service;
pub mod signature;
