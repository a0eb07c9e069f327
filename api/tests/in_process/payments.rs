//! Payments in-process: Stripe's signed webhook (genuine, forged, replayed, raced,
//! mismatched, late), an admin's manual payment, and starting a payment at a local
//! stand-in for Stripe's API that records what it was sent.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use api::payments::signature;
use serde_json::{Value, json};

use crate::support::{Reply, TestApp};

const SECRET: &str = "whsec_in_process_test_secret";

async fn stripe_app() -> TestApp {
    TestApp::spawn_with(&[("STRIPE_WEBHOOK_SECRET", SECRET)]).await
}

/// A customer's pending order: (their token, order id, total in cents, currency).
async fn pending_order(app: &TestApp) -> anyhow::Result<(String, String, i64, String)> {
    let admin = app.admin().await?;
    let product = app.product(&admin, "Paid for", 10, 1250).await?;
    let token = app.customer().await?;
    let added = app
        .post(
            "/api/cart/items",
            &json!({"product_id": product, "quantity": 2}),
            Some(&token),
        )
        .await?;
    anyhow::ensure!(added.status == 200, "add: {}", added.text);
    let placed = app.post("/api/orders", &json!({}), Some(&token)).await?;
    anyhow::ensure!(placed.status == 201, "place: {}", placed.text);
    let order = &placed.json["data"];
    Ok((
        token,
        order["id"].as_str().unwrap_or_default().to_owned(),
        order["total_cents"].as_i64().unwrap_or_default(),
        order["currency"].as_str().unwrap_or_default().to_owned(),
    ))
}

/// A `payment_intent.succeeded` event as Stripe sends it (trimmed).
fn succeeded(event_id: &str, order: &str, amount: i64, currency: &str) -> String {
    json!({
        "id": event_id,
        "object": "event",
        "type": "payment_intent.succeeded",
        "livemode": false,
        "data": {"object": {
            "id": format!("pi_{event_id}"),
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount,
            "currency": currency.to_ascii_lowercase(),
            "metadata": {"order_id": order},
        }},
    })
    .to_string()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Posts `body` to the Stripe webhook of the instance at `base`, with `signature` as
/// its `Stripe-Signature` (none when `None`).
async fn deliver_to(
    app: &TestApp,
    base: &str,
    body: &str,
    signature: Option<&str>,
) -> anyhow::Result<Reply> {
    let mut req = app
        .http
        .post(format!("{base}/api/webhooks/payments/stripe"))
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_owned());
    if let Some(signature) = signature {
        req = req.header("stripe-signature", signature);
    }
    app.send(req).await
}

/// Posts `body` signed now with the configured secret, as Stripe does.
async fn deliver(app: &TestApp, body: &str) -> anyhow::Result<Reply> {
    let header = signature::header(SECRET, now(), body.as_bytes());
    deliver_to(app, &app.base, body, Some(&header)).await
}

/// The order's status, its payments' statuses (oldest first) and its history rows.
async fn recorded(app: &TestApp, order: &str) -> anyhow::Result<(String, Vec<String>, i64)> {
    let status = app
        .strings(&format!("SELECT status FROM orders WHERE id = '{order}'"))
        .await?
        .pop()
        .unwrap_or_default();
    let payments = app
        .strings(&format!(
            "SELECT status FROM payments WHERE order_id = '{order}' ORDER BY created_at, id"
        ))
        .await?;
    let history = app
        .scalar(&format!(
            "SELECT count(*)::int8 FROM order_history WHERE order_id = '{order}'"
        ))
        .await?;
    Ok((status, payments, history))
}

#[tokio::test]
async fn a_genuine_stripe_event_pays_the_order_with_one_payment_and_a_history_row()
-> anyhow::Result<()> {
    let app = stripe_app().await;
    let (_, order, total, currency) = pending_order(&app).await?;
    let (_, _, history_before) = recorded(&app, &order).await?;
    let reply = deliver(&app, &succeeded("evt_paid", &order, total, &currency)).await?;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["success"], true);
    assert_eq!(reply.json["data"]["order_id"], order.as_str());
    assert_eq!(reply.json["data"]["status"], "paid");
    let (status, payments, history) = recorded(&app, &order).await?;
    assert_eq!(status, "paid");
    assert_eq!(payments, ["succeeded"]);
    assert_eq!(history, history_before + 1);
    let row = app
        .strings(&format!(
            "SELECT concat_ws(' ', provider, provider_ref, provider_event_id, amount_cents, currency)
             FROM payments WHERE order_id = '{order}'"
        ))
        .await?;
    assert_eq!(
        row,
        [format!(
            "stripe pi_evt_paid evt_paid {total} {}",
            currency.to_ascii_uppercase()
        )]
    );
    let paid_at = app
        .scalar(&format!(
            "SELECT count(*)::int8 FROM orders WHERE id = '{order}' AND paid_at IS NOT NULL"
        ))
        .await?;
    assert_eq!(paid_at, 1);
    let actor = app
        .strings(&format!(
            "SELECT concat_ws(' ', actor, to_status, reason) FROM order_history
             WHERE order_id = '{order}' AND to_status = 'paid'"
        ))
        .await?;
    assert_eq!(actor, ["provider paid stripe pi_evt_paid"]);
    Ok(())
}

#[tokio::test]
async fn forged_wrong_secret_tampered_expired_or_missing_signatures_are_400_and_change_nothing()
-> anyhow::Result<()> {
    let app = stripe_app().await;
    let (_, order, total, currency) = pending_order(&app).await?;
    let body = succeeded("evt_forged", &order, total, &currency);
    let t = now();
    let tampered = body.replace(&total.to_string(), "1");
    let cases: Vec<(&str, String, Option<String>)> = vec![
        (
            "mismatch",
            body.clone(),
            Some(format!("t={t},v1={}", "0".repeat(64))),
        ),
        (
            "mismatch",
            body.clone(),
            Some(signature::header("whsec_someone_else", t, body.as_bytes())),
        ),
        (
            "mismatch",
            tampered,
            Some(signature::header(SECRET, t, body.as_bytes())),
        ),
        (
            "expired",
            body.clone(),
            Some(signature::header(SECRET, t - 3_600, body.as_bytes())),
        ),
        ("malformed", body.clone(), Some("v1=abc".to_owned())),
        ("missing", body.clone(), None),
    ];
    for (reason, body, header) in cases {
        let reply = deliver_to(&app, &app.base, &body, header.as_deref()).await?;
        reply.assert_error(400, "WEBHOOK_SIGNATURE_INVALID");
        assert_eq!(reply.json["details"]["reason"], reason, "{}", reply.text);
        // The expected signature is never sent back.
        let expected = signature::sign(SECRET, t, body.as_bytes());
        assert!(!reply.text.contains(&expected), "{}", reply.text);
    }
    let (status, payments, _) = recorded(&app, &order).await?;
    assert_eq!(status, "pending");
    assert!(payments.is_empty(), "{payments:?}");
    Ok(())
}

#[tokio::test]
async fn a_replayed_event_is_409_and_changes_nothing() -> anyhow::Result<()> {
    let app = stripe_app().await;
    let (_, order, total, currency) = pending_order(&app).await?;
    let body = succeeded("evt_replayed", &order, total, &currency);
    assert_eq!(deliver(&app, &body).await?.status, 200);
    let before = recorded(&app, &order).await?;
    let again = deliver(&app, &body).await?;
    again.assert_error(409, "WEBHOOK_DUPLICATE");
    assert_eq!(again.json["details"]["event_id"], "evt_replayed");
    assert_eq!(recorded(&app, &order).await?, before);
    Ok(())
}

#[tokio::test]
async fn the_same_event_twice_at_once_on_two_instances_gives_one_200_and_one_409()
-> anyhow::Result<()> {
    let app = stripe_app().await;
    let sibling = app.sibling().await?;
    for round in 0..5 {
        let (_, order, total, currency) = pending_order(&app).await?;
        let body = succeeded(&format!("evt_race_{round}"), &order, total, &currency);
        let header = signature::header(SECRET, now(), body.as_bytes());
        let (a, b) = tokio::join!(
            deliver_to(&app, &app.base, &body, Some(&header)),
            deliver_to(&app, &sibling.base, &body, Some(&header)),
        );
        let mut statuses = [a?.status, b?.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}");
        let (status, payments, _) = recorded(&app, &order).await?;
        assert_eq!(status, "paid");
        assert_eq!(payments, ["succeeded"]);
    }
    drop(sibling);
    Ok(())
}

#[tokio::test]
async fn an_amount_or_currency_mismatch_is_422_recorded_mismatched_and_the_order_stays_pending()
-> anyhow::Result<()> {
    let app = stripe_app().await;
    let (_, order, total, currency) = pending_order(&app).await?;
    let short = deliver(&app, &succeeded("evt_short", &order, total - 1, &currency)).await?;
    short.assert_error(422, "PAYMENT_MISMATCH");
    assert_eq!(short.json["details"]["expected"]["amount_cents"], total);
    assert_eq!(short.json["details"]["got"]["amount_cents"], total - 1);
    let other = if currency.eq_ignore_ascii_case("EUR") {
        "gbp"
    } else {
        "eur"
    };
    let wrong = deliver(&app, &succeeded("evt_currency", &order, total, other)).await?;
    wrong.assert_error(422, "PAYMENT_MISMATCH");
    assert_eq!(
        wrong.json["details"]["got"]["currency"],
        other.to_ascii_uppercase()
    );
    assert_eq!(
        wrong.json["details"]["expected"]["currency"],
        currency.as_str()
    );
    let (status, payments, _) = recorded(&app, &order).await?;
    assert_eq!(status, "pending");
    assert_eq!(payments, ["mismatched", "mismatched"]);
    // The currency is compared without regard to case: Stripe's is lowercase.
    let exact = deliver(
        &app,
        &succeeded("evt_exact", &order, total, &currency.to_ascii_lowercase()),
    )
    .await?;
    assert_eq!(exact.status, 200, "{}", exact.text);
    Ok(())
}

#[tokio::test]
async fn a_second_genuine_payment_for_a_paid_order_is_409_and_recorded_refused()
-> anyhow::Result<()> {
    let app = stripe_app().await;
    let (_, order, total, currency) = pending_order(&app).await?;
    assert_eq!(
        deliver(&app, &succeeded("evt_first", &order, total, &currency))
            .await?
            .status,
        200
    );
    let second = deliver(&app, &succeeded("evt_second", &order, total, &currency)).await?;
    second.assert_error(409, "ORDER_STATE_CONFLICT");
    assert_eq!(second.json["details"]["current_status"], "paid");
    let (status, payments, _) = recorded(&app, &order).await?;
    assert_eq!(status, "paid");
    assert_eq!(payments, ["succeeded", "refused"]);
    Ok(())
}

#[tokio::test]
async fn a_completed_checkout_session_pays_by_its_client_reference_id() -> anyhow::Result<()> {
    let app = stripe_app().await;
    let (_, order, total, currency) = pending_order(&app).await?;
    let body = json!({
        "id": "evt_checkout", "type": "checkout.session.completed",
        "data": {"object": {"id": "cs_test_1", "object": "checkout.session",
            "amount_total": total, "currency": currency.to_ascii_lowercase(),
            "client_reference_id": order, "metadata": {}, "payment_status": "paid"}},
    })
    .to_string();
    let reply = deliver(&app, &body).await?;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let refs = app
        .strings(&format!(
            "SELECT provider_ref FROM payments WHERE order_id = '{order}'"
        ))
        .await?;
    assert_eq!(refs, ["cs_test_1"]);
    Ok(())
}

#[tokio::test]
async fn other_event_types_are_acknowledged_and_events_without_an_order_are_422()
-> anyhow::Result<()> {
    let app = stripe_app().await;
    let ignored =
        json!({"id": "evt_other", "type": "customer.created", "data": {"object": {"id": "cus_1"}}})
            .to_string();
    let reply = deliver(&app, &ignored).await?;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["data"]["status"], "ignored");
    for order in ["", "not-a-uuid", &uuid::Uuid::new_v4().to_string()] {
        let reply = deliver(&app, &succeeded("evt_orphan", order, 100, "usd")).await?;
        reply.assert_error(422, "WEBHOOK_EVENT_INVALID");
        assert_eq!(
            reply.json["details"]["field"],
            "data.object.metadata.order_id"
        );
    }
    assert_eq!(app.scalar("SELECT count(*)::int8 FROM payments").await?, 0);
    Ok(())
}

#[tokio::test]
async fn an_unknown_provider_or_an_unconfigured_stripe_is_404() -> anyhow::Result<()> {
    let app = stripe_app().await;
    let reply = app
        .send(
            app.http
                .post(app.url("/api/webhooks/payments/paypal"))
                .header("content-type", "application/json")
                .body("{}"),
        )
        .await?;
    reply.assert_error(404, "NOT_FOUND");
    let unconfigured = TestApp::spawn().await;
    let body = succeeded("evt_x", &uuid::Uuid::new_v4().to_string(), 1, "usd");
    let header = signature::header(SECRET, now(), body.as_bytes());
    deliver_to(&unconfigured, &unconfigured.base, &body, Some(&header))
        .await?
        .assert_error(404, "NOT_FOUND");
    Ok(())
}

#[tokio::test]
async fn a_webhook_body_over_the_json_limit_is_413_before_anything_is_read() -> anyhow::Result<()> {
    let app = stripe_app().await;
    let body = format!(
        r#"{{"id": "evt_big", "padding": "{}"}}"#,
        "x".repeat(70_000)
    );
    let header = signature::header(SECRET, now(), body.as_bytes());
    deliver_to(&app, &app.base, &body, Some(&header))
        .await?
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    Ok(())
}

#[tokio::test]
async fn an_admin_marks_an_order_paid_by_hand_and_a_customer_cannot() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let (token, order, total, _) = pending_order(&app).await?;
    let path = format!("/api/admin/orders/{order}/mark-paid");
    app.post(
        &path,
        &json!({"reference": "bank transfer 42"}),
        Some(&token),
    )
    .await?
    .assert_error(403, "FORBIDDEN");
    let admin = app.admin().await?;
    let too_long = "x".repeat(201);
    app.post(&path, &json!({ "reference": too_long }), Some(&admin))
        .await?
        .assert_error(400, "VALIDATION_ERROR");
    assert_eq!(recorded(&app, &order).await?.0, "pending");
    let reply = app
        .post(
            &path,
            &json!({"reference": "bank transfer 42"}),
            Some(&admin),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["data"]["status"], "paid");
    let (status, payments, _) = recorded(&app, &order).await?;
    assert_eq!(status, "paid");
    assert_eq!(payments, ["succeeded"]);
    let row = app
        .strings(&format!(
            "SELECT concat_ws(' ', provider, amount_cents, provider_ref) FROM payments WHERE order_id = '{order}'"
        ))
        .await?;
    assert_eq!(row, [format!("manual {total} bank transfer 42")]);
    let history = app
        .strings(&format!(
            "SELECT concat_ws(' ', actor, reason) FROM order_history
             WHERE order_id = '{order}' AND to_status = 'paid'"
        ))
        .await?;
    assert_eq!(history, ["admin bank transfer 42"]);
    let again = app.post(&path, &json!({}), Some(&admin)).await?;
    again.assert_error(409, "ORDER_STATE_CONFLICT");
    let unknown = format!("/api/admin/orders/{}/mark-paid", uuid::Uuid::new_v4());
    app.post(&unknown, &json!({}), Some(&admin))
        .await?
        .assert_error(404, "NOT_FOUND");
    Ok(())
}

/// What the stand-in for Stripe's API received: (path, headers, form fields).
type Calls = Arc<Mutex<Vec<(String, poem::http::HeaderMap, HashMap<String, String>)>>>;

/// A local stand-in for `POST /v1/payment_intents` that records each call and
/// answers like Stripe (a PaymentIntent with its client secret).
async fn fake_stripe() -> anyhow::Result<(String, Calls)> {
    use poem::{
        EndpointExt, Route, Server, handler,
        listener::{Acceptor, Listener, TcpListener},
        web::{Data, Form, Json},
    };
    #[handler]
    fn intents(
        req: &poem::Request,
        Form(form): Form<HashMap<String, String>>,
        Data(calls): Data<&Calls>,
    ) -> Json<Value> {
        if let Ok(mut calls) = calls.lock() {
            calls.push((req.uri().path().to_owned(), req.headers().clone(), form));
        }
        Json(json!({"id": "pi_fake_1", "object": "payment_intent",
            "client_secret": "pi_fake_1_secret_abc", "status": "requires_payment_method"}))
    }
    let calls: Calls = Arc::default();
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .ok_or_else(|| anyhow::anyhow!("no address"))?;
    let app = Route::new()
        .at("/v1/payment_intents", poem::post(intents))
        .data(calls.clone());
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
    Ok((format!("http://{addr}"), calls))
}

#[tokio::test]
async fn starting_a_payment_creates_a_payment_intent_as_stripe_documents() -> anyhow::Result<()> {
    let (stripe, calls) = fake_stripe().await?;
    let app = TestApp::spawn_with(&[
        ("STRIPE_API_BASE", stripe.as_str()),
        ("STRIPE_SECRET_KEY", "sk_test_in_process"),
    ])
    .await;
    let (token, order, total, currency) = pending_order(&app).await?;
    let path = format!("/api/orders/{order}/payment");
    let reply = app.post(&path, &json!({}), Some(&token)).await?;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["data"]["payment_id"], "pi_fake_1");
    assert_eq!(reply.json["data"]["client_secret"], "pi_fake_1_secret_abc");
    let calls = calls.lock().map(|c| c.clone()).unwrap_or_default();
    assert_eq!(calls.len(), 1);
    let (called, headers, form) = &calls[0];
    assert_eq!(called, "/v1/payment_intents");
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(header("authorization"), Some("Bearer sk_test_in_process"));
    assert_eq!(header("idempotency-key"), Some(order.as_str()));
    assert_eq!(
        header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let field = |name: &str| form.get(name).map(String::as_str);
    assert_eq!(field("amount"), Some(total.to_string().as_str()));
    assert_eq!(
        field("currency"),
        Some(currency.to_ascii_lowercase().as_str())
    );
    assert_eq!(field("metadata[order_id]"), Some(order.as_str()));
    assert_eq!(field("automatic_payment_methods[enabled]"), Some("true"));
    assert_eq!(form.len(), 4, "{form:?}");
    // Someone else's order is not there; a paid one cannot be paid again.
    let stranger = app.customer().await?;
    app.post(&path, &json!({}), Some(&stranger))
        .await?
        .assert_error(404, "NOT_FOUND");
    let admin = app.admin().await?;
    let marked = app
        .post(
            &format!("/api/admin/orders/{order}/mark-paid"),
            &json!({}),
            Some(&admin),
        )
        .await?;
    assert_eq!(marked.status, 200, "{}", marked.text);
    app.post(&path, &json!({}), Some(&token))
        .await?
        .assert_error(409, "ORDER_STATE_CONFLICT");
    Ok(())
}

#[tokio::test]
async fn starting_a_payment_without_stripe_is_503_and_with_stripe_unreachable_502()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let (token, order, _, _) = pending_order(&app).await?;
    app.post(
        &format!("/api/orders/{order}/payment"),
        &json!({}),
        Some(&token),
    )
    .await?
    .assert_error(503, "PAYMENTS_NOT_CONFIGURED");
    // A port nothing listens on: bound, then closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let base = format!("http://{closed}");
    let down = TestApp::spawn_with(&[
        ("STRIPE_API_BASE", base.as_str()),
        ("STRIPE_SECRET_KEY", "sk_test_in_process"),
    ])
    .await;
    let (token, order, _, _) = pending_order(&down).await?;
    let reply = down
        .post(
            &format!("/api/orders/{order}/payment"),
            &json!({}),
            Some(&token),
        )
        .await?;
    reply.assert_error(502, "PAYMENT_PROVIDER_UNAVAILABLE");
    assert!(!reply.text.contains("sk_test"), "{}", reply.text);
    Ok(())
}
