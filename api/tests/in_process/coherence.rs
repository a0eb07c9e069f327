//! The catalogue cache across instances that share one database and one Redis, as
//! the replicas behind the balancer do. Each test has the data to itself, so no one
//! else's write can invalidate a listing and hide a write of its own that failed to.

use serde_json::{Value, json};

use crate::support::{Reply, TestApp};

/// `shop_catalogue_db_loads_total` of the instance at `base`.
async fn db_loads(app: &TestApp, base: &str) -> anyhow::Result<u64> {
    app.counter(base, "shop_catalogue_db_loads_total").await
}

#[tokio::test]
async fn fifty_concurrent_cold_requests_for_one_listing_over_four_instances_cause_one_query()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let (_siblings, bases) = app.four_instances().await?;
    let mut before = 0;
    for base in &bases {
        before += db_loads(&app, base).await?;
    }
    let replies = futures_util::future::try_join_all((0..50).map(|i| {
        let base = &bases[i % bases.len()];
        app.send(
            app.http
                .get(format!("{base}/api/products?q=stampede&sort=price_asc")),
        )
    }))
    .await?;
    let misses = replies
        .iter()
        .inspect(|r| assert_eq!(r.status, 200, "{}", r.text))
        .filter(|r| r.header("x-cache") == Some("MISS"))
        .count();
    let mut after = 0;
    for base in &bases {
        after += db_loads(&app, base).await?;
    }
    assert_eq!(after - before, 1, "database loads for 50 cold requests");
    assert_eq!(misses, 1);
    Ok(())
}

async fn listed(app: &TestApp, base: &str, q: &str, id: &str) -> anyhow::Result<Option<Value>> {
    let reply = app
        .send(
            app.http
                .get(format!("{base}/api/products?q={q}&page_size=100")),
        )
        .await?;
    anyhow::ensure!(reply.status == 200, "listing: {}", reply.text);
    Ok(reply.json["data"]
        .as_array()
        .and_then(|items| items.iter().find(|p| p["id"].as_str() == Some(id)).cloned()))
}

async fn as_admin(
    app: &TestApp,
    token: &str,
    req: reqwest::RequestBuilder,
) -> anyhow::Result<Reply> {
    app.send(req.bearer_auth(token)).await
}

#[tokio::test]
async fn every_instance_lists_a_change_as_soon_as_the_admin_request_returns() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let (_siblings, bases) = app.four_instances().await?;
    let admin = app.admin().await?;
    let q = "widget";
    // Warm the same listing on all four instances: the second read is a hit.
    for base in &bases {
        assert!(listed(&app, base, q, "none").await?.is_none());
        let again = app
            .send(
                app.http
                    .get(format!("{base}/api/products?q={q}&page_size=100")),
            )
            .await?;
        assert_eq!(
            again.header("x-cache"),
            Some("HIT"),
            "{base} serves the warm listing"
        );
    }
    let id = app.product(&admin, "Widget", 7, 1250).await?;
    for base in &bases {
        assert!(
            listed(&app, base, q, &id).await?.is_some(),
            "{base} misses the new product"
        );
    }
    let patched = as_admin(
        &app,
        &admin,
        app.http
            .patch(format!("{}/api/admin/products/{id}", bases[1]))
            .json(&json!({"version": 1, "price_cents": 999})),
    )
    .await?;
    assert_eq!(patched.status, 200, "{}", patched.text);
    for base in &bases {
        let p = listed(&app, base, q, &id).await?;
        assert_eq!(
            p.map(|p| p["price_cents"].clone()),
            Some(json!(999)),
            "{base}"
        );
    }
    let adjusted = as_admin(
        &app,
        &admin,
        app.http
            .post(format!("{}/api/admin/products/{id}/stock", bases[2]))
            .json(&json!({"delta": -7, "reason": "stock count"})),
    )
    .await?;
    assert_eq!(adjusted.status, 200, "{}", adjusted.text);
    for base in &bases {
        let p = listed(&app, base, q, &id).await?;
        assert_eq!(p.map(|p| p["stock"].clone()), Some(json!(0)), "{base}");
    }
    let archived = as_admin(
        &app,
        &admin,
        app.http
            .delete(format!("{}/api/admin/products/{id}", bases[3])),
    )
    .await?;
    assert_eq!(archived.status, 204, "{}", archived.text);
    for base in &bases {
        assert!(
            listed(&app, base, q, &id).await?.is_none(),
            "{base} still lists it"
        );
        app.send(app.http.get(format!("{base}/api/products/{id}")))
            .await?
            .assert_error(404, "NOT_FOUND");
    }
    Ok(())
}
