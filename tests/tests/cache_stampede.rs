//! Stampede protection, in its own test binary so no other test writes to the
//! catalogue (and bumps the cache generation) while it runs.

use e2e::{get, instance_urls, nginx_url};

async fn db_loads() -> anyhow::Result<u64> {
    let mut total = 0;
    for base in instance_urls() {
        let metrics = get(&format!("{base}/metrics")).await?;
        total += metrics
            .text
            .lines()
            .find(|l| l.starts_with("shop_catalogue_db_loads_total"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0) as u64;
    }
    Ok(total)
}

#[tokio::test]
async fn fifty_concurrent_cold_requests_for_one_listing_cause_one_database_query()
-> anyhow::Result<()> {
    let q = format!("stampede{}", uuid::Uuid::new_v4().simple());
    let url = format!("{}/api/products?q={q}&sort=price_asc", nginx_url());
    let before = db_loads().await?;
    let requests = (0..50).map(|_| get(&url));
    let replies = futures_util::future::join_all(requests).await;
    let mut misses = 0;
    for reply in replies {
        let reply = reply?;
        assert_eq!(reply.status, 200, "{}", reply.text);
        if reply.header("x-cache") == Some("MISS") {
            misses += 1;
        }
    }
    let after = db_loads().await?;
    assert_eq!(after - before, 1, "database loads for 50 cold requests");
    assert_eq!(misses, 1);
    Ok(())
}
