//! The audit log, in process: an admin's order moves each append one row in the
//! move's transaction (with the request id and a diff), the log reads back filtered
//! and paged, and the table refuses every change to a row, whoever asks.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::support::TestApp;

/// An order of one unit of a fresh product by a fresh customer; its id.
async fn an_order(app: &TestApp, admin: &str) -> anyhow::Result<String> {
    let product = app.product(admin, "Audit tea", 10, 250).await?;
    let customer = app.customer().await?;
    let added = app
        .post(
            "/api/cart/items",
            &json!({"product_id": product, "quantity": 1}),
            Some(&customer),
        )
        .await?;
    anyhow::ensure!(added.status == 200, "add: {}", added.text);
    let placed = app.post("/api/orders", &json!({}), Some(&customer)).await?;
    anyhow::ensure!(placed.status == 201, "place: {}", placed.text);
    Ok(placed.json["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// `POST path` as `admin` with an `X-Request-Id`.
async fn admin_post(
    app: &TestApp,
    admin: &str,
    path: &str,
    body: Value,
    request_id: &str,
) -> anyhow::Result<u16> {
    let reply = app
        .send(
            app.http
                .post(app.url(path))
                .bearer_auth(admin)
                .header("x-request-id", request_id)
                .json(&body),
        )
        .await?;
    Ok(reply.status)
}

#[tokio::test]
async fn each_admin_order_move_appends_one_row_with_its_request_and_diff() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let order = an_order(&app, &admin).await?;
    let paid = admin_post(
        &app,
        &admin,
        &format!("/api/admin/orders/{order}/mark-paid"),
        json!({"reference": "bank transfer 7"}),
        "audit-pay-1",
    )
    .await?;
    assert_eq!(paid, 200);
    let cancelled = admin_post(
        &app,
        &admin,
        &format!("/api/admin/orders/{order}/cancel"),
        json!({"reason": "customer called"}),
        "audit-cancel-1",
    )
    .await?;
    assert_eq!(cancelled, 200);
    // A refused move (already cancelled) writes nothing.
    let refused = admin_post(
        &app,
        &admin,
        &format!("/api/admin/orders/{order}/ship"),
        json!({}),
        "audit-ship-1",
    )
    .await?;
    assert_eq!(refused, 409);

    let page = app
        .get(
            &format!("/api/admin/audit?target=order:{order}"),
            Some(&admin),
        )
        .await?;
    assert_eq!(page.status, 200, "{}", page.text);
    let items = page.json["data"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let actions: Vec<&str> = items.iter().filter_map(|i| i["action"].as_str()).collect();
    assert_eq!(actions, ["order.cancel", "order.pay"], "{}", page.text);
    let cancel = &items[0];
    assert_eq!(cancel["request_id"], "audit-cancel-1");
    assert_eq!(cancel["actor"], "admin");
    assert_eq!(cancel["target_type"], "order");
    assert_eq!(
        cancel["diff"]["status"],
        json!({"from": "paid", "to": "cancelled"})
    );
    assert_eq!(
        cancel["diff"]["reason"],
        json!({"from": null, "to": "customer called"})
    );
    assert_eq!(items[1]["request_id"], "audit-pay-1");

    // Rows and moves agree: one audit row per admin history row of the order.
    let history = app
        .scalar(&format!(
            "SELECT count(*) FROM order_history WHERE order_id = '{order}' AND actor = 'admin'"
        ))
        .await?;
    let audited = app
        .scalar(&format!(
            "SELECT count(*) FROM audit_log WHERE target_type = 'order' AND target_id = '{order}'"
        ))
        .await?;
    assert_eq!((history, audited), (2, 2));
    Ok(())
}

#[tokio::test]
async fn the_log_pages_by_cursor_filters_and_is_for_admins_only() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    for n in 0..3 {
        let order = an_order(&app, &admin).await?;
        let status = admin_post(
            &app,
            &admin,
            &format!("/api/admin/orders/{order}/cancel"),
            json!({"reason": format!("test {n}")}),
            &format!("page-{n}"),
        )
        .await?;
        assert_eq!(status, 200);
    }
    let mut seen = Vec::new();
    let mut path = "/api/admin/audit?target=order&limit=2".to_owned();
    loop {
        let page = app.get(&path, Some(&admin)).await?;
        assert_eq!(page.status, 200, "{}", page.text);
        for item in page.json["data"]["items"].as_array().into_iter().flatten() {
            seen.push(item["request_id"].as_str().unwrap_or_default().to_owned());
        }
        match page.json["data"]["next_before"].as_i64() {
            Some(cursor) => path = format!("/api/admin/audit?target=order&limit=2&before={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["page-2", "page-1", "page-0"]);

    let future = app
        .get("/api/admin/audit?since=2999-01-01T00:00:00Z", Some(&admin))
        .await?;
    assert_eq!(future.json["data"]["items"], json!([]), "{}", future.text);
    for bad in [
        "since=yesterday",
        "target=Order",
        "limit=0",
        "limit=101",
        "before=0",
    ] {
        let reply = app
            .get(&format!("/api/admin/audit?{bad}"), Some(&admin))
            .await?;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text);
        assert_eq!(reply.json["error"], "VALIDATION_ERROR", "{bad}");
    }
    let customer = app.customer().await?;
    let refused = app.get("/api/admin/audit", Some(&customer)).await?;
    assert_eq!(refused.status, 403);
    Ok(())
}

#[tokio::test]
async fn the_table_refuses_updates_deletes_and_truncation() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let order = an_order(&app, &admin).await?;
    let status = admin_post(
        &app,
        &admin,
        &format!("/api/admin/orders/{order}/cancel"),
        json!({"reason": "audit me"}),
        "immutable-1",
    )
    .await?;
    assert_eq!(status, 200);
    let before = app.scalar("SELECT count(*) FROM audit_log").await?;
    assert!(before >= 1);
    for sql in [
        "UPDATE audit_log SET action = 'order.ship'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        match app.db.execute_unprepared(sql).await {
            Ok(_) => panic!("{sql} was allowed"),
            Err(err) => assert!(err.to_string().contains("append-only"), "{sql}: {err}"),
        }
    }
    assert_eq!(app.scalar("SELECT count(*) FROM audit_log").await?, before);
    let action = app
        .strings("SELECT action FROM audit_log WHERE request_id = 'immutable-1'")
        .await?;
    assert_eq!(action, ["order.cancel"]);
    Ok(())
}
