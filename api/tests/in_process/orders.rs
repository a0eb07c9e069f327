//! Carts, order placement under contention, idempotency and the outbox, in-process.

use serde_json::{Value, json};

use crate::support::TestApp;

async fn add(app: &TestApp, token: &str, product: &str, quantity: i64) -> anyhow::Result<u16> {
    let reply = app
        .post(
            "/api/cart/items",
            &json!({"product_id": product, "quantity": quantity}),
            Some(token),
        )
        .await?;
    Ok(reply.status)
}

#[tokio::test]
async fn twenty_buyers_of_the_last_five_units_exactly_five_succeed() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let product = app.product(&admin, "Scarce", 5, 999).await?;
    let buyers = futures_util::future::try_join_all((0..20).map(|_| app.customer())).await?;
    for token in &buyers {
        assert_eq!(add(&app, token, &product, 1).await?, 200);
    }
    let empty = json!({});
    let replies = futures_util::future::try_join_all(
        buyers
            .iter()
            .map(|token| app.post("/api/orders", &empty, Some(token))),
    )
    .await?;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        5,
        "{statuses:?}"
    );
    for refused in replies.iter().filter(|r| r.status != 201) {
        refused.assert_error(409, "INSUFFICIENT_STOCK");
    }
    let stock = app
        .scalar(&format!(
            "SELECT stock::int8 FROM products WHERE id = '{product}'"
        ))
        .await?;
    assert_eq!(stock, 0);
    let sold = app
        .scalar(&format!(
            "SELECT COALESCE(sum(quantity), 0)::int8 FROM order_items WHERE product_id = '{product}'"
        ))
        .await?;
    assert_eq!(sold, 5, "sold + remaining = initial");
    // Every placed order's event went out through the outbox to the broker.
    for placed in replies.iter().filter(|r| r.status == 201) {
        let id = placed.json["data"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let event = app
            .published("order-placed", |e: &Value| {
                e["payload"]["order_id"] == id.as_str()
            })
            .await;
        assert!(event.is_some(), "no order-placed event for {id}");
    }
    Ok(())
}

#[tokio::test]
async fn the_same_idempotency_key_twice_at_once_places_one_order() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let product = app.product(&admin, "Once", 5, 700).await?;
    let token = app.customer().await?;
    assert_eq!(add(&app, &token, &product, 2).await?, 200);
    let key = uuid::Uuid::new_v4().to_string();
    let post = || {
        app.send(
            app.http
                .post(app.url("/api/orders"))
                .bearer_auth(&token)
                .header("idempotency-key", &key)
                .json(&json!({"note": "leave at the door"})),
        )
    };
    let (a, b) = tokio::join!(post(), post());
    let (a, b) = (a?, b?);
    let created: Vec<_> = [&a, &b].into_iter().filter(|r| r.status == 201).collect();
    assert!(!created.is_empty(), "{} / {}", a.text, b.text);
    for other in [&a, &b].into_iter().filter(|r| r.status != 201) {
        // The loser of the race is told to retry, never given a second order.
        assert!(other.status == 409 || other.status == 429, "{}", other.text);
    }
    if created.len() == 2 {
        assert_eq!(created[0].json["data"], created[1].json["data"]);
    }
    assert_eq!(app.scalar("SELECT count(*) FROM orders").await?, 1);
    let stock = app
        .scalar(&format!(
            "SELECT stock::int8 FROM products WHERE id = '{product}'"
        ))
        .await?;
    assert_eq!(stock, 3);
    Ok(())
}

#[tokio::test]
async fn an_empty_cart_is_422_and_nothing_is_written() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let token = app.customer().await?;
    app.post("/api/orders", &json!({}), Some(&token))
        .await?
        .assert_error(422, "CART_EMPTY");
    assert_eq!(app.scalar("SELECT count(*) FROM orders").await?, 0);
    assert_eq!(
        app.scalar("SELECT count(*) FROM outbox WHERE topic = 'order-placed'")
            .await?,
        0
    );
    Ok(())
}
