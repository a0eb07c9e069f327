//! Operating the native stack: scaling 4 → 6 → 2 → 4 and a rolling restart under
//! load, and the admin statistics. These tests change the stack (or count rows of the
//! whole shop), so they take turns through one lock; test binaries run one after
//! another, so no other test runs meanwhile.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use e2e::{
    Reply, add_to_cart, admin_token, client, create_product, database, get, get_auth, new_customer,
    nginx_url, place_order, send, stack,
};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use tokio::sync::Mutex;

static TURN: Mutex<()> = Mutex::const_new(());

/// Appends a line to the operations summary that `scripts/test.sh` prints at the end.
fn report(line: &str) {
    eprintln!("{line}");
    if let Ok(dir) = std::env::var("SHOP_LOG_DIR") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(format!("{dir}/operations-summary.log"))
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// GETs through nginx until stopped; counts successes and failures (with samples).
struct GetLoad {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    samples: Arc<std::sync::Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl GetLoad {
    fn start(workers: usize, paths: &'static [&'static str]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
        let tasks = (0..workers)
            .map(|w| {
                let (stop, ok, failed, samples) =
                    (stop.clone(), ok.clone(), failed.clone(), samples.clone());
                tokio::spawn(async move {
                    // A connection per request: an idle keep-alive connection can be
                    // closed by an nginx worker retiring at a reload just as a client
                    // reuses it (browsers retry those transparently, reqwest does not);
                    // counting those would measure the client, not what the server drops.
                    let c = reqwest::Client::builder()
                        .timeout(Duration::from_secs(30))
                        .pool_max_idle_per_host(0)
                        .build()
                        .unwrap_or_default();
                    let mut i = w;
                    while !stop.load(Ordering::Relaxed) {
                        let path = paths[i % paths.len()];
                        i += 1;
                        match c.get(format!("{}{path}", nginx_url())).send().await {
                            Ok(r) if r.status().is_success() => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            outcome => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                let what = match outcome {
                                    Ok(r) => format!("{path}: {}", r.status()),
                                    Err(e) => format!("{path}: {e}"),
                                };
                                if let Ok(mut s) = samples.lock() {
                                    s.push(what);
                                }
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                })
            })
            .collect();
        Self {
            stop,
            ok,
            failed,
            samples,
            tasks,
        }
    }

    async fn finish(self) -> (u64, u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
        let samples = self.samples.lock().map(|s| s.clone()).unwrap_or_default();
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            samples,
        )
    }
}

/// The instance ids that answer `/stats/instance` through nginx in `requests` calls.
async fn instances_seen(requests: usize) -> anyhow::Result<BTreeSet<String>> {
    let mut seen = BTreeSet::new();
    for _ in 0..requests {
        let r = get(&format!("{}/stats/instance", nginx_url())).await?;
        anyhow::ensure!(r.status == 200, "{}", r.text);
        if let Some(id) = r.json["data"]["instance_id"].as_str() {
            seen.insert(id.to_owned());
        }
    }
    Ok(seen)
}

fn expected_ids(n: u16) -> BTreeSet<String> {
    let base: u16 = std::env::var("API_BASE_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(5000);
    (0..n).map(|i| format!("api-{}", base + i)).collect()
}

#[tokio::test]
async fn scaling_4_to_6_to_2_and_back_keeps_every_request_succeeding() -> anyhow::Result<()> {
    let _turn = TURN.lock().await;
    let load = GetLoad::start(
        4,
        &[
            "/api/products?page_size=5",
            "/stats/instance",
            "/health/ready",
        ],
    );
    let started = Instant::now();
    let mut phases = Vec::new();
    let steps = async {
        for n in [6u16, 2, 4] {
            stack(&["scale", &n.to_string()]).await?;
            // After `scale` returns, only the new set answers.
            let seen = instances_seen(24 * usize::from(n)).await?;
            phases.push(format!(
                "{n}: {}",
                seen.iter().cloned().collect::<Vec<_>>().join(",")
            ));
            anyhow::ensure!(seen == expected_ids(n), "after scaling to {n}: {seen:?}");
        }
        Ok(())
    }
    .await;
    if steps.is_err() {
        // Leave the stack as the other tests expect it.
        let _ = stack(&["scale", "4"]).await;
    }
    let (ok, failed, samples) = load.finish().await;
    report(&format!(
        "scale 4→6→2→4 under load: {ok} GETs succeeded, {failed} failed in {:.1} s; instances seen after each step: {}",
        started.elapsed().as_secs_f64(),
        phases.join(" | ")
    ));
    steps?;
    assert_eq!(failed, 0, "failed requests: {samples:?}");
    assert!(ok > 100, "the load ran: {ok}");
    Ok(())
}

/// One buyer placing orders in a loop: add to cart, then `POST /api/orders` with an
/// `Idempotency-Key`, retried with the same key on 502/503/connection errors.
async fn buyer(
    c: reqwest::Client,
    token: String,
    product: String,
    stop: Arc<AtomicBool>,
    retries: Arc<AtomicU64>,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut placed = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        // The cart add is retried too; a retried add may add a second unit, which
        // changes nothing about how many orders there are.
        loop {
            let r = c
                .post(format!("{}/api/cart/items", nginx_url()))
                .bearer_auth(&token)
                .json(&json!({"product_id": product, "quantity": 1}))
                .send()
                .await;
            match r {
                Ok(r) if r.status().is_success() => break,
                Ok(r) if matches!(r.status().as_u16(), 502 | 503) => {}
                Ok(r) if r.status().as_u16() == 409 => break, // already at the limit
                Ok(r) => anyhow::bail!("add to cart: {} {}", r.status(), r.text().await?),
                Err(_) => {}
            }
            retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let key = uuid::Uuid::new_v4().to_string();
        let order_id = loop {
            let r = c
                .post(format!("{}/api/orders", nginx_url()))
                .bearer_auth(&token)
                .header("idempotency-key", &key)
                .send()
                .await;
            match r {
                Ok(r) if r.status().as_u16() == 201 => {
                    let reply = Reply::read(r).await?;
                    break reply.data_id();
                }
                // 409 while the first attempt with this key is still running.
                Ok(r) if matches!(r.status().as_u16(), 409 | 502 | 503) => {}
                Ok(r) => anyhow::bail!("order: {} {}", r.status(), r.text().await?),
                Err(_) => {}
            }
            retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        placed.push((key, order_id));
        // A steady load, below what the email consumer sends per second, so the
        // confirmation mails do not pile up for the tests that run after this one.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(placed)
}

#[tokio::test]
async fn a_rolling_restart_under_load_fails_no_get_and_loses_or_duplicates_no_order()
-> anyhow::Result<()> {
    let _turn = TURN.lock().await;
    let drain_ms: u64 = std::env::var("SHUTDOWN_DRAIN_MS")?.parse()?;
    anyhow::ensure!(
        drain_ms >= 200,
        "the native stack must drain before closing (SHUTDOWN_DRAIN_MS={drain_ms})"
    );
    let admin = admin_token(&client()).await?;
    let product = create_product(
        &client(),
        &nginx_url(),
        &admin,
        &format!("Rolling {}", uuid::Uuid::new_v4().simple()),
        100_000,
        199,
    )
    .await?;
    let product_id = product["id"].as_str().unwrap_or_default().to_owned();
    let buyers =
        futures_util::future::try_join_all((0..4).map(|_| new_customer("rolling"))).await?;
    let ports: Vec<String> = std::env::var("SHOP_INSTANCE_PORTS")?
        .split(',')
        .map(str::to_owned)
        .collect();

    // Watch each instance's readiness directly: it must answer 503 while draining.
    let stop = Arc::new(AtomicBool::new(false));
    let watchers: Vec<_> = ports
        .iter()
        .map(|port| {
            let (port, stop) = (port.clone(), stop.clone());
            tokio::spawn(async move {
                let c = client();
                let mut saw_draining = false;
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(r) = c
                        .get(format!("http://127.0.0.1:{port}/health/ready"))
                        .send()
                        .await
                        && r.status().as_u16() == 503
                        && let Ok(body) = r.json::<Value>().await
                        && body["details"]["draining"] == true
                    {
                        saw_draining = true;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                (port, saw_draining)
            })
        })
        .collect();

    let load = GetLoad::start(
        4,
        &[
            "/api/products?page_size=5",
            "/stats/instance",
            "/api/products/count",
        ],
    );
    let retries = Arc::new(AtomicU64::new(0));
    let orders: Vec<_> = buyers
        .iter()
        .map(|(c, token, _)| {
            tokio::spawn(buyer(
                c.clone(),
                token.clone(),
                product_id.clone(),
                stop.clone(),
                retries.clone(),
            ))
        })
        .collect();

    let started = Instant::now();
    let restart = stack(&["rolling-restart"]).await;
    let took = started.elapsed();
    // A little more load on the restarted set, then stop everything.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let (gets_ok, gets_failed, samples) = load.finish().await;
    let mut placed = Vec::new();
    for o in orders {
        placed.extend(o.await??);
    }
    let mut drained = BTreeMap::new();
    for w in watchers {
        let (port, saw) = w.await?;
        drained.insert(port, saw);
    }
    restart?;

    // Every confirmed order exists exactly once, and nothing else was ordered.
    let db = database().await?;
    let mut per_user = BTreeMap::new();
    for (_, token, _) in &buyers {
        let me = get_auth(&client(), &format!("{}/api/auth/me", nginx_url()), token).await?;
        let user = me.data_id();
        let row = e2e::scalar_i64(
            &db,
            "SELECT count(*) AS n FROM orders WHERE user_id = $1::uuid",
            &user,
        )
        .await?
        .unwrap_or(-1);
        per_user.insert(user, row);
    }
    let in_db: i64 = per_user.values().sum();
    let distinct: BTreeSet<&String> = placed.iter().map(|(_, id)| id).collect();
    report(&format!(
        "rolling restart of {} instances in {:.1} s under load: {gets_ok} GETs ok, {gets_failed} failed; \
         {} orders confirmed, {} distinct, {in_db} in PostgreSQL; {} client retries (502/503/409/connection); \
         readiness 503 seen while draining: {drained:?}",
        ports.len(),
        took.as_secs_f64(),
        placed.len(),
        distinct.len(),
        retries.load(Ordering::Relaxed),
    ));
    assert_eq!(gets_failed, 0, "failed GETs: {samples:?}");
    assert!(gets_ok > 100, "the GET load ran: {gets_ok}");
    assert!(!placed.is_empty(), "orders were placed during the restart");
    assert_eq!(distinct.len(), placed.len(), "no key gave two orders");
    assert_eq!(in_db, placed.len() as i64, "no order lost or duplicated");
    for (port, saw) in &drained {
        assert!(
            saw,
            "api-{port} answered 503 on /health/ready while draining"
        );
    }
    // Every instance was restarted.
    for port in &ports {
        let r = get(&format!("http://127.0.0.1:{port}/stats/instance")).await?;
        let uptime = r.json["data"]["uptime_seconds"]
            .as_u64()
            .unwrap_or(u64::MAX);
        assert!(
            uptime <= took.as_secs() + 5,
            "api-{port} restarted: {}",
            r.text
        );
    }
    Ok(())
}

async fn admin_stats(token: &str) -> anyhow::Result<Value> {
    let r = get_auth(
        &client(),
        &format!("{}/api/admin/stats", nginx_url()),
        token,
    )
    .await?;
    anyhow::ensure!(r.status == 200, "{}", r.text);
    Ok(r.json["data"].clone())
}

fn delta(after: &Value, before: &Value, path: &[&str]) -> i64 {
    let at = |v: &Value| {
        path.iter()
            .fold(v, |v, k| &v[*k])
            .as_i64()
            .unwrap_or(i64::MIN / 2)
    };
    at(after) - at(before)
}

/// `(total_cents, orders)` of `currency` in the revenue of `stats` (zeros if absent).
fn in_currency(stats: &Value, currency: &str) -> (i64, i64) {
    stats["revenue"]["by_currency"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["currency"] == currency))
        .map_or((0, 0), |c| {
            (
                c["total_cents"].as_i64().unwrap_or(i64::MIN / 2),
                c["orders"].as_i64().unwrap_or(i64::MIN / 2),
            )
        })
}

/// Earlier tests' unpaid orders expire 15 minutes after placement
/// (`ORDER_PAYMENT_TIMEOUT_MINUTES`), which would move counts and revenue while a
/// test compares two snapshots of them: those orders stop expiring.
async fn hold_expiry_of_earlier_orders() -> anyhow::Result<()> {
    e2e::execute(
        &e2e::database().await?,
        "UPDATE orders SET expires_at = NULL WHERE status = 'pending' AND expires_at IS NOT NULL",
        &[],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn revenue_in_another_currency_is_reported_apart_and_not_added_to_dollars()
-> anyhow::Result<()> {
    let _turn = TURN.lock().await;
    hold_expiry_of_earlier_orders().await?;
    let admin = admin_token(&client()).await?;
    let before = admin_stats(&admin).await?;
    let created = send(
        client()
            .post(format!("{}/api/admin/products", nginx_url()))
            .bearer_auth(&admin)
            .json(&json!({
                "name": format!("Euro tea {}", uuid::Uuid::new_v4().simple()),
                "price_cents": 1_234, "currency": "EUR", "category": "BEVERAGES", "stock": 5
            })),
    )
    .await?;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.data_id();
    let (c, token, _) = new_customer("euro").await?;
    let added = add_to_cart(&c, &nginx_url(), &token, &id, 2).await?;
    assert_eq!(added.status, 200, "{}", added.text);
    let order = place_order(&c, &nginx_url(), &token).await?;
    assert_eq!(order.status, 201, "{}", order.text);
    assert_eq!(order.json["data"]["currency"], "EUR", "{}", order.text);

    let after = admin_stats(&admin).await?;
    let (eur_before, eur_after) = (in_currency(&before, "EUR"), in_currency(&after, "EUR"));
    assert_eq!(eur_after.0 - eur_before.0, 2 * 1_234, "{after}");
    assert_eq!(eur_after.1 - eur_before.1, 1, "{after}");
    assert_eq!(
        in_currency(&after, "USD"),
        in_currency(&before, "USD"),
        "{after}"
    );
    let codes: Vec<&str> = after["revenue"]["by_currency"]
        .as_array()
        .map(|all| all.iter().filter_map(|c| c["currency"].as_str()).collect())
        .unwrap_or_default();
    let mut sorted = codes.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(codes, sorted, "one entry per currency, by code: {after}");
    Ok(())
}

#[tokio::test]
async fn admin_stats_count_a_known_set_of_users_orders_products_and_dead_letters()
-> anyhow::Result<()> {
    let _turn = TURN.lock().await;
    hold_expiry_of_earlier_orders().await?;
    let admin = admin_token(&client()).await?;
    let before = admin_stats(&admin).await?;

    // Two verified customers and one who never verifies.
    let (c1, t1, _) = new_customer("stats").await?;
    let (c2, t2, _) = new_customer("stats").await?;
    let pending = e2e::post_json(
        &e2e::client(),
        &format!("{}/api/auth/register", nginx_url()),
        &json!({"email": e2e::unique_email("stats-pending"), "password": "stats password", "name": "Pending"}),
    )
    .await?;
    assert_eq!(pending.status, 202, "{}", pending.text);
    // Products: one that sells out, one that drops to its low-stock threshold (5).
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let sells_out = create_product(
        &client(),
        &nginx_url(),
        &admin,
        &format!("Stats A {tag}"),
        2,
        1_000,
    )
    .await?;
    let runs_low = create_product(
        &client(),
        &nginx_url(),
        &admin,
        &format!("Stats B {tag}"),
        8,
        250,
    )
    .await?;
    let buy = |c: reqwest::Client, t: String, items: Vec<(String, i64)>| async move {
        for (id, q) in items {
            let r = add_to_cart(&c, &nginx_url(), &t, &id, q).await?;
            anyhow::ensure!(r.status == 200, "{}", r.text);
        }
        let r = place_order(&c, &nginx_url(), &t).await?;
        anyhow::ensure!(r.status == 201, "{}", r.text);
        Ok::<i64, anyhow::Error>(r.json["data"]["total_cents"].as_i64().unwrap_or_default())
    };
    let id_a = sells_out["id"].as_str().unwrap_or_default().to_owned();
    let id_b = runs_low["id"].as_str().unwrap_or_default().to_owned();
    let total1 = buy(c1, t1, vec![(id_a.clone(), 2), (id_b.clone(), 1)]).await?;
    let total2 = buy(c2, t2, vec![(id_b.clone(), 2)]).await?;
    assert_eq!(total1, 2 * 1_000 + 250);
    assert_eq!(total2, 2 * 250);

    // A message no consumer understands: both consumers of `order-placed` dead-letter it.
    let db = database().await?;
    let poison = uuid::Uuid::new_v4();
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO outbox (event_id, topic, message_key, payload) VALUES ($1::uuid, 'order-placed', 'stats-test', $2::jsonb)",
        [
            poison.to_string().into(),
            json!({"event_id": poison, "type": "order-teleported", "version": 1,
                   "occurred_at": "2026-11-22T00:00:00Z", "payload": {}})
            .to_string()
            .into(),
        ],
    ))
    .await?;
    let deadline = Instant::now() + Duration::from_secs(90);
    let after = loop {
        let now = admin_stats(&admin).await?;
        if delta(&now, &before, &["pipeline", "dead_lettered"]) >= 2 {
            break now;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the poison message was not dead-lettered twice within 90 s: {now}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };

    assert_eq!(delta(&after, &before, &["users", "total"]), 3, "{after}");
    assert_eq!(delta(&after, &before, &["users", "verified"]), 2, "{after}");
    assert_eq!(delta(&after, &before, &["orders", "total"]), 2, "{after}");
    assert_eq!(delta(&after, &before, &["orders", "pending"]), 2, "{after}");
    assert_eq!(
        delta(&after, &before, &["orders", "completed"]),
        0,
        "{after}"
    );
    assert_eq!(delta(&after, &before, &["products", "total"]), 2, "{after}");
    assert_eq!(
        delta(&after, &before, &["products", "out_of_stock"]),
        1,
        "{after}"
    );
    assert_eq!(
        delta(&after, &before, &["products", "low_stock"]),
        1,
        "{after}"
    );
    // `total_cents` exists only while every order is in one currency (another test
    // places EUR orders): the USD entry is what these USD orders moved.
    if after["revenue"]["by_currency"].as_array().map(Vec::len) == Some(1) {
        assert_eq!(
            delta(&after, &before, &["revenue", "total_cents"]),
            total1 + total2,
            "{after}"
        );
    } else {
        assert!(after["revenue"]["total_cents"].is_null(), "{after}");
    }
    assert_eq!(
        in_currency(&after, "USD").0 - in_currency(&before, "USD").0,
        total1 + total2,
        "{after}"
    );
    assert_eq!(
        delta(&after, &before, &["pipeline", "dead_lettered"]),
        2,
        "{after}"
    );
    assert!(after["pipeline"]["outbox_backlog"].is_i64(), "{after}");
    report(&format!(
        "admin stats after 3 users, 2 orders, 2 products, 1 poison message: {after}"
    ));

    // The legacy `/stats/*` routes read the same numbers (nothing else runs meanwhile).
    let legacy_admin = format!("Bearer {admin}");
    for (path, want) in [
        ("/stats/totalusers", &after["users"]["total"]),
        ("/stats/totalorders", &after["orders"]["total"]),
        ("/stats/totalpendingorders", &after["orders"]["pending"]),
        ("/stats/totalcompletedorders", &after["orders"]["completed"]),
        ("/stats/totalproducts", &after["products"]["total"]),
    ] {
        let r = send(
            client()
                .get(format!("{}{path}", nginx_url()))
                .header("authorization", &legacy_admin),
        )
        .await?;
        assert_eq!(&r.json["total"], want, "{path}: {}", r.text);
    }
    let revenue = send(
        client()
            .get(format!("{}/stats/revenue", nginx_url()))
            .header("authorization", &legacy_admin),
    )
    .await?;
    // One number: the revenue of the currency with the most orders (USD here).
    let cents = in_currency(&after, "USD").0;
    assert_eq!(
        revenue.json["total"]
            .as_f64()
            .map(|t| (t * 100.0).round() as i64),
        Some(cents),
        "{}",
        revenue.text
    );

    // Admin only.
    let customer = e2e::customer_token().await?;
    get_auth(
        &client(),
        &format!("{}/api/admin/stats", nginx_url()),
        &customer,
    )
    .await?
    .assert_error(403, "FORBIDDEN");
    get(&format!("{}/api/admin/stats", nginx_url()))
        .await?
        .assert_error(401, "UNAUTHORIZED");
    Ok(())
}
