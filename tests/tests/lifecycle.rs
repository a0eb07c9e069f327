//! Orders after placement against the real stack, through nginx and the four
//! instances: races between transitions, cancellation giving stock back exactly once
//! (PostgreSQL, the listing and the inventory consumer's ledger agree), the expiry
//! job running once over four instances, signed payment webhooks (forgery, replay,
//! mismatch), addresses snapshotted into orders, and the e-mail of every step.

use std::time::Duration;

use e2e::{
    add_to_cart, admin_token, assert_stock, client, create_product, database, execute,
    instance_urls, mails_to, metric_at, new_customer, nginx_url, scalar_i64, send,
};
use futures_util::future::join_all;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

fn tag() -> String {
    format!("l{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}

/// A product with `stock` units at 250 cents; returns its id.
async fn product(admin: &str, stock: i64) -> anyhow::Result<String> {
    let p = create_product(
        &client(),
        &nginx_url(),
        admin,
        &format!("Lifecycle jam {}", tag()),
        stock,
        250,
    )
    .await?;
    Ok(id_of(&p))
}

/// Adds `quantity` of `product` and places the order through `base`; returns the
/// order's JSON.
async fn order(
    c: &reqwest::Client,
    base: &str,
    token: &str,
    product: &str,
    quantity: i64,
) -> anyhow::Result<Value> {
    let added = add_to_cart(c, base, token, product, quantity).await?;
    anyhow::ensure!(added.status == 200, "add: {}", added.text);
    let placed = e2e::place_order(c, base, token).await?;
    anyhow::ensure!(placed.status == 201, "place: {}", placed.text);
    Ok(placed.json["data"].clone())
}

async fn post(
    c: &reqwest::Client,
    url: String,
    token: &str,
    body: Option<Value>,
) -> anyhow::Result<e2e::Reply> {
    let req = c.post(url).bearer_auth(token);
    send(match body {
        Some(b) => req.json(&b),
        None => req,
    })
    .await
}

async fn mark_paid(c: &reqwest::Client, base: &str, admin: &str, id: &str) -> anyhow::Result<()> {
    let r = post(
        c,
        format!("{base}/api/admin/orders/{id}/mark-paid"),
        admin,
        Some(json!({"reference": "bank transfer"})),
    )
    .await?;
    anyhow::ensure!(r.status == 200, "mark-paid: {}", r.text);
    Ok(())
}

async fn status_of(db: &sea_orm::DatabaseConnection, id: &str) -> anyhow::Result<String> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT status FROM orders WHERE id = $1::uuid",
            [id.into()],
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no order {id}"))?;
    Ok(row.try_get_by_index::<String>(0)?)
}

async fn count(db: &sea_orm::DatabaseConnection, sql: &str, param: &str) -> anyhow::Result<i64> {
    Ok(scalar_i64(db, sql, param).await?.unwrap_or(0))
}

/// Waits until `sql` (one parameter) counts `expected`, for the consumers; fails
/// with what it counted last after a minute.
async fn wait_count(
    db: &sea_orm::DatabaseConnection,
    sql: &str,
    param: &str,
    expected: i64,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let n = count(db, sql, param).await?;
        if n == expected {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{sql} [{param}]: {n}, expected {expected}, within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The e-mails to `to` whose subject names order `number` and contains `word`.
async fn mails_about(to: &str, number: i64, word: &str) -> anyhow::Result<usize> {
    Ok(mails_to(to)
        .await?
        .iter()
        .filter(|m| {
            let s = m["subject"].as_str().unwrap_or_default().to_lowercase();
            s.contains(&format!("#{number} ")) || s.ends_with(&format!("#{number}"))
        })
        .filter(|m| {
            m["subject"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase()
                .contains(word)
        })
        .count())
}

/// Waits for one such e-mail, then checks no second one comes with the next ones.
async fn wait_mail_about(to: &str, number: i64, word: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while mails_about(to, number, word).await? == 0 {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no e-mail about order #{number} with '{word}' to {to} within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

const LEDGER_SUM: &str = "SELECT COALESCE(sum(delta), 0)::int8 FROM inventory_movements \
                          WHERE product_id = $1::uuid";
const STOCK: &str = "SELECT stock::int8 FROM products WHERE id = $1::uuid";

/// Counts the ledger rows of product `$1` that moved `delta`.
fn ledger_rows(delta: i64) -> String {
    format!(
        "SELECT count(*) FROM inventory_movements WHERE product_id = $1::uuid AND delta = {delta}"
    )
}

#[tokio::test]
async fn ship_and_cancel_of_one_paid_order_at_once_from_two_instances_one_wins_fifty_times()
-> anyhow::Result<()> {
    let admin = admin_token(&client()).await?;
    let p = product(&admin, 100).await?;
    let (c, token, _) = new_customer("race").await?;
    let instances = instance_urls();
    let db = database().await?;
    let (mut shipped, mut cancelled) = (0_i64, 0_i64);
    for i in 0..50 {
        let o = order(&c, &instances[i % 4], &token, &p, 1).await?;
        let id = id_of(&o);
        mark_paid(&c, &instances[(i + 1) % 4], &admin, &id).await?;
        let ship = post(
            &c,
            format!("{}/api/admin/orders/{id}/ship", instances[(i + 2) % 4]),
            &admin,
            None,
        );
        let cancel = post(
            &c,
            format!("{}/api/orders/{id}/cancel", instances[(i + 3) % 4]),
            &token,
            Some(json!({"reason": "changed my mind"})),
        );
        let (ship, cancel) = tokio::join!(ship, cancel);
        let (ship, cancel) = (ship?, cancel?);
        let mut statuses = [ship.status, cancel.status];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 409],
            "round {i}: ship {} / cancel {}",
            ship.text,
            cancel.text
        );
        let (winner, loser) = if ship.status == 200 {
            shipped += 1;
            ("shipped", &cancel)
        } else {
            cancelled += 1;
            ("cancelled", &ship)
        };
        assert_eq!(
            loser.json["error"], "ORDER_STATE_CONFLICT",
            "{}",
            loser.text
        );
        assert_eq!(
            loser.json["details"]["current_status"], winner,
            "{}",
            loser.text
        );
        assert_eq!(status_of(&db, &id).await?, winner);
        assert_eq!(
            count(
                &db,
                "SELECT count(*) FROM order_history WHERE order_id = $1::uuid",
                &id
            )
            .await?,
            3,
            "placed, paid and the winner's move only"
        );
    }
    // Stock: 100 less one per order, plus one per cancellation, never twice.
    assert_eq!(count(&db, STOCK, &p).await?, 100 - shipped);
    // The ledger agrees with the winners once the inventory consumer caught up: one
    // -1 per order, one +1 per cancellation.
    wait_count(&db, &ledger_rows(-1), &p, 50).await?;
    wait_count(&db, &ledger_rows(1), &p, cancelled).await?;
    assert_eq!(count(&db, LEDGER_SUM, &p).await?, -shipped);
    assert_eq!(shipped + cancelled, 50);
    Ok(())
}

#[tokio::test]
async fn cancelling_gives_stock_back_exactly_once_under_twenty_concurrent_cancels()
-> anyhow::Result<()> {
    let admin = admin_token(&client()).await?;
    let p = product(&admin, 10).await?;
    let (c, token, email) = new_customer("cancel").await?;
    let o = order(&c, &nginx_url(), &token, &p, 3).await?;
    let (id, number) = (id_of(&o), o["number"].as_i64().unwrap_or_default());
    assert_eq!(o["status"], "pending");
    let db = database().await?;
    assert_eq!(count(&db, STOCK, &p).await?, 7);
    let instances = instance_urls();
    let replies = join_all((0..20).map(|i| {
        post(
            &c,
            format!("{}/api/orders/{id}/cancel", instances[i % 4]),
            &token,
            None,
        )
    }))
    .await;
    let mut ok = 0;
    for r in replies {
        let r = r?;
        match r.status {
            200 => {
                ok += 1;
                assert_eq!(r.json["data"]["status"], "cancelled");
            }
            409 => assert_eq!(
                r.json["details"]["current_status"], "cancelled",
                "{}",
                r.text
            ),
            other => panic!("cancel answered {other}: {}", r.text),
        }
    }
    assert_eq!(ok, 1, "exactly one cancellation wins");
    assert_eq!(
        count(&db, STOCK, &p).await?,
        10,
        "the 3 units came back once"
    );
    assert_stock(&p, 10).await?;
    // The ledger: -3 for the order and +3 for the cancellation, each once (the
    // counts grow as the inventory consumer works; a sum alone is 0 before it starts).
    wait_count(&db, &ledger_rows(-3), &p, 1).await?;
    wait_count(&db, &ledger_rows(3), &p, 1).await?;
    assert_eq!(count(&db, LEDGER_SUM, &p).await?, 0);
    wait_mail_about(&email, number, "cancel").await?;
    // The detail shows the history, and someone else cannot cancel or see it.
    let detail = send(
        c.get(format!("{}/api/orders/{id}", nginx_url()))
            .bearer_auth(&token),
    )
    .await?;
    let moves: Vec<(Value, Value)> = detail.json["data"]["history"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|h| (h["to_status"].clone(), h["actor"].clone()))
        .collect();
    assert_eq!(
        moves,
        vec![
            (json!("pending"), json!("customer")),
            (json!("cancelled"), json!("customer"))
        ],
        "{}",
        detail.text
    );
    let (other, other_token, _) = new_customer("cancel-other").await?;
    let r = post(
        &other,
        format!("{}/api/orders/{id}/cancel", nginx_url()),
        &other_token,
        None,
    )
    .await?;
    assert_eq!(r.status, 404, "{}", r.text);
    // One mail only: the email consumer handled the cancellation once (its event is
    // done in processed_events), and the catcher holds one mail about it.
    wait_count(
        &db,
        "SELECT count(*) FROM processed_events p JOIN outbox o ON o.event_id = p.event_id
          WHERE p.consumer = 'email' AND p.state = 'done' AND o.message_key = $1
            AND o.payload->>'type' = 'order-cancelled'",
        &id,
        1,
    )
    .await?;
    assert_eq!(mails_about(&email, number, "cancel").await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_shipped_order_cannot_be_cancelled_and_a_paid_one_is_refunded_after_cancel()
-> anyhow::Result<()> {
    let admin = admin_token(&client()).await?;
    let p = product(&admin, 10).await?;
    let (c, token, email) = new_customer("flow").await?;
    let base = nginx_url();
    let db = database().await?;

    // pending -> paid -> shipped -> delivered, with an e-mail at every step.
    let o = order(&c, &base, &token, &p, 1).await?;
    let (id, number) = (id_of(&o), o["number"].as_i64().unwrap_or_default());
    let early = post(
        &c,
        format!("{base}/api/admin/orders/{id}/ship"),
        &admin,
        None,
    )
    .await?;
    assert_eq!(
        early.status, 409,
        "unpaid orders do not ship: {}",
        early.text
    );
    assert_eq!(early.json["details"]["current_status"], "pending");
    mark_paid(&c, &base, &admin, &id).await?;
    let shipped = post(
        &c,
        format!("{base}/api/admin/orders/{id}/ship"),
        &admin,
        Some(json!({"tracking": "TRACK-123"})),
    )
    .await?;
    assert_eq!(shipped.status, 200, "{}", shipped.text);
    let late = post(&c, format!("{base}/api/orders/{id}/cancel"), &token, None).await?;
    assert_eq!(late.status, 409, "{}", late.text);
    assert_eq!(late.json["details"]["current_status"], "shipped");
    assert_eq!(
        count(&db, STOCK, &p).await?,
        9,
        "no stock back for a refused cancel"
    );
    let delivered = post(
        &c,
        format!("{base}/api/admin/orders/{id}/deliver"),
        &admin,
        None,
    )
    .await?;
    assert_eq!(delivered.status, 200, "{}", delivered.text);
    assert_eq!(delivered.json["data"]["status"], "delivered");
    for word in ["paid", "on its way", "delivered"] {
        wait_mail_about(&email, number, word).await?;
    }

    // A paid order cancelled by the admin (a reason is required), then refunded.
    let o = order(&c, &base, &token, &p, 2).await?;
    let (id, number) = (id_of(&o), o["number"].as_i64().unwrap_or_default());
    mark_paid(&c, &base, &admin, &id).await?;
    let no_reason = post(
        &c,
        format!("{base}/api/admin/orders/{id}/cancel"),
        &admin,
        Some(json!({"reason": "  "})),
    )
    .await?;
    assert_eq!(no_reason.status, 400, "{}", no_reason.text);
    assert_eq!(no_reason.json["details"]["field"], "reason");
    let by_customer = post(
        &c,
        format!("{base}/api/admin/orders/{id}/cancel"),
        &token,
        Some(json!({"reason": "x"})),
    )
    .await?;
    assert_eq!(by_customer.status, 403, "{}", by_customer.text);
    let cancelled = post(
        &c,
        format!("{base}/api/admin/orders/{id}/cancel"),
        &admin,
        Some(json!({"reason": "out of stock at the warehouse"})),
    )
    .await?;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    assert_eq!(count(&db, STOCK, &p).await?, 9, "the 2 units came back");
    let refunded = post(
        &c,
        format!("{base}/api/admin/orders/{id}/refund"),
        &admin,
        None,
    )
    .await?;
    assert_eq!(refunded.status, 200, "{}", refunded.text);
    assert_eq!(refunded.json["data"]["status"], "refunded");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM payments WHERE order_id = $1::uuid AND status = 'refunded'",
            &id
        )
        .await?,
        1
    );
    wait_mail_about(&email, number, "cancel").await?;
    wait_mail_about(&email, number, "refund").await?;

    // An unpaid order cancelled is owed nothing: no refund.
    let o = order(&c, &base, &token, &p, 1).await?;
    let id = id_of(&o);
    let r = post(&c, format!("{base}/api/orders/{id}/cancel"), &token, None).await?;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = post(
        &c,
        format!("{base}/api/admin/orders/{id}/refund"),
        &admin,
        None,
    )
    .await?;
    assert_eq!(r.status, 409, "{}", r.text);

    // The admin's list filters by status and buyer.
    let me = send(c.get(format!("{base}/api/auth/me")).bearer_auth(&token)).await?;
    let user = me.json["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let list = send(
        c.get(format!(
            "{base}/api/admin/orders?status=cancelled&user_id={user}"
        ))
        .bearer_auth(&admin),
    )
    .await?;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.json["pagination"]["total"], 1, "{}", list.text);
    assert_eq!(list.json["data"][0]["id"], id.as_str());
    let bad = send(
        c.get(format!("{base}/api/admin/orders?status=lost"))
            .bearer_auth(&admin),
    )
    .await?;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(bad.json["details"]["field"], "status");
    Ok(())
}

#[tokio::test]
async fn unpaid_orders_expire_once_across_four_instances_and_give_stock_back_once()
-> anyhow::Result<()> {
    let admin = admin_token(&client()).await?;
    let p = product(&admin, 40).await?;
    let (c, token, email) = new_customer("expiry").await?;
    let instances = instance_urls();
    let mut ids = Vec::new();
    for i in 0..10 {
        let o = order(&c, &instances[i % 4], &token, &p, 2).await?;
        assert!(
            o["expires_at"].is_string(),
            "an unpaid order says when it expires: {o}"
        );
        ids.push((id_of(&o), o["number"].as_i64().unwrap_or_default()));
    }
    // One of them is paid: it must not expire.
    mark_paid(&c, &nginx_url(), &admin, &ids[0].0).await?;
    let db = database().await?;
    assert_eq!(count(&db, STOCK, &p).await?, 20);
    // Due now: every instance's next tick races for them.
    for (id, _) in &ids {
        execute(
            &db,
            "UPDATE orders SET expires_at = now() - interval '1 second' WHERE id = $1::uuid",
            &[id],
        )
        .await?;
    }
    wait_count(
        &db,
        "SELECT count(*) FROM orders WHERE user_id = (SELECT user_id FROM orders WHERE id = $1::uuid)
           AND status = 'cancelled'",
        &ids[1].0,
        9,
    )
    .await?;
    assert_eq!(status_of(&db, &ids[0].0).await?, "paid");
    assert_eq!(count(&db, STOCK, &p).await?, 38, "18 units back, once each");
    for (id, _) in &ids[1..] {
        assert_eq!(
            count(
                &db,
                "SELECT count(*) FROM order_history WHERE order_id = $1::uuid
                   AND to_status = 'cancelled' AND actor = 'system'",
                id
            )
            .await?,
            1
        );
    }
    wait_count(&db, &ledger_rows(-2), &p, 10).await?;
    wait_count(&db, &ledger_rows(2), &p, 9).await?;
    assert_eq!(count(&db, LEDGER_SUM, &p).await?, -2);
    wait_mail_about(&email, ids[1].1, "cancel").await?;
    // Every instance passes over the due orders once more (its pass counter, not a
    // sleep) and finds nothing left to do.
    let mut wanted = Vec::new();
    for base in &instances {
        wanted.push(metric_at(base, "shop_order_expiry_passes_total").await? + 1);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for (base, wanted) in instances.iter().zip(wanted) {
        while metric_at(base, "shop_order_expiry_passes_total").await? < wanted {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{base}: no expiry pass"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    assert_eq!(count(&db, STOCK, &p).await?, 38);
    assert_eq!(mails_about(&email, ids[1].1, "cancel").await?, 1);
    Ok(())
}

/// `Stripe-Signature` for `body` at `t` with `secret`.
fn stripe_signature(secret: &str, t: i64, body: &str) -> anyhow::Result<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())?;
    mac.update(format!("{t}.{body}").as_bytes());
    let sig: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(format!("t={t},v1={sig}"))
}

fn intent_succeeded(event: &str, order: &str, amount: i64, currency: &str) -> String {
    json!({
        "id": event,
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": {
            "id": format!("pi_{}", tag()),
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount,
            "currency": currency,
            "metadata": {"order_id": order}
        }}
    })
    .to_string()
}

async fn webhook(
    base: &str,
    signature: Option<String>,
    body: String,
) -> anyhow::Result<e2e::Reply> {
    let mut req = client()
        .post(format!("{base}/api/webhooks/payments/stripe"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(s) = signature {
        req = req.header("Stripe-Signature", s);
    }
    send(req).await
}

#[tokio::test]
async fn payment_webhooks_pay_only_genuine_matching_events_once() -> anyhow::Result<()> {
    let secret = std::env::var("STRIPE_WEBHOOK_SECRET")?;
    let admin = admin_token(&client()).await?;
    let p = product(&admin, 10).await?;
    let (c, token, email) = new_customer("pay").await?;
    let base = nginx_url();
    let db = database().await?;
    let o = order(&c, &base, &token, &p, 2).await?;
    let (id, number) = (id_of(&o), o["number"].as_i64().unwrap_or_default());
    let now = chrono::Utc::now().timestamp();
    let payments = "SELECT count(*) FROM payments WHERE order_id = $1::uuid";

    // Forged: signed with another secret, tampered, too old, unsigned.
    let body = intent_succeeded(&format!("evt_{}", tag()), &id, 500, "usd");
    let forged = [
        Some(stripe_signature("whsec_not_the_secret", now, &body)?),
        // Genuine, but of another body than the one sent.
        Some(stripe_signature(&secret, now, &body.replace("500", "5"))?),
        Some(stripe_signature(&secret, now - 3600, &body)?),
        Some("t=garbage".to_owned()),
        None,
    ];
    for sig in forged {
        let r = webhook(&base, sig.clone(), body.clone()).await?;
        assert_eq!(r.status, 400, "{sig:?}: {}", r.text);
        assert_eq!(r.json["error"], "WEBHOOK_SIGNATURE_INVALID", "{}", r.text);
    }
    // The tampered body with the genuine signature of the original.
    let r = webhook(
        &base,
        Some(stripe_signature(&secret, now, &body)?),
        body.replace("500", "5"),
    )
    .await?;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(status_of(&db, &id).await?, "pending");
    assert_eq!(
        count(&db, payments, &id).await?,
        0,
        "a forgery writes nothing"
    );

    // A genuine event for the wrong amount, then the wrong currency: refused, recorded.
    for (amount, currency) in [(499, "usd"), (500, "eur")] {
        let body = intent_succeeded(&format!("evt_{}", tag()), &id, amount, currency);
        let r = webhook(&base, Some(stripe_signature(&secret, now, &body)?), body).await?;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.json["error"], "PAYMENT_MISMATCH", "{}", r.text);
    }
    assert_eq!(status_of(&db, &id).await?, "pending");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM payments WHERE order_id = $1::uuid AND status = 'mismatched'",
            &id
        )
        .await?,
        2
    );

    // The genuine matching event, delivered twice at once to two instances: one wins.
    let body = intent_succeeded(&format!("evt_{}", tag()), &id, 500, "usd");
    let sig = stripe_signature(&secret, now, &body)?;
    let instances = instance_urls();
    let (a, b) = tokio::join!(
        webhook(&instances[0], Some(sig.clone()), body.clone()),
        webhook(&instances[1], Some(sig.clone()), body.clone())
    );
    let mut statuses = [a?.status, b?.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    assert_eq!(status_of(&db, &id).await?, "paid");
    // Replayed later: refused, nothing changes.
    let r = webhook(&base, Some(sig), body).await?;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM payments WHERE order_id = $1::uuid AND status = 'succeeded'",
            &id
        )
        .await?,
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM order_history WHERE order_id = $1::uuid AND to_status = 'paid'
               AND actor = 'provider'",
            &id
        )
        .await?,
        1
    );
    wait_mail_about(&email, number, "paid").await?;
    Ok(())
}

#[tokio::test]
async fn an_order_ships_to_a_snapshot_of_an_address_and_needs_one() -> anyhow::Result<()> {
    let admin = admin_token(&client()).await?;
    let p = product(&admin, 10).await?;
    let (c, token, _) = new_customer("address").await?;
    let base = nginx_url();
    // The helper gave the customer a default address; remove every address.
    let book = send(
        c.get(format!("{base}/api/me/addresses"))
            .bearer_auth(&token),
    )
    .await?;
    assert_eq!(book.status, 200, "{}", book.text);
    for a in book.json["data"].as_array().cloned().unwrap_or_default() {
        let r = send(
            c.delete(format!("{base}/api/me/addresses/{}", id_of(&a)))
                .bearer_auth(&token),
        )
        .await?;
        assert_eq!(r.status, 204, "{}", r.text);
    }
    let added = add_to_cart(&c, &base, &token, &p, 1).await?;
    assert_eq!(added.status, 200, "{}", added.text);
    let refused = e2e::place_order(&c, &base, &token).await?;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.json["error"], "SHIPPING_ADDRESS_REQUIRED");
    assert_eq!(refused.json["details"]["field"], "shipping_address_id");
    let db = database().await?;
    assert_eq!(count(&db, STOCK, &p).await?, 10, "nothing taken");

    let created = post(
        &c,
        format!("{base}/api/me/addresses"),
        &token,
        Some(json!({
            "name": "Ada Lovelace", "line1": "12 St James's Square", "city": "London",
            "postal_code": "SW1Y 4JH", "country": "gb", "phone": "+44 20 7946 0000"
        })),
    )
    .await?;
    assert_eq!(created.status, 201, "{}", created.text);
    let address = id_of(&created.json["data"]);
    let placed = send(
        c.post(format!("{base}/api/orders"))
            .bearer_auth(&token)
            .json(&json!({"shipping_address_id": address})),
    )
    .await?;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let order = id_of(&placed.json["data"]);
    assert_eq!(
        placed.json["data"]["shipping_address"]["country"], "GB",
        "{}",
        placed.text
    );
    // Editing the book later does not move a placed order.
    let r = send(
        c.patch(format!("{base}/api/me/addresses/{address}"))
            .bearer_auth(&token)
            .json(&json!({"city": "Paris", "country": "FR"})),
    )
    .await?;
    assert_eq!(r.status, 200, "{}", r.text);
    let detail = send(
        c.get(format!("{base}/api/orders/{order}"))
            .bearer_auth(&token),
    )
    .await?;
    assert_eq!(detail.json["data"]["shipping_address"]["city"], "London");
    // Someone else's address id is refused by name, and nothing is taken.
    let (o, other, _) = new_customer("address-other").await?;
    let added = add_to_cart(&o, &base, &other, &p, 1).await?;
    assert_eq!(added.status, 200, "{}", added.text);
    let r = send(
        o.post(format!("{base}/api/orders"))
            .bearer_auth(&other)
            .json(&json!({"shipping_address_id": address})),
    )
    .await?;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.json["details"]["field"], "shipping_address_id");
    assert_eq!(count(&db, STOCK, &p).await?, 9);
    Ok(())
}
