//! Load generator for `scripts/bench-orders.sh`: order cycles through nginx (add one
//! unit to the cart, then `POST /api/orders`; the pair is timed, as pgbench times the
//! same statements), and the time from order response to the confirmation e-mail in
//! the mail catcher. Prints machine-readable lines.

use std::time::{Duration, Instant, SystemTime};

use e2e::{admin_token, client, create_product, maildev_url, new_customer, nginx_url, send};
use serde_json::json;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let levels: Vec<usize> = std::env::var("BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "4 16".into())
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    let most = levels.iter().copied().max().unwrap_or(1);
    let admin = admin_token(&client()).await?;
    let product =
        create_product(&client(), &nginx_url(), &admin, "Bench tea", 1_000_000, 100).await?;
    let id = product["id"].as_str().unwrap_or_default().to_owned();
    eprintln!("bench: creating {most} customers");
    let buyers =
        futures_util::future::try_join_all((0..most).map(|_| new_customer("bench"))).await?;

    let mut sampled: Vec<(String, String, SystemTime)> = Vec::new();
    for &c in &levels {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let workers = buyers.iter().take(c).map(|(http, token, email)| {
            let id = id.clone();
            async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut last = None;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let added = send(
                        http.post(format!("{}/api/cart/items", nginx_url()))
                            .bearer_auth(token)
                            .json(&json!({"product_id": id, "quantity": 1})),
                    )
                    .await?;
                    if added.status != 200 {
                        errors += 1;
                        continue;
                    }
                    let placed = send(
                        http.post(format!("{}/api/orders", nginx_url()))
                            .bearer_auth(token),
                    )
                    .await?;
                    let elapsed = t.elapsed().as_secs_f64() * 1000.0;
                    if placed.status == 201 {
                        latencies.push(elapsed);
                        // Its confirmation is found by recipient and subject (which
                        // carries the order's number).
                        last = Some((
                            email.clone(),
                            e2e::order_subject_of(&placed)?,
                            SystemTime::now(),
                        ));
                    } else {
                        errors += 1;
                    }
                }
                anyhow::Ok((latencies, errors, last))
            }
        });
        let results = futures_util::future::try_join_all(workers).await?;
        let wall = started.elapsed().as_secs_f64();
        let mut all: Vec<f64> = Vec::new();
        let mut errors = 0;
        for (lat, err, last) in results {
            all.extend(lat);
            errors += err;
            if let Some(l) = last {
                sampled.push(l);
            }
        }
        all.sort_by(f64::total_cmp);
        println!(
            "API c={c} orders={} errors={errors} rps={:.1} p50_ms={:.1} p99_ms={:.1}",
            all.len(),
            all.len() as f64 / wall,
            percentile(&all, 50.0),
            percentile(&all, 99.0)
        );
    }

    // Order response → confirmation in the mail catcher, for the last order of each worker.
    let mut delays = Vec::new();
    let wait_until = Instant::now() + Duration::from_secs(60);
    let mut pending = sampled;
    while !pending.is_empty() && Instant::now() < wait_until {
        let mails = e2e::get(&format!("{}/email", maildev_url())).await?;
        let list = mails.json.as_array().cloned().unwrap_or_default();
        pending.retain(|(to, subject, responded)| {
            match list.iter().find(|m| {
                m["subject"].as_str() == Some(subject.as_str())
                    && m["to"].as_array().is_some_and(|list| {
                        list.iter()
                            .any(|t| t["address"].as_str() == Some(to.as_str()))
                    })
            }) {
                Some(mail) => {
                    let received = mail["time"].as_str().and_then(|t| {
                        chrono::DateTime::parse_from_rfc3339(t)
                            .ok()
                            .map(SystemTime::from)
                    });
                    if let Some(received) = received {
                        let ms = received
                            .duration_since(*responded)
                            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
                        delays.push(ms);
                    }
                    false
                }
                None => true,
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    delays.sort_by(f64::total_cmp);
    println!(
        "MAIL samples={} missing={} p50_ms={:.0} p95_ms={:.0}",
        delays.len(),
        pending.len(),
        percentile(&delays, 50.0),
        percentile(&delays, 95.0)
    );
    Ok(())
}
