//! Orders after placement, in process: the status flow's races over four instances,
//! cancellation giving stock back once (with its `order-cancelled` event), and the
//! expiry job cancelling each due order once while every instance ticks.

use std::time::Duration;

use futures_util::future::join_all;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::support::TestApp;

/// Adds `quantity` of `product` to the cart of `token` and places the order at
/// `base`; returns its id.
async fn order(
    app: &TestApp,
    base: &str,
    token: &str,
    product: &str,
    quantity: i64,
) -> anyhow::Result<String> {
    let added = app
        .send(
            app.http
                .post(format!("{base}/api/cart/items"))
                .bearer_auth(token)
                .json(&json!({"product_id": product, "quantity": quantity})),
        )
        .await?;
    anyhow::ensure!(added.status == 200, "add: {}", added.text);
    let placed = app
        .send(
            app.http
                .post(format!("{base}/api/orders"))
                .bearer_auth(token),
        )
        .await?;
    anyhow::ensure!(placed.status == 201, "place: {}", placed.text);
    Ok(placed.json["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

async fn stock(app: &TestApp, product: &str) -> anyhow::Result<i64> {
    app.scalar(&format!(
        "SELECT stock::int8 FROM products WHERE id = '{product}'"
    ))
    .await
}

/// The `order-cancelled` events the relay published for `order`.
fn cancellations(app: &TestApp, order: &str) -> Vec<Value> {
    app.events
        .messages()
        .into_iter()
        .filter_map(|m| serde_json::from_str::<Value>(&m.payload).ok())
        .filter(|e| e["type"] == "order-cancelled" && e["payload"]["order_id"] == order)
        .collect()
}

#[tokio::test]
async fn twenty_concurrent_cancels_over_four_instances_give_stock_back_once() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let (_siblings, bases) = app.four_instances().await?;
    let admin = app.admin().await?;
    let product = app.product(&admin, "Plum jam", 10, 300).await?;
    let token = app.customer().await?;
    let id = order(&app, &app.base, &token, &product, 4).await?;
    assert_eq!(stock(&app, &product).await?, 6);

    let replies = join_all((0..20).map(|i| {
        app.send(
            app.http
                .post(format!("{}/api/orders/{id}/cancel", bases[i % 4]))
                .bearer_auth(&token),
        )
    }))
    .await;
    let mut won = 0;
    for r in replies {
        let r = r?;
        match r.status {
            200 => won += 1,
            409 => {
                assert_eq!(r.json["error"], "ORDER_STATE_CONFLICT", "{}", r.text);
                assert_eq!(r.json["details"]["current_status"], "cancelled");
            }
            other => anyhow::bail!("cancel answered {other}: {}", r.text),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(stock(&app, &product).await?, 10, "4 units back, once");
    assert_eq!(
        app.scalar(&format!(
            "SELECT count(*) FROM order_history WHERE order_id = '{id}'"
        ))
        .await?,
        2,
        "placed and cancelled"
    );
    app.published("order-placed", |e| {
        e["type"] == "order-cancelled" && e["payload"]["order_id"] == id.as_str()
    })
    .await
    .ok_or_else(|| anyhow::anyhow!("no order-cancelled event"))?;
    let events = cancellations(&app, &id);
    assert_eq!(events.len(), 1, "one event: {events:?}");
    assert_eq!(events[0]["payload"]["items"][0]["quantity"], 4);
    assert_eq!(events[0]["payload"]["from_status"], "pending");
    assert_eq!(events[0]["payload"]["actor"], "customer");
    Ok(())
}

#[tokio::test]
async fn ship_and_cancel_of_a_paid_order_at_once_one_wins_and_stock_agrees() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let (_siblings, bases) = app.four_instances().await?;
    let admin = app.admin().await?;
    let product = app.product(&admin, "Quince jam", 100, 300).await?;
    let token = app.customer().await?;
    let mut shipped = 0;
    for round in 0..20 {
        let id = order(&app, &bases[round % 4], &token, &product, 1).await?;
        app.db
            .execute_unprepared(&format!(
                "UPDATE orders SET status = 'paid', paid_at = now() WHERE id = '{id}'"
            ))
            .await?;
        let ship = app.send(
            app.http
                .post(format!(
                    "{}/api/admin/orders/{id}/ship",
                    bases[(round + 1) % 4]
                ))
                .bearer_auth(&admin),
        );
        let cancel = app.send(
            app.http
                .post(format!("{}/api/orders/{id}/cancel", bases[(round + 2) % 4]))
                .bearer_auth(&token),
        );
        let (ship, cancel) = tokio::join!(ship, cancel);
        let (ship, cancel) = (ship?, cancel?);
        let mut statuses = [ship.status, cancel.status];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 409],
            "round {round}: {} / {}",
            ship.text,
            cancel.text
        );
        if ship.status == 200 {
            shipped += 1;
            assert!(cancellations(&app, &id).is_empty());
        }
    }
    assert_eq!(stock(&app, &product).await?, 100 - shipped);
    Ok(())
}

#[tokio::test]
async fn due_orders_expire_once_while_four_instances_tick() -> anyhow::Result<()> {
    let app = TestApp::spawn_with(&[("ORDER_EXPIRY_TICK_SECONDS", "1")]).await;
    let (_siblings, bases) = app.four_instances().await?;
    let admin = app.admin().await?;
    let product = app.product(&admin, "Fig jam", 50, 300).await?;
    let token = app.customer().await?;
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(order(&app, &bases[i % 4], &token, &product, 2).await?);
    }
    assert_eq!(stock(&app, &product).await?, 34);
    // One is paid first: it must not expire.
    app.db
        .execute_unprepared(&format!(
            "UPDATE orders SET status = 'paid', paid_at = now() WHERE id = '{}'",
            ids[0]
        ))
        .await?;
    app.db
        .execute_unprepared("UPDATE orders SET expires_at = now() - interval '1 second'")
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while app
        .scalar("SELECT count(*) FROM orders WHERE status = 'cancelled'")
        .await?
        < 7
    {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the due orders were not cancelled within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every instance passes over them twice more (its pass counter, not a sleep):
    // a second cancellation would show below.
    let mut after = Vec::new();
    for base in &bases {
        after.push(app.counter(base, "shop_order_expiry_passes_total").await? + 2);
    }
    for (base, wanted) in bases.iter().zip(after) {
        while app.counter(base, "shop_order_expiry_passes_total").await? < wanted {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline + Duration::from_secs(10),
                "{base} stopped passing over due orders"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let mut expired = 0;
    for base in &bases {
        expired += app.counter(base, "shop_orders_expired_total").await?;
    }
    assert_eq!(expired, 7, "the instances cancelled 7 orders between them");
    assert_eq!(stock(&app, &product).await?, 48, "14 units back, once each");
    assert_eq!(
        app.scalar(
            "SELECT count(*) FROM order_history WHERE to_status = 'cancelled' AND actor = 'system'"
        )
        .await?,
        7
    );
    for id in &ids[1..] {
        app.published("order-placed", |e| {
            e["type"] == "order-cancelled" && e["payload"]["order_id"] == id.as_str()
        })
        .await
        .ok_or_else(|| anyhow::anyhow!("no order-cancelled event for {id}"))?;
        assert_eq!(cancellations(&app, id).len(), 1);
    }
    assert_eq!(
        app.strings(&format!(
            "SELECT status FROM orders WHERE id = '{}'",
            ids[0]
        ))
        .await?,
        vec!["paid".to_owned()]
    );
    Ok(())
}

#[tokio::test]
async fn a_cancellation_keeps_stock_within_its_bound_rather_than_failing() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let product = app.product(&admin, "Endless jam", 10, 300).await?;
    let token = app.customer().await?;
    let id = order(&app, &app.base, &token, &product, 2).await?;
    // Meanwhile an admin set the stock to its bound ("unlimited").
    app.db
        .execute_unprepared(&format!(
            "UPDATE products SET stock = 1000000000 WHERE id = '{product}'"
        ))
        .await?;
    let r = app
        .post(
            &format!("/api/orders/{id}/cancel"),
            &json!({}),
            Some(&token),
        )
        .await?;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(stock(&app, &product).await?, 1_000_000_000);
    app.published("order-placed", |e| {
        e["type"] == "order-cancelled" && e["payload"]["order_id"] == id.as_str()
    })
    .await
    .ok_or_else(|| anyhow::anyhow!("no order-cancelled event"))?;
    Ok(())
}
