//! Cache coherence across the four instances, alone in its own test binary: no other
//! test writes to the catalogue meanwhile, so no one else's write can invalidate the
//! listings and hide a write of the test's own that failed to.

use e2e::{admin_token, client, get, instance_urls, listing_has, png, send};
use serde_json::json;

fn tag() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

#[tokio::test]
async fn every_instance_lists_a_change_as_soon_as_the_admin_request_returns() -> anyhow::Result<()>
{
    let c = client();
    let admin = admin_token(&c).await?;
    let instances = instance_urls();
    let q = tag();
    // Warm the same listing on all four instances: the second read is a hit.
    for base in &instances {
        let warm = get(&format!("{base}/api/products?q={q}&page_size=100")).await?;
        assert_eq!(warm.status, 200);
        let again = get(&format!("{base}/api/products?q={q}&page_size=100")).await?;
        assert_eq!(
            again.header("x-cache"),
            Some("HIT"),
            "{base} should serve the warm listing from Redis"
        );
    }
    // Upload through one instance (multipart, with an image).
    let form = reqwest::multipart::Form::new()
        .text("name", format!("Widget {q}"))
        .text("price_cents", "1250")
        .text("category", "HOUSEHOLD_SUPPLIES")
        .text("stock", "7")
        .part(
            "images",
            reqwest::multipart::Part::bytes(png(&q))
                .file_name("w.png")
                .mime_str("image/png")?,
        );
    let created = send(
        c.post(format!("{}/api/admin/products/upload", instances[0]))
            .bearer_auth(&admin)
            .multipart(form),
    )
    .await?;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.data_id();
    let mut version = created.json["data"]["version"].as_i64().unwrap_or_default();
    for base in &instances {
        assert!(
            listing_has(base, &q, &id).await?.is_some(),
            "{base} misses the new product"
        );
    }

    // Update through another instance.
    let patched = send(
        c.patch(format!("{}/api/admin/products/{id}", instances[1]))
            .bearer_auth(&admin)
            .json(&json!({"version": version, "price_cents": 999})),
    )
    .await?;
    assert_eq!(patched.status, 200, "{}", patched.text);
    version = patched.json["data"]["version"].as_i64().unwrap_or_default();
    for base in &instances {
        let p = listing_has(base, &q, &id).await?;
        assert_eq!(
            p.map(|p| p["price_cents"].clone()),
            Some(json!(999)),
            "{base}"
        );
    }

    // Stock adjustment through a third.
    let adjusted = send(
        c.post(format!("{}/api/admin/products/{id}/stock", instances[2]))
            .bearer_auth(&admin)
            .json(&json!({"delta": -7, "reason": "stock count"})),
    )
    .await?;
    assert_eq!(adjusted.status, 200, "{}", adjusted.text);
    assert_eq!(
        adjusted.json["data"]["version"], version,
        "a stock move is no edit"
    );
    for base in &instances {
        let p = listing_has(base, &q, &id).await?;
        assert_eq!(p.map(|p| p["stock"].clone()), Some(json!(0)), "{base}");
        let sold_out = get(&format!("{base}/api/products?q={q}&in_stock=false")).await?;
        assert_eq!(sold_out.json["pagination"]["total"], 1, "{base}");
    }
    let below_zero = send(
        c.post(format!("{}/api/admin/products/{id}/stock", instances[3]))
            .bearer_auth(&admin)
            .json(&json!({"delta": -1, "reason": "oops"})),
    )
    .await?;
    below_zero.assert_error(409, "INSUFFICIENT_STOCK");

    // Archive through the fourth.
    let archived = send(
        c.delete(format!("{}/api/admin/products/{id}", instances[3]))
            .bearer_auth(&admin),
    )
    .await?;
    assert_eq!(archived.status, 204, "{}", archived.text);
    for base in &instances {
        assert!(
            listing_has(base, &q, &id).await?.is_none(),
            "{base} still lists the archived product"
        );
        get(&format!("{base}/api/products/{id}"))
            .await?
            .assert_error(404, "NOT_FOUND");
    }
    Ok(())
}
