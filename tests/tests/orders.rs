//! Carts, orders and the order-placed pipeline against the real stack.

use e2e::{
    add_to_cart as add, admin_token, assert_stock, assert_stock_at, client, create_product,
    database, get, instance_urls, mail_count, new_customer, nginx_url, place_order as place, send,
    wait_for_mail,
};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};

fn tag() -> String {
    format!("o{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

#[tokio::test]
async fn the_journey_from_registration_to_confirmation_mail_ledger_and_fresh_listings()
-> anyhow::Result<()> {
    let admin = admin_token(&client()).await?;
    let q = tag();
    let product = create_product(
        &client(),
        &nginx_url(),
        &admin,
        &format!("Journey tea {q}"),
        20,
        450,
    )
    .await?;
    let id = product["id"].as_str().unwrap_or_default().to_owned();
    let instances = instance_urls();
    // Warm every instance's listing so a stale cache would show.
    for base in &instances {
        get(&format!("{base}/api/products?q={q}")).await?;
    }

    let (c, _, email) = new_customer("journey").await?;
    // Registered and verified; now the customer logs in, on another instance.
    let login = e2e::post_json(
        &c,
        &format!("{}/api/auth/login", instances[3]),
        &serde_json::json!({"email": email, "password": e2e::CUSTOMER_PASSWORD}),
    )
    .await?;
    assert_eq!(login.status, 200, "{}", login.text);
    let token = login.json["data"]["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let added = add(&c, &instances[0], &token, &id, 3).await?;
    assert_eq!(added.status, 200, "{}", added.text);
    let cart = send(
        c.get(format!("{}/api/cart", instances[1]))
            .bearer_auth(&token),
    )
    .await?;
    assert_eq!(cart.json["data"]["total_cents"], 1350);
    assert_eq!(
        cart.json["data"]["items"][0]["product_name"],
        format!("Journey tea {q}")
    );
    assert_eq!(cart.json["data"]["items"][0]["line_total_cents"], 1350);

    let order = place(&c, &instances[2], &token).await?;
    assert_eq!(order.status, 201, "{}", order.text);
    assert_eq!(order.json["data"]["status"], "pending");
    assert_eq!(order.json["data"]["total_cents"], 1350);
    assert_eq!(order.json["data"]["items"][0]["unit_price_cents"], 450);
    let order_id = order.data_id();
    let number = order.json["data"]["number"].as_i64();
    assert!(number.is_some_and(|n| n >= 1000), "{}", order.text);
    let number = number.unwrap_or_default();

    // Every instance lists the new stock within the staleness bound (orders do not
    // invalidate the cache; admin writes do, at once).
    for base in &instances {
        assert_stock_at(&format!("{base}/api/products?q={q}"), "/data/0/stock", 17).await?;
    }
    // The cart is empty, the order is mine.
    let cart = send(
        c.get(format!("{}/api/cart", instances[3]))
            .bearer_auth(&token),
    )
    .await?;
    assert_eq!(cart.json["data"]["items"], json!([]));
    let mine = send(
        c.get(format!("{}/api/orders", nginx_url()))
            .bearer_auth(&token),
    )
    .await?;
    assert_eq!(mine.json["data"][0]["id"], order_id.as_str());
    assert_eq!(mine.json["data"][0]["number"], number);
    assert_eq!(mine.json["pagination"]["total"], 1);

    // The confirmation e-mail, text and HTML, with the number, the lines, the right
    // total, the UUID as reference and the link to the order.
    let mail = wait_for_mail(&email, &e2e::order_subject(number), 0).await?;
    let text = mail["text"].as_str().unwrap_or_default();
    assert!(text.contains(&format!("Order #{number}")), "{text}");
    assert!(text.contains(&format!("Reference: {order_id}")), "{text}");
    assert!(
        text.contains(&format!("3 x Journey tea {q}, 4.50 USD each: 13.50 USD")),
        "{text}"
    );
    assert!(text.contains("Total: 13.50 USD"), "{text}");
    let link = e2e::order_url(&order_id);
    assert!(text.contains(&format!("See your order: {link}")), "{text}");
    let html = mail["html"].as_str().unwrap_or_default();
    assert!(
        html.contains(&format!("Order #{number} is confirmed")),
        "{html}"
    );
    assert!(html.contains(&format!("Journey tea {q}")), "{html}");
    assert!(html.contains("13.50 USD"), "{html}");
    let href = link.replace('&', "&amp;");
    assert!(html.contains(&format!("<a href=\"{href}\"")), "{html}");
    assert!(html.contains("View your order</a>"), "{html}");

    // The ledger has the order's movement, exactly once.
    let db = database().await?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT delta FROM inventory_movements WHERE order_id = $1::uuid",
                [order_id.clone().into()],
            ))
            .await?;
        if !rows.is_empty() {
            assert_eq!(rows.len(), 1);
            let delta: i32 = rows[0].try_get("", "delta")?;
            assert_eq!(delta, -3);
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no ledger movement for {order_id}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Ok(())
}

#[tokio::test]
async fn forty_buyers_of_the_last_ten_units_exactly_ten_succeed_and_stock_ends_at_zero()
-> anyhow::Result<()> {
    let admin = admin_token(&client()).await?;
    let product = create_product(
        &client(),
        &nginx_url(),
        &admin,
        &format!("Scarce {}", tag()),
        10,
        999,
    )
    .await?;
    let id = product["id"].as_str().unwrap_or_default().to_owned();
    let buyers = futures_util::future::try_join_all((0..40).map(|_| new_customer("storm"))).await?;
    for (c, token, _) in &buyers {
        let added = add(c, &nginx_url(), token, &id, 1).await?;
        assert_eq!(added.status, 200, "{}", added.text);
    }
    let instances = instance_urls();
    let orders = buyers
        .iter()
        .enumerate()
        .map(|(i, (c, token, _))| place(c, &instances[i % instances.len()], token));
    let replies = futures_util::future::try_join_all(orders).await?;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let refused: Vec<&e2e::Reply> = replies.iter().filter(|r| r.status == 409).collect();
    assert_eq!(
        created,
        10,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(refused.len(), 30);
    for r in refused {
        r.assert_error(409, "INSUFFICIENT_STOCK");
        assert_eq!(r.json["details"]["products"][0]["available"], 0);
    }
    assert_stock(&id, 0).await?;
    let db = database().await?;
    let sold = e2e::scalar_i64(
        &db,
        "SELECT COALESCE(sum(quantity), 0)::int8 AS sold FROM order_items WHERE product_id = $1::uuid",
        &id,
    )
    .await?;
    assert_eq!(sold, Some(10), "sold + remaining = initial");
    Ok(())
}

#[tokio::test]
async fn a_mixed_storm_over_hot_products_in_different_orders_has_no_deadlock_and_no_500()
-> anyhow::Result<()> {
    let admin = admin_token(&client()).await?;
    let mut ids = Vec::new();
    for i in 0..3 {
        let p = create_product(
            &client(),
            &nginx_url(),
            &admin,
            &format!("Hot {i} {}", tag()),
            12,
            100 + i,
        )
        .await?;
        ids.push(p["id"].as_str().unwrap_or_default().to_owned());
    }
    let buyers = futures_util::future::try_join_all((0..16).map(|_| new_customer("mixed"))).await?;
    for (n, (c, token, _)) in buyers.iter().enumerate() {
        // Each buyer adds the hot products in another order.
        let mut mine = ids.clone();
        mine.rotate_left(n % 3);
        if n % 2 == 1 {
            mine.reverse();
        }
        for id in &mine {
            let added = add(c, &nginx_url(), token, id, 1).await?;
            assert!(added.status == 200 || added.status == 409, "{}", added.text);
        }
    }
    let instances = instance_urls();
    let replies = futures_util::future::try_join_all(
        buyers
            .iter()
            .enumerate()
            .map(|(i, (c, token, _))| place(c, &instances[i % instances.len()], token)),
    )
    .await?;
    for r in &replies {
        assert!(
            r.status == 201 || r.status == 409,
            "{} {}",
            r.status,
            r.text
        );
    }
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        created, 12,
        "12 units of each product, every buyer wants one of each"
    );
    for id in &ids {
        assert_stock(id, 0).await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_refusal_under_an_idempotency_key_is_replayed_even_after_stock_returns()
-> anyhow::Result<()> {
    let c = client();
    let admin = admin_token(&c).await?;
    let product = create_product(
        &c,
        &nginx_url(),
        &admin,
        &format!("Scarce {}", tag()),
        1,
        900,
    )
    .await?;
    let id = product["id"].as_str().unwrap_or_default().to_owned();
    let (buyer, buyer_token, _) = new_customer("idem-refused").await?;
    let (rival, rival_token, _) = new_customer("idem-rival").await?;
    let post = |key: &str| {
        send(
            buyer
                .post(format!("{}/api/orders", nginx_url()))
                .bearer_auth(&buyer_token)
                .header("idempotency-key", key),
        )
    };

    // An empty cart: 422, and the same key stays 422 once the cart has something.
    let empty_key = uuid::Uuid::new_v4().to_string();
    post(&empty_key).await?.assert_error(422, "CART_EMPTY");
    add(&buyer, &nginx_url(), &buyer_token, &id, 1).await?;
    let again = post(&empty_key).await?;
    again.assert_error(422, "CART_EMPTY");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));

    // The rival takes the last unit: 409; restocked, the same key still answers 409.
    add(&rival, &nginx_url(), &rival_token, &id, 1).await?;
    assert_eq!(place(&rival, &nginx_url(), &rival_token).await?.status, 201);
    let key = uuid::Uuid::new_v4().to_string();
    let refused = post(&key).await?;
    refused.assert_error(409, "INSUFFICIENT_STOCK");
    assert_eq!(refused.header("idempotent-replayed"), None);
    let restock = send(
        c.post(format!("{}/api/admin/products/{id}/stock", nginx_url()))
            .bearer_auth(&admin)
            .json(&json!({"delta": 5, "reason": "restock"})),
    )
    .await?;
    assert_eq!(restock.status, 200, "{}", restock.text);
    let replayed = post(&key).await?;
    replayed.assert_error(409, "INSUFFICIENT_STOCK");
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.json["details"], refused.json["details"]);
    // A replay writes nothing: the database still holds the restocked 5.
    let db = database().await?;
    let stock = e2e::scalar_i64(
        &db,
        "SELECT stock::int8 FROM products WHERE id = $1::uuid",
        &id,
    )
    .await?;
    assert_eq!(stock, Some(5), "a replay writes nothing");

    // A new key is a new request: it succeeds now.
    let fresh = post(&uuid::Uuid::new_v4().to_string()).await?;
    assert_eq!(fresh.status, 201, "{}", fresh.text);
    assert_stock(&id, 4).await?;
    Ok(())
}

#[tokio::test]
async fn the_same_idempotency_key_twice_places_one_order_and_replays_the_body() -> anyhow::Result<()>
{
    let admin = admin_token(&client()).await?;
    let product = create_product(
        &client(),
        &nginx_url(),
        &admin,
        &format!("Once {}", tag()),
        5,
        700,
    )
    .await?;
    let id = product["id"].as_str().unwrap_or_default().to_owned();
    let (c, token, email) = new_customer("idem").await?;
    add(&c, &nginx_url(), &token, &id, 2).await?;
    let key = uuid::Uuid::new_v4().to_string();
    let instances = instance_urls();
    let post = |base: &str, body: Value| {
        send(
            c.post(format!("{base}/api/orders"))
                .bearer_auth(&token)
                .header("idempotency-key", &key)
                .json(&body),
        )
    };
    let first = post(&instances[0], json!({"note": "leave at the door"})).await?;
    assert_eq!(first.status, 201, "{}", first.text);
    let second = post(&instances[1], json!({"note": "leave at the door"})).await?;
    assert_eq!(second.status, 201, "{}", second.text);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.json["data"], second.json["data"]);
    let other = post(&instances[2], json!({"note": "ring twice"})).await?;
    other.assert_error(422, "IDEMPOTENCY_KEY_REUSED");
    let mine = send(
        c.get(format!("{}/api/orders", nginx_url()))
            .bearer_auth(&token),
    )
    .await?;
    assert_eq!(mine.json["pagination"]["total"], 1);
    assert_stock(&id, 3).await?;
    let subject = e2e::order_subject_of(&first)?;
    wait_for_mail(&email, &subject, 0).await?;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(mail_count(&email, &subject).await?, 1);
    Ok(())
}

#[tokio::test]
async fn an_empty_cart_is_422_and_nothing_is_written() -> anyhow::Result<()> {
    let (c, token, _) = new_customer("empty").await?;
    place(&c, &nginx_url(), &token)
        .await?
        .assert_error(422, "CART_EMPTY");
    let mine = send(
        c.get(format!("{}/api/orders", nginx_url()))
            .bearer_auth(&token),
    )
    .await?;
    assert_eq!(mine.json["pagination"]["total"], 0);
    Ok(())
}

#[tokio::test]
async fn customer_a_cannot_read_or_change_customer_bs_cart_or_orders() -> anyhow::Result<()> {
    let admin = admin_token(&client()).await?;
    let product = create_product(
        &client(),
        &nginx_url(),
        &admin,
        &format!("Private {}", tag()),
        5,
        300,
    )
    .await?;
    let id = product["id"].as_str().unwrap_or_default().to_owned();
    let (ca, token_a, _) = new_customer("alice").await?;
    let (cb, token_b, _) = new_customer("bob").await?;
    add(&cb, &nginx_url(), &token_b, &id, 1).await?;
    let order_b = place(&cb, &nginx_url(), &token_b).await?;
    assert_eq!(order_b.status, 201);
    let order_id = order_b.json["data"]["id"].as_str().unwrap_or_default();
    add(&cb, &nginx_url(), &token_b, &id, 1).await?;

    send(
        ca.get(format!("{}/api/orders/{order_id}", nginx_url()))
            .bearer_auth(&token_a),
    )
    .await?
    .assert_error(404, "NOT_FOUND");
    send(
        ca.patch(format!("{}/api/cart/items/{id}", nginx_url()))
            .bearer_auth(&token_a)
            .json(&json!({"quantity": 3})),
    )
    .await?
    .assert_error(404, "NOT_FOUND");
    send(
        ca.delete(format!("{}/api/cart/items/{id}", nginx_url()))
            .bearer_auth(&token_a),
    )
    .await?
    .assert_error(404, "NOT_FOUND");
    // Bob's cart is untouched; an admin may read his order.
    let cart_b = send(
        cb.get(format!("{}/api/cart", nginx_url()))
            .bearer_auth(&token_b),
    )
    .await?;
    assert_eq!(cart_b.json["data"]["items"][0]["quantity"], 1);
    let as_admin = send(
        client()
            .get(format!("{}/api/orders/{order_id}", nginx_url()))
            .bearer_auth(&admin),
    )
    .await?;
    assert_eq!(as_admin.status, 200);
    Ok(())
}

#[tokio::test]
async fn cart_rules_reject_bad_quantities_and_missing_stock() -> anyhow::Result<()> {
    let admin = admin_token(&client()).await?;
    let product = create_product(
        &client(),
        &nginx_url(),
        &admin,
        &format!("Few {}", tag()),
        3,
        100,
    )
    .await?;
    let id = product["id"].as_str().unwrap_or_default().to_owned();
    let (c, token, _) = new_customer("rules").await?;
    let base = nginx_url();
    add(&c, &base, &token, &id, 0)
        .await?
        .assert_error(400, "VALIDATION_ERROR");
    add(&c, &base, &token, &id, 11)
        .await?
        .assert_error(400, "VALIDATION_ERROR");
    add(&c, &base, &token, &id, 4)
        .await?
        .assert_error(409, "INSUFFICIENT_STOCK");
    add(&c, &base, &token, &uuid::Uuid::new_v4().to_string(), 1)
        .await?
        .assert_error(404, "NOT_FOUND");
    // Two tabs adding at once: one line with the summed quantity.
    let (a, b) = tokio::join!(
        add(&c, &base, &token, &id, 1),
        add(&c, &base, &token, &id, 1)
    );
    assert_eq!((a?.status, b?.status), (200, 200));
    let cart = send(c.get(format!("{base}/api/cart")).bearer_auth(&token)).await?;
    assert_eq!(cart.json["data"]["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(cart.json["data"]["items"][0]["quantity"], 2);
    Ok(())
}
