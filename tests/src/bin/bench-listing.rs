//! Load generator for the "listing beside orders" figures of `scripts/bench-orders.sh`:
//! readers fetch one listing through nginx as fast as they can, first alone (the
//! reference), then while buyers place orders at a set rate (`BENCH_ORDER_RATE`, 200/s)
//! for the product it lists. Prints, per phase, the listing's rate, p50/p99 and cache
//! hit ratio (`X-Cache`), and for the second phase the orders/s reached and the largest
//! lag of the stock shown behind the orders answered (the smallest staleness bound the
//! reads are consistent with).

use std::time::{Duration, Instant};

use e2e::{
    add_to_cart, admin_token, client, create_product, new_customer, nginx_url, place_order, send,
};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// One listing read: when it began, how long it took, the stock shown, a hit or not.
struct Read {
    began: Instant,
    ms: f64,
    stock: i64,
    hit: bool,
}

/// `readers` loops reading `url` until `until`.
async fn read_listing(url: &str, id: &str, readers: usize, until: Instant) -> Vec<Read> {
    let runs = (0..readers).map(|_| async move {
        let http = client();
        let mut reads = Vec::new();
        while Instant::now() < until {
            let began = Instant::now();
            let Ok(reply) = send(http.get(url)).await else {
                continue;
            };
            let ms = began.elapsed().as_secs_f64() * 1000.0;
            let stock = reply.json["data"]
                .as_array()
                .and_then(|items| items.iter().find(|p| p["id"] == id))
                .and_then(|p| p["stock"].as_i64())
                .unwrap_or(-1);
            reads.push(Read {
                began,
                ms,
                stock,
                hit: reply.header("x-cache") == Some("HIT"),
            });
        }
        reads
    });
    futures_util::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect()
}

fn summary(phase: &str, reads: &[Read], seconds: f64) -> String {
    let mut ms: Vec<f64> = reads.iter().map(|r| r.ms).collect();
    ms.sort_by(f64::total_cmp);
    let hits = reads.iter().filter(|r| r.hit).count();
    format!(
        "LISTING {phase} reads={} rps={:.0} p50_ms={:.1} p99_ms={:.1} hit_ratio={:.3}",
        reads.len(),
        reads.len() as f64 / seconds,
        percentile(&ms, 50.0),
        percentile(&ms, 99.0),
        hits as f64 / reads.len().max(1) as f64
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    const INITIAL: i64 = 1_000_000;
    let seconds: u64 = setting("BENCH_SECONDS", 10);
    let readers: usize = setting("BENCH_LISTING_READERS", 16);
    let rate: f64 = setting("BENCH_ORDER_RATE", 200.0);
    let buyers_n: usize = setting("BENCH_ORDER_CLIENTS", 32);
    let run = Duration::from_secs(seconds);

    let admin = admin_token(&client()).await?;
    let tag = format!("beside{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let product = create_product(
        &client(),
        &nginx_url(),
        &admin,
        &format!("Listing bench {tag}"),
        INITIAL,
        100,
    )
    .await?;
    let id = product["id"].as_str().unwrap_or_default().to_owned();
    let url = format!("{}/api/products?q={tag}&page_size=20", nginx_url());
    eprintln!("bench-listing: creating {buyers_n} customers");
    let buyers =
        futures_util::future::try_join_all((0..buyers_n).map(|_| new_customer("beside"))).await?;

    // The reference: the same readers, no orders.
    let started = Instant::now();
    let alone = read_listing(&url, &id, readers, started + run).await;
    println!(
        "{}",
        summary("alone", &alone, started.elapsed().as_secs_f64())
    );

    // Beside orders: each buyer places one order per `period`, so together `rate`/s.
    let period = Duration::from_secs_f64(buyers_n as f64 / rate.max(0.001));
    let started = Instant::now();
    let until = started + run;
    let orders = buyers.iter().enumerate().map(|(i, (http, token, _))| {
        let id = id.clone();
        async move {
            let mut answered = Vec::new();
            let mut errors = 0u64;
            // Spread the buyers' starts over one period.
            let first = tokio::time::Instant::now() + period.mul_f64(i as f64 / buyers_n as f64);
            let mut ticks = tokio::time::interval_at(first, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                ticks.tick().await;
                if Instant::now() >= until {
                    break;
                }
                let added = add_to_cart(http, &nginx_url(), token, &id, 1).await?;
                if added.status != 200 {
                    errors += 1;
                    continue;
                }
                let placed = place_order(http, &nginx_url(), token).await?;
                if placed.status == 201 {
                    answered.push(Instant::now());
                } else {
                    errors += 1;
                }
            }
            anyhow::Ok((answered, errors))
        }
    });
    let (orders, beside) = tokio::join!(
        futures_util::future::try_join_all(orders),
        read_listing(&url, &id, readers, until)
    );
    let wall = started.elapsed().as_secs_f64();
    let mut answered = Vec::new();
    let mut errors = 0;
    for (a, e) in orders? {
        answered.extend(a);
        errors += e;
    }
    answered.sort();
    // A read showing stock S reflects k = INITIAL - S orders; the (k+1)-th answered
    // order was committed (answered) before the read began by this much at least, so
    // the largest such gap is the smallest staleness bound every read satisfies.
    let before = INITIAL - answered.len() as i64;
    let lag_ms = beside
        .iter()
        .filter(|r| r.stock >= before)
        .filter_map(|r| {
            let k = usize::try_from(INITIAL - r.stock).ok()?;
            let next = answered.get(k)?;
            r.began
                .checked_duration_since(*next)
                .map(|d| d.as_secs_f64() * 1000.0)
        })
        .fold(0.0, f64::max);
    println!("{}", summary("beside_orders", &beside, wall));
    println!(
        "ORDERS target_per_s={rate:.0} per_s={:.1} orders={} errors={errors} max_stock_lag_ms={lag_ms:.0}",
        answered.len() as f64 / wall,
        answered.len()
    );
    Ok(())
}
