//! The one definition of every Kafka event, shared by the producer (the outbox relay)
//! and the consumers.
//!
//! Every message is an [`EventEnvelope`] serialized as JSON; its key is the id of the
//! aggregate it is about (order id, user id) so events of one aggregate stay in order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

/// Topic of order events: `order-placed`, and every later change of an order
/// ([`OrderCancelled`], [`OrderStatusChanged`]). One topic keyed by order id keeps
/// the events of one order in order on one partition: a consumer never sees an
/// order's cancellation before its placement.
pub const TOPIC_ORDER_PLACED: &str = "order-placed";
/// Topic of account e-mails (OTP codes, welcome).
pub const TOPIC_ACCOUNT_EMAIL: &str = "account-email";
/// Every topic the system uses; each has a `.dlq` twin.
pub const TOPICS: &[&str] = &[TOPIC_ORDER_PLACED, TOPIC_ACCOUNT_EMAIL];

/// The dead-letter topic of `topic`.
pub fn dlq_topic(topic: &str) -> String {
    format!("{topic}.dlq")
}

/// The envelope around every event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventEnvelope<P = serde_json::Value> {
    /// Unique id: consumers record it to make their effects exactly-once.
    pub event_id: Uuid,
    /// The payload's type, e.g. `order-placed`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The payload's schema version.
    pub version: u32,
    /// When the change happened (the transaction that wrote the outbox row).
    pub occurred_at: DateTime<Utc>,
    /// The request that caused it, for tracing across processes.
    #[serde(default)]
    pub request_id: Option<String>,
    /// The event itself.
    pub payload: P,
}

/// A payload type with its routing.
pub trait Event: Serialize + DeserializeOwned {
    /// Value of the envelope's `type`.
    const TYPE: &'static str;
    /// Schema version.
    const VERSION: u32;
    /// Topic it is published to.
    const TOPIC: &'static str;
}

impl<P: Event> EventEnvelope<P> {
    /// Wraps a payload in a fresh envelope.
    pub fn new(payload: P, request_id: Option<String>) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type: P::TYPE.to_owned(),
            version: P::VERSION,
            occurred_at: Utc::now(),
            request_id,
            payload,
        }
    }
}

impl EventEnvelope<serde_json::Value> {
    /// Decodes the payload as `P`, checking the type first.
    pub fn decode<P: Event>(&self) -> Result<EventEnvelope<P>, DecodeError> {
        if self.event_type != P::TYPE {
            return Err(DecodeError::WrongType {
                expected: P::TYPE,
                found: self.event_type.clone(),
            });
        }
        let payload = serde_json::from_value(self.payload.clone()).map_err(DecodeError::Json)?;
        Ok(EventEnvelope {
            event_id: self.event_id,
            event_type: self.event_type.clone(),
            version: self.version,
            occurred_at: self.occurred_at,
            request_id: self.request_id.clone(),
            payload,
        })
    }
}

/// Why a message could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not an envelope.
    #[error("invalid event JSON: {0}")]
    Json(serde_json::Error),
    /// The envelope carries another type.
    #[error("expected event type {expected}, found {found}")]
    WrongType {
        /// Expected type.
        expected: &'static str,
        /// Found type.
        found: String,
    },
}

/// An OTP e-mail to send (topic `account-email`, key: user id).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccountOtp {
    /// The account.
    pub user_id: Uuid,
    /// Where to send the code.
    pub email: String,
    /// The account holder's name.
    pub name: String,
    /// The code, sealed with `EVENT_SEAL_KEY` (see `api::seal`): never in plain text
    /// in the outbox or on the topic.
    pub sealed_code: String,
    /// Minutes the code stays valid.
    pub expires_in_minutes: u32,
    /// What the code is for: [`OTP_PURPOSE_VERIFY`] (registration, the default of
    /// events written before this field) or [`OTP_PURPOSE_RESET`] (password reset).
    #[serde(default = "default_purpose")]
    pub purpose: String,
}

/// A code that verifies a registration.
pub const OTP_PURPOSE_VERIFY: &str = "verify";
/// A code that resets a password.
pub const OTP_PURPOSE_RESET: &str = "reset";

fn default_purpose() -> String {
    OTP_PURPOSE_VERIFY.to_owned()
}

impl Event for AccountOtp {
    const TYPE: &'static str = "account-otp";
    const VERSION: u32 = 1;
    const TOPIC: &'static str = TOPIC_ACCOUNT_EMAIL;
}

/// A welcome e-mail after verification (topic `account-email`, key: user id).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccountWelcome {
    /// The account.
    pub user_id: Uuid,
    /// Where to send it.
    pub email: String,
    /// The account holder's name.
    pub name: String,
}

impl Event for AccountWelcome {
    const TYPE: &'static str = "account-welcome";
    const VERSION: u32 = 1;
    const TOPIC: &'static str = TOPIC_ACCOUNT_EMAIL;
}

/// One line of a placed order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderPlacedItem {
    /// Product.
    pub product_id: Uuid,
    /// Name when ordered.
    pub name: String,
    /// Units.
    pub quantity: i32,
    /// Unit price when ordered, in cents.
    pub unit_price_cents: i64,
    /// Stock right after this order (for low-stock alerts).
    pub stock_after: i32,
    /// The product's low-stock threshold.
    pub low_stock_threshold: i32,
}

/// An order was placed (topic `order-placed`, key: order id).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderPlaced {
    /// The order.
    pub order_id: Uuid,
    /// The order's short human number (`orders.number`, e.g. 1042); absent from events
    /// written before order numbers existed.
    #[serde(default)]
    pub order_number: Option<i64>,
    /// The buyer.
    pub user_id: Uuid,
    /// Where the confirmation goes.
    pub user_email: String,
    /// Lines with price snapshots.
    pub items: Vec<OrderPlacedItem>,
    /// Total in cents.
    pub total_cents: i64,
    /// Currency.
    pub currency: String,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
}

impl Event for OrderPlaced {
    const TYPE: &'static str = "order-placed";
    const VERSION: u32 = 1;
    const TOPIC: &'static str = TOPIC_ORDER_PLACED;
}

/// Who moved an order: the buyer, an admin, the shop itself (the expiry job) or a
/// payment provider (a verified webhook).
pub const ORDER_ACTORS: [&str; 4] = ["customer", "admin", "system", "provider"];

/// A line given back to stock by a cancellation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReturnedItem {
    /// Product.
    pub product_id: Uuid,
    /// Name when ordered.
    pub name: String,
    /// Units returned to stock.
    pub quantity: i32,
}

/// An order was cancelled and its stock given back, in the transaction that wrote
/// this event (topic `order-placed`, key: order id, so it follows its order's
/// `order-placed` event on the same partition).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderCancelled {
    /// The order.
    pub order_id: Uuid,
    /// Its short human number.
    pub order_number: i64,
    /// The buyer.
    pub user_id: Uuid,
    /// Where the notice goes.
    pub user_email: String,
    /// The status it was cancelled from (`pending` or `paid`): a paid order is owed a
    /// refund.
    pub from_status: String,
    /// One of [`ORDER_ACTORS`].
    pub actor: String,
    /// Why (the admin's reason, `payment not received in time`, ...), if given.
    #[serde(default)]
    pub reason: Option<String>,
    /// What went back to stock.
    pub items: Vec<ReturnedItem>,
    /// Total in cents.
    pub total_cents: i64,
    /// Currency.
    pub currency: String,
    /// When it was cancelled.
    pub cancelled_at: DateTime<Utc>,
}

impl Event for OrderCancelled {
    const TYPE: &'static str = "order-cancelled";
    const VERSION: u32 = 1;
    const TOPIC: &'static str = TOPIC_ORDER_PLACED;
}

/// An order moved to `paid`, `shipped`, `delivered` or `refunded` (topic
/// `order-placed`, key: order id). Cancellations are [`OrderCancelled`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderStatusChanged {
    /// The order.
    pub order_id: Uuid,
    /// Its short human number.
    pub order_number: i64,
    /// The buyer.
    pub user_id: Uuid,
    /// Where the notice goes.
    pub user_email: String,
    /// The status before.
    pub from_status: String,
    /// The status now.
    pub to_status: String,
    /// One of [`ORDER_ACTORS`].
    pub actor: String,
    /// The admin's note or the carrier's tracking reference, if given.
    #[serde(default)]
    pub reason: Option<String>,
    /// Total in cents.
    pub total_cents: i64,
    /// Currency.
    pub currency: String,
    /// When it changed.
    pub changed_at: DateTime<Utc>,
}

impl Event for OrderStatusChanged {
    const TYPE: &'static str = "order-status-changed";
    const VERSION: u32 = 1;
    const TOPIC: &'static str = TOPIC_ORDER_PLACED;
}

/// Parses raw message bytes into an envelope with an untyped payload.
pub fn parse_envelope(bytes: &[u8]) -> Result<EventEnvelope, DecodeError> {
    serde_json::from_slice(bytes).map_err(DecodeError::Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    struct Ping {
        n: u32,
    }

    impl Event for Ping {
        const TYPE: &'static str = "ping";
        const VERSION: u32 = 1;
        const TOPIC: &'static str = "pings";
    }

    #[test]
    fn an_envelope_round_trips_through_json_and_decodes_its_payload() {
        let env = EventEnvelope::new(Ping { n: 7 }, Some("req-1".into()));
        let bytes = serde_json::to_vec(&env).unwrap_or_default();
        let raw = parse_envelope(&bytes).map_err(|e| e.to_string());
        let decoded = raw.and_then(|r| r.decode::<Ping>().map_err(|e| e.to_string()));
        assert_eq!(decoded.ok(), Some(env));
    }

    #[test]
    fn decoding_a_payload_of_another_type_fails() {
        let env = EventEnvelope::new(Ping { n: 1 }, None);
        let mut raw = parse_envelope(&serde_json::to_vec(&env).unwrap_or_default()).ok();
        if let Some(r) = raw.as_mut() {
            r.event_type = "other".into();
        }
        assert!(matches!(
            raw.map(|r| r.decode::<Ping>()),
            Some(Err(DecodeError::WrongType { .. }))
        ));
    }

    #[test]
    fn an_order_placed_event_written_before_order_numbers_still_decodes() {
        let old = serde_json::json!({
            "order_id": Uuid::nil(),
            "user_id": Uuid::nil(),
            "user_email": "a@example.com",
            "items": [],
            "total_cents": 0,
            "currency": "USD",
            "created_at": "2026-12-01T10:00:00Z",
        });
        let order: Option<OrderPlaced> = serde_json::from_value(old).ok();
        assert_eq!(order.map(|o| o.order_number), Some(None));
    }

    #[test]
    fn garbage_is_not_an_envelope() {
        assert!(parse_envelope(b"not json").is_err());
    }
}
