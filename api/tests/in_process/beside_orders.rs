//! The catalogue cache while orders flow: orders move stock but do not invalidate, so
//! a hot listing stays in the cache however many orders arrive, and the stock it shows
//! lags a committed order by at most `CATALOGUE_STOCK_STALENESS_MS` (1 s).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::TestApp;

/// `shop_catalogue_db_loads_total` summed over `bases`.
async fn db_loads(app: &TestApp, bases: &[String]) -> anyhow::Result<u64> {
    let mut total = 0;
    for base in bases {
        total += app.counter(base, "shop_catalogue_db_loads_total").await?;
    }
    Ok(total)
}

/// One listing read: when it began, the stock it showed, whether it was a hit.
struct Read {
    began: Instant,
    stock: i64,
    hit: bool,
}

#[tokio::test]
async fn a_listing_beside_a_stream_of_orders_stays_cached_and_shows_stock_at_most_a_second_old()
-> anyhow::Result<()> {
    const INITIAL: i64 = 100_000;
    const RUN: Duration = Duration::from_secs(4);
    let staleness = Duration::from_secs(1);
    let app = TestApp::spawn().await;
    let (_siblings, bases) = app.four_instances().await?;
    let admin = app.admin().await?;
    let product = app.product(&admin, "Streamed tea", INITIAL, 300).await?;
    let buyers = futures_util::future::try_join_all((0..4).map(|_| app.customer())).await?;
    let listing = |base: &str| format!("{base}/api/products?q=streamed&page_size=20");
    // Warm it: the run measures a hot listing, not its first load.
    app.send(app.http.get(listing(&bases[0]))).await?;
    let loads_before = db_loads(&app, &bases).await?;

    let start = Instant::now();
    // Buyers over all four instances: add one unit, place the order, note when the
    // order was answered (it was committed by then).
    let orders = buyers.iter().enumerate().map(|(i, token)| {
        let (app, bases, product) = (&app, &bases, &product);
        async move {
            let base = &bases[i % bases.len()];
            let mut answered = Vec::new();
            while start.elapsed() < RUN {
                let added = app
                    .send(
                        app.http
                            .post(format!("{base}/api/cart/items"))
                            .bearer_auth(token)
                            .json(&json!({"product_id": product, "quantity": 1})),
                    )
                    .await?;
                anyhow::ensure!(added.status == 200, "add: {}", added.text);
                let placed = app
                    .send(
                        app.http
                            .post(format!("{base}/api/orders"))
                            .bearer_auth(token)
                            .json(&json!({})),
                    )
                    .await?;
                anyhow::ensure!(placed.status == 201, "order: {}", placed.text);
                answered.push(Instant::now());
            }
            anyhow::Ok(answered)
        }
    });
    // Readers over all four instances, as fast as they can.
    let readers = (0..8).map(|i| {
        let (app, base, product) = (&app, listing(&bases[i % bases.len()]), &product);
        async move {
            let mut reads = Vec::new();
            while start.elapsed() < RUN {
                let began = Instant::now();
                let reply = app.send(app.http.get(&base)).await?;
                anyhow::ensure!(reply.status == 200, "listing: {}", reply.text);
                let stock = reply.json["data"]
                    .as_array()
                    .and_then(|items| items.iter().find(|p| p["id"] == product.as_str()))
                    .and_then(|p| p["stock"].as_i64())
                    .ok_or_else(|| anyhow::anyhow!("the product is not listed: {}", reply.text))?;
                reads.push(Read {
                    began,
                    stock,
                    hit: reply.header("x-cache") == Some("HIT"),
                });
            }
            anyhow::Ok(reads)
        }
    });
    let (orders, reads) = tokio::join!(
        futures_util::future::try_join_all(orders),
        futures_util::future::try_join_all(readers)
    );
    let mut answered: Vec<Instant> = orders?.into_iter().flatten().collect();
    answered.sort();
    let reads: Vec<Read> = reads?.into_iter().flatten().collect();
    let loads = db_loads(&app, &bases).await? - loads_before;

    // Staleness: a read that began at T shows every order answered before T - 1 s.
    for read in &reads {
        let settled = answered
            .iter()
            .take_while(|at| **at + staleness <= read.began)
            .count() as i64;
        assert!(
            read.stock <= INITIAL - settled,
            "a read {:?} into the run showed stock {} though {settled} orders were answered over a second before it",
            read.began - start,
            read.stock
        );
    }
    let hits = reads.iter().filter(|r| r.hit).count();
    let ratio = hits as f64 / reads.len() as f64;
    println!(
        "{} orders and {} listing reads in {RUN:?}: hit ratio {ratio:.3}, {loads} database loads",
        answered.len(),
        reads.len()
    );
    assert!(
        answered.len() >= 20,
        "too few orders to say anything: {}",
        answered.len()
    );
    assert!(ratio >= 0.9, "hit ratio {ratio:.3} beside orders");
    // About two reloads a second over every instance, whatever the order rate (with
    // slack for a slow machine and the run's edges); invalidating on every order
    // made about one per order (over a thousand here).
    let bound = 3 * RUN.as_secs() + 4;
    assert!(
        loads <= bound,
        "{loads} database loads of one listing beside {} orders in {RUN:?} (at most {bound})",
        answered.len()
    );
    // The stock the listing shows at the end is the committed stock, within the bound.
    let sold = answered.len() as i64;
    let deadline = Instant::now() + staleness + Duration::from_millis(500);
    loop {
        let reply = app.send(app.http.get(listing(&bases[1]))).await?;
        let shown = reply.json["data"][0]["stock"].as_i64();
        if shown == Some(INITIAL - sold) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the listing still shows {shown:?}, not {}, over a second after the last order",
            INITIAL - sold
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
