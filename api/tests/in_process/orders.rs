//! Carts, order placement under contention, idempotency and the outbox, in-process.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::support::{Reply, TestApp};

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

/// `(sum, count)` of `shop_db_statements_per_request` for `operation` on `app`: the
/// statements its requests ran, and how many requests.
async fn statements(app: &TestApp, operation: &str) -> anyhow::Result<(u64, u64)> {
    let metrics = app.get("/metrics", None).await?;
    let label = format!("operation=\"{operation}\"");
    let read = |series: &str| {
        metrics
            .text
            .lines()
            .find(|l| l.starts_with(series) && l.contains(&label))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0) as u64
    };
    Ok((
        read("shop_db_statements_per_request_sum{"),
        read("shop_db_statements_per_request_count{"),
    ))
}

/// The statements one `POST /api/orders` by `token` runs, and its reply.
async fn place_counted(app: &TestApp, token: &str) -> anyhow::Result<(u64, Reply)> {
    let (sum, count) = statements(app, "orders_place").await?;
    let reply = app.post("/api/orders", &json!({}), Some(token)).await?;
    let (sum_after, count_after) = statements(app, "orders_place").await?;
    anyhow::ensure!(count_after == count + 1, "one request measured");
    Ok((sum_after - sum, reply))
}

#[tokio::test]
async fn an_order_of_five_products_takes_each_ones_stock_with_as_many_statements_as_one_line()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let token = app.customer().await?;
    // (name, stock, price, quantity ordered); added to the cart in this order, which
    // is not the product-id order.
    let wanted = [
        ("Five-E", 10, 500, 5),
        ("Five-A", 3, 100, 3),
        ("Five-D", 40, 401, 1),
        ("Five-B", 7, 250, 2),
        ("Five-C", 9, 999, 4),
    ];
    let mut products = Vec::new();
    for (name, stock, price, quantity) in wanted {
        let id = app.product(&admin, name, stock, price).await?;
        products.push((id, name, stock, price, quantity));
    }
    // A one-line order first: the baseline the five-line order must not exceed.
    let single = app.product(&admin, "Single", 5, 100).await?;
    assert_eq!(add(&app, &token, &single, 1).await?, 200);
    let (one_line, reply) = place_counted(&app, &token).await?;
    assert_eq!(reply.status, 201, "{}", reply.text);

    for (id, _, _, _, quantity) in &products {
        assert_eq!(add(&app, &token, id, *quantity).await?, 200);
    }
    let (five_lines, reply) = place_counted(&app, &token).await?;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(
        five_lines, one_line,
        "an order runs as many statements with five lines as with one"
    );
    assert!(five_lines <= 6, "{five_lines} statements for one order");

    let order = &reply.json["data"];
    let lines = order["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(lines.len(), 5, "{order}");
    let mut total = 0;
    for (id, name, stock, price, quantity) in &products {
        let line = lines
            .iter()
            .find(|l| l["product_id"] == id.as_str())
            .ok_or_else(|| anyhow::anyhow!("no line for {name}: {order}"))?;
        assert_eq!(line["name"], *name);
        assert_eq!(line["quantity"], *quantity);
        assert_eq!(line["unit_price_cents"], *price);
        assert_eq!(line["line_total_cents"], price * quantity);
        total += price * quantity;
        let left = app
            .scalar(&format!(
                "SELECT stock::int8 FROM products WHERE id = '{id}'"
            ))
            .await?;
        assert_eq!(left, stock - quantity, "{name}");
    }
    assert_eq!(order["total_cents"], total);
    // The lines come back in product-id order, as stored.
    let mut ids: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["product_id"].as_str())
        .collect();
    let stored = ids.clone();
    ids.sort_unstable();
    assert_eq!(stored, ids);

    let id = order["id"].as_str().unwrap_or_default().to_owned();
    let read = app.get(&format!("/api/orders/{id}"), Some(&token)).await?;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.json["data"]["items"], order["items"]);
    assert_eq!(
        app.scalar(&format!(
            "SELECT count(*) FROM order_items WHERE order_id = '{id}'"
        ))
        .await?,
        5
    );
    assert_eq!(
        app.scalar("SELECT count(*) FROM cart_items").await?,
        0,
        "the cart is empty"
    );
    // The event carries every line with the stock right after the order.
    let event = app
        .published("order-placed", |e: &Value| {
            e["payload"]["order_id"] == id.as_str()
        })
        .await
        .ok_or_else(|| anyhow::anyhow!("no order-placed event for {id}"))?;
    let items = event["payload"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 5, "{event}");
    for (id, name, stock, price, quantity) in &products {
        let item = items
            .iter()
            .find(|i| i["product_id"] == id.as_str())
            .ok_or_else(|| anyhow::anyhow!("no event item for {name}"))?;
        assert_eq!(item["quantity"], *quantity);
        assert_eq!(item["unit_price_cents"], *price);
        assert_eq!(item["stock_after"], stock - quantity, "{name}");
        assert_eq!(item["low_stock_threshold"], 5, "{name}");
    }
    Ok(())
}

#[tokio::test]
async fn an_order_short_of_two_products_names_both_and_takes_nothing() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let token = app.customer().await?;
    let plenty = app.product(&admin, "Plenty", 50, 100).await?;
    let few = app.product(&admin, "Few", 2, 100).await?;
    let archived = app.product(&admin, "Archived later", 9, 100).await?;
    assert_eq!(add(&app, &token, &plenty, 4).await?, 200);
    assert_eq!(add(&app, &token, &few, 2).await?, 200);
    assert_eq!(add(&app, &token, &archived, 1).await?, 200);
    // Someone else buys one of the two; the admin archives the other product.
    app.db
        .execute_unprepared(&format!(
            "UPDATE products SET stock = 1 WHERE id = '{few}';
             UPDATE products SET status = 'archived' WHERE id = '{archived}'"
        ))
        .await?;
    let reply = app.post("/api/orders", &json!({}), Some(&token)).await?;
    reply.assert_error(409, "INSUFFICIENT_STOCK");
    let mut short: Vec<(String, i64, i64)> = reply.json["details"]["products"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_owned(),
                p["requested"].as_i64().unwrap_or(-1),
                p["available"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    short.sort();
    assert_eq!(
        short,
        [
            ("Archived later".to_owned(), 1, 0),
            ("Few".to_owned(), 2, 1)
        ],
        "{}",
        reply.text
    );
    let message = reply.json["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Few (requested 2, available 1)"),
        "{message}"
    );
    // Nothing was taken, nothing written, and the cart is as it was.
    assert_eq!(
        app.scalar(&format!(
            "SELECT stock::int8 FROM products WHERE id = '{plenty}'"
        ))
        .await?,
        50
    );
    assert_eq!(app.scalar("SELECT count(*) FROM orders").await?, 0);
    assert_eq!(app.scalar("SELECT count(*) FROM cart_items").await?, 3);
    Ok(())
}

#[tokio::test]
async fn two_buyers_of_the_same_two_products_in_opposite_cart_order_never_deadlock()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let siblings = [app.sibling().await?, app.sibling().await?];
    let mut bases = vec![app.base.clone()];
    bases.extend(siblings.iter().map(|s| s.base.clone()));
    let admin = app.admin().await?;
    let first = app.product(&admin, "Contended 1", 1000, 100).await?;
    let second = app.product(&admin, "Contended 2", 1000, 100).await?;
    let (a, b) = (app.customer().await?, app.customer().await?);
    let rounds = 20;
    for round in 0..rounds {
        // `a` puts the products in the cart in one order, `b` in the other (so a
        // per-line loop in cart order would lock the rows in opposite orders).
        let (add_a, add_b) = tokio::join!(
            async {
                anyhow::Ok((
                    add(&app, &a, &first, 1).await?,
                    add(&app, &a, &second, 2).await?,
                ))
            },
            async {
                anyhow::Ok((
                    add(&app, &b, &second, 2).await?,
                    add(&app, &b, &first, 1).await?,
                ))
            },
        );
        assert_eq!(add_a?, (200, 200));
        assert_eq!(add_b?, (200, 200));
        let place = |base: &str, token: &str| {
            app.send(
                app.http
                    .post(format!("{base}/api/orders"))
                    .bearer_auth(token)
                    .json(&json!({})),
            )
        };
        let (placed_a, placed_b) = tokio::join!(
            place(&bases[round % bases.len()], &a),
            place(&bases[(round + 1) % bases.len()], &b)
        );
        let (placed_a, placed_b) = (placed_a?, placed_b?);
        assert_eq!(placed_a.status, 201, "round {round}: {}", placed_a.text);
        assert_eq!(placed_b.status, 201, "round {round}: {}", placed_b.text);
    }
    let orders = rounds as i64 * 2;
    for (product, each) in [(&first, 1), (&second, 2)] {
        let stock = app
            .scalar(&format!(
                "SELECT stock::int8 FROM products WHERE id = '{product}'"
            ))
            .await?;
        assert_eq!(stock, 1000 - orders * each);
        let sold = app
            .scalar(&format!(
                "SELECT COALESCE(sum(quantity), 0)::int8 FROM order_items WHERE product_id = '{product}'"
            ))
            .await?;
        assert_eq!(sold, orders * each, "sold + remaining = initial");
    }
    assert_eq!(app.scalar("SELECT count(*) FROM orders").await?, orders);
    drop(siblings);
    Ok(())
}

#[tokio::test]
async fn a_page_of_a_hundred_orders_comes_with_every_line_in_three_statements() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let token = app.customer().await?;
    let mut products = Vec::new();
    for n in 0..3 {
        products.push(
            app.product(&admin, &format!("Paged {n}"), 10_000, 100 + n)
                .await?,
        );
    }
    // Order i holds 1 to 3 products, in quantities that differ per order.
    let mut placed = std::collections::HashMap::new();
    for i in 0..100usize {
        for (k, product) in products.iter().enumerate().take(i % 3 + 1) {
            let quantity = (i + k) % 4 + 1;
            assert_eq!(add(&app, &token, product, quantity as i64).await?, 200);
        }
        let reply = app.post("/api/orders", &json!({}), Some(&token)).await?;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let order = reply.json["data"].clone();
        placed.insert(order["id"].as_str().unwrap_or_default().to_owned(), order);
    }
    let (sum, count) = statements(&app, "orders_list").await?;
    let page = app.get("/api/orders?page_size=100", Some(&token)).await?;
    assert_eq!(page.status, 200, "{}", page.text);
    let (sum_after, count_after) = statements(&app, "orders_list").await?;
    assert_eq!(count_after, count + 1);
    // The count, the page, and the lines of the whole page.
    assert_eq!(sum_after - sum, 3, "statements for a page of 100 orders");

    let listed = page.json["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 100);
    assert_eq!(
        page.json["pagination"]["total"], 100,
        "{}",
        page.json["pagination"]
    );
    for order in &listed {
        let id = order["id"].as_str().unwrap_or_default();
        let original = placed
            .get(id)
            .ok_or_else(|| anyhow::anyhow!("listed an unknown order {id}"))?;
        assert_eq!(order["items"], original["items"], "lines of {id}");
        assert!(!order["items"].as_array().is_none_or(Vec::is_empty));
        assert_eq!(order["total_cents"], original["total_cents"]);
    }
    // A page of one costs the same.
    let (sum, _) = statements(&app, "orders_list").await?;
    let one = app.get("/api/orders?page_size=1", Some(&token)).await?;
    assert_eq!(one.status, 200);
    let (sum_after, _) = statements(&app, "orders_list").await?;
    assert_eq!(sum_after - sum, 3, "statements for a page of one order");
    Ok(())
}
