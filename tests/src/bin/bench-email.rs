//! Load generator for `scripts/bench-email.sh`. Prints machine-readable lines:
//! - `DRAIN`: the email consumer's rate on a backlog: N order events written to the
//!   outbox at once (no items, so the inventory consumer has nothing to record),
//!   timed from the consumer's first `done` to its last;
//! - `PACED`: orders through nginx at a fixed rate, and the time from each order's
//!   response to its confirmation in the mail catcher (found by `Message-ID`).

use std::{
    collections::HashMap,
    time::{Duration, Instant, SystemTime},
};

use e2e::{
    admin_token, client, create_product, database, maildev_url, new_customer, nginx_url, send,
};
use serde_json::json;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

async fn drain(n: i64) -> anyhow::Result<()> {
    let db = database().await?;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    e2e::execute(
        &db,
        "INSERT INTO outbox (event_id, topic, message_key, payload)
         SELECT e, 'order-placed', o::text, jsonb_build_object(
             'event_id', e, 'type', 'order-placed', 'version', 1, 'occurred_at', now(),
             'request_id', 'bench-drain-' || $1,
             'payload', jsonb_build_object(
                 'order_id', o, 'user_id', o, 'user_email', 'bench-drain-' || i || '-' || $1 || '@example.com',
                 'items', '[]'::jsonb, 'total_cents', 0, 'currency', 'USD', 'created_at', now()))
         FROM (SELECT gen_random_uuid() AS e, gen_random_uuid() AS o, i
               FROM generate_series(1, $2::int8) i) g",
        &[&tag, &n.to_string()],
    )
    .await?;
    let ids_sql = "SELECT event_id FROM outbox WHERE payload->>'request_id' = 'bench-drain-' || $1";
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let done = e2e::scalar_i64(
            &db,
            &format!("SELECT count(*) FROM processed_events WHERE consumer = 'email' AND state = 'done' AND event_id IN ({ids_sql})"),
            &tag,
        )
        .await?
        .unwrap_or_default();
        if done >= n {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {done} of {n} drained within 300 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let span_ms = e2e::scalar_i64(
        &db,
        &format!(
            "SELECT (EXTRACT(EPOCH FROM max(processed_at) - min(processed_at)) * 1000)::int8
             FROM processed_events WHERE consumer = 'email' AND event_id IN ({ids_sql})"
        ),
        &tag,
    )
    .await?
    .unwrap_or_default()
    .max(1);
    println!(
        "DRAIN events={n} span_ms={span_ms} rate={:.0}",
        (n - 1) as f64 * 1000.0 / span_ms as f64
    );
    Ok(())
}

async fn paced(rate: u64, seconds: u64, customers: usize) -> anyhow::Result<()> {
    let admin = admin_token(&client()).await?;
    let product =
        create_product(&client(), &nginx_url(), &admin, "Paced tea", 1_000_000, 100).await?;
    let id = product["id"].as_str().unwrap_or_default().to_owned();
    eprintln!("bench: creating {customers} customers");
    let buyers =
        futures_util::future::try_join_all((0..customers).map(|_| new_customer("paced"))).await?;
    let buyers: Vec<_> = buyers
        .into_iter()
        .map(|b| std::sync::Arc::new(tokio::sync::Mutex::new(b)))
        .collect();
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    let total = rate * seconds;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        ticker.tick().await;
        let buyer = buyers[i as usize % buyers.len()].clone();
        let id = id.clone();
        tasks.spawn(async move {
            // One order at a time per customer (their cart is one).
            let buyer = buyer.lock().await;
            let (http, token, _) = &*buyer;
            let added = send(
                http.post(format!("{}/api/cart/items", nginx_url()))
                    .bearer_auth(token)
                    .json(&json!({"product_id": id, "quantity": 1})),
            )
            .await?;
            anyhow::ensure!(added.status == 200, "cart: {}", added.text);
            let placed = send(
                http.post(format!("{}/api/orders", nginx_url()))
                    .bearer_auth(token),
            )
            .await?;
            anyhow::ensure!(placed.status == 201, "order: {}", placed.text);
            anyhow::Ok((placed.data_id(), SystemTime::now()))
        });
    }
    let mut placed = Vec::new();
    let mut errors = 0u64;
    while let Some(result) = tasks.join_next().await {
        match result? {
            Ok(p) => placed.push(p),
            Err(e) => {
                errors += 1;
                eprintln!("bench: {e:#}");
            }
        }
    }
    let wall = started.elapsed().as_secs_f64();
    // Event id of each order, then the catcher's receive time of its mail.
    let db = database().await?;
    let mut event_of: HashMap<String, SystemTime> = HashMap::new();
    for (order, responded) in &placed {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        if let Some(row) = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT event_id::text AS id FROM outbox WHERE topic = 'order-placed' AND message_key = $1",
                [order.clone().into()],
            ))
            .await?
        {
            event_of.insert(row.try_get::<String>("", "id")?, *responded);
        }
    }
    let mut delays = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !event_of.is_empty() && Instant::now() < deadline {
        let mails = e2e::get(&format!("{}/email", maildev_url())).await?;
        for mail in mails.json.as_array().cloned().unwrap_or_default() {
            let Some(event) = mail["messageId"]
                .as_str()
                .map(|m| m.trim_matches(|c| c == '<' || c == '>'))
                .and_then(|m| m.strip_suffix(".order@shop"))
            else {
                continue;
            };
            if let Some(responded) = event_of.remove(event) {
                let received = mail["time"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(SystemTime::from);
                if let Some(received) = received {
                    delays.push(
                        received
                            .duration_since(responded)
                            .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
                    );
                }
            }
        }
        if !event_of.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    delays.sort_by(f64::total_cmp);
    println!(
        "PACED target_rate={rate} orders={} errors={errors} achieved_rate={:.1} mails={} missing={} p50_ms={:.0} p95_ms={:.0} max_ms={:.0}",
        placed.len(),
        placed.len() as f64 / wall,
        delays.len(),
        event_of.len(),
        percentile(&delays, 50.0),
        percentile(&delays, 95.0),
        delays.last().copied().unwrap_or(f64::NAN),
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    drain(env_or("BENCH_DRAIN_EVENTS", 3000)).await?;
    paced(
        env_or("BENCH_ORDER_RATE", 200),
        env_or("BENCH_SECONDS", 60),
        env_or("BENCH_CUSTOMERS", 48),
    )
    .await
}
