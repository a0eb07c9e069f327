use serde_json::json;
use uuid::Uuid;

use super::{Event, PaidEvent, UnusableEvent, parse};

const ORDER: &str = "0192f6a4-3c1e-7b4a-9d2e-5f6a7b8c9d0e";

fn order() -> Uuid {
    Uuid::parse_str(ORDER).unwrap_or_default()
}

fn paid(reference: &str, amount_cents: i64) -> Event {
    Event::Paid(PaidEvent {
        event_id: "evt_1".into(),
        reference: reference.into(),
        order_id: order(),
        amount_cents,
        currency: "USD".into(),
    })
}

#[test]
fn a_succeeded_payment_intent_pays_its_metadata_order_with_the_amount_received() {
    let event = json!({"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {
        "id": "pi_1", "object": "payment_intent", "amount": 1999, "amount_received": 1500,
        "currency": "usd", "metadata": {"order_id": ORDER}}}});
    assert_eq!(parse(&event), Ok(paid("pi_1", 1500)));
}

#[test]
fn a_payment_intent_without_amount_received_uses_its_amount() {
    let event = json!({"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {
        "id": "pi_1", "amount": 1999, "currency": "usd", "metadata": {"order_id": ORDER}}}});
    assert_eq!(parse(&event), Ok(paid("pi_1", 1999)));
}

#[test]
fn a_completed_checkout_session_pays_by_metadata_or_client_reference_id() {
    let by_metadata = json!({"id": "evt_1", "type": "checkout.session.completed", "data": {"object": {
        "id": "cs_1", "amount_total": 2500, "currency": "usd", "metadata": {"order_id": ORDER},
        "client_reference_id": "ignored", "payment_status": "paid"}}});
    assert_eq!(parse(&by_metadata), Ok(paid("cs_1", 2500)));
    let by_reference = json!({"id": "evt_1", "type": "checkout.session.completed", "data": {"object": {
        "id": "cs_1", "amount_total": 2500, "currency": "usd", "metadata": {},
        "client_reference_id": ORDER, "payment_status": "paid"}}});
    assert_eq!(parse(&by_reference), Ok(paid("cs_1", 2500)));
}

#[test]
fn a_session_completed_before_its_delayed_payment_pays_only_when_that_succeeds() {
    let session = |kind: &str, status: &str| {
        json!({"id": "evt_1", "type": kind, "data": {"object": {
            "id": "cs_1", "amount_total": 2500, "currency": "usd", "metadata": {"order_id": ORDER},
            "payment_status": status}}})
    };
    for status in ["unpaid", "no_payment_required"] {
        assert!(
            matches!(
                parse(&session("checkout.session.completed", status)),
                Ok(Event::Ignored(_))
            ),
            "{status} paid the order"
        );
    }
    assert_eq!(
        parse(&session("checkout.session.async_payment_succeeded", "paid")),
        Ok(paid("cs_1", 2500))
    );
}

#[test]
fn other_types_are_ignored() {
    let event = json!({"id": "evt_1", "type": "charge.refunded", "data": {"object": {}}});
    assert_eq!(parse(&event), Ok(Event::Ignored("charge.refunded".into())));
}

#[test]
fn an_event_without_a_usable_order_id_names_the_field() {
    let base = |metadata: serde_json::Value| {
        json!({"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {
            "id": "pi_1", "amount": 1, "currency": "usd", "metadata": metadata}}})
    };
    for metadata in [json!({}), json!({"order_id": "42"}), json!({"order_id": 7})] {
        let Err(UnusableEvent { field, .. }) = parse(&base(metadata.clone())) else {
            panic!("{metadata} was usable");
        };
        assert_eq!(field, "data.object.metadata.order_id");
    }
}

#[test]
fn an_event_without_id_amount_or_a_currency_is_unusable() {
    let object =
        json!({"id": "pi_1", "amount": 1, "currency": "usd", "metadata": {"order_id": ORDER}});
    let event = |id: serde_json::Value, object: serde_json::Value| json!({"id": id, "type": "payment_intent.succeeded", "data": {"object": object}});
    let field = |e| parse(&e).err().map(|u| u.field);
    assert_eq!(field(event(json!(null), object.clone())), Some("id"));
    let mut o = object.clone();
    o["id"] = json!(null);
    assert_eq!(field(event(json!("evt_1"), o)), Some("data.object.id"));
    let mut o = object.clone();
    o["amount"] = json!("1");
    assert_eq!(field(event(json!("evt_1"), o)), Some("data.object.amount"));
    let mut o = object.clone();
    o["amount"] = json!(-1);
    assert_eq!(field(event(json!("evt_1"), o)), Some("data.object.amount"));
    for currency in [json!(null), json!("us"), json!("us1"), json!("usdd")] {
        let mut o = object.clone();
        o["currency"] = currency;
        assert_eq!(
            field(event(json!("evt_1"), o)),
            Some("data.object.currency")
        );
    }
    assert_eq!(
        parse(&json!({"id": "evt_1"})).err().map(|u| u.field),
        Some("type")
    );
}
