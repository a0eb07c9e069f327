//! Admin product writes and the cached listing, in-process.

use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn an_admin_write_is_visible_in_the_next_listing_though_it_was_cached() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let first = app.product(&admin, "Oat milk", 5, 250).await?;
    let listing = app.get("/api/products?page_size=100", None).await?;
    assert_eq!(listing.status, 200, "{}", listing.text);
    let again = app.get("/api/products?page_size=100", None).await?;
    assert_eq!(
        again.header("x-cache"),
        Some("HIT"),
        "the second read is cached"
    );
    let second = app.product(&admin, "Rye bread", 3, 400).await?;
    let after = app.get("/api/products?page_size=100", None).await?;
    let ids: Vec<&str> = after.json["data"]
        .as_array()
        .map(|items| items.iter().filter_map(|p| p["id"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        ids.contains(&first.as_str()) && ids.contains(&second.as_str()),
        "{ids:?}"
    );
    Ok(())
}

#[tokio::test]
async fn customers_cannot_write_the_catalogue_and_bad_input_names_the_field() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let customer = app.customer().await?;
    let body = json!({"name": "X", "description": "d", "price_cents": 100, "category": "STAPLES", "stock": 1});
    app.post("/api/admin/products", &body, Some(&customer))
        .await?
        .assert_error(403, "FORBIDDEN");
    app.post("/api/admin/products", &body, None)
        .await?
        .assert_error(401, "UNAUTHORIZED");
    let admin = app.admin().await?;
    let negative = json!({"name": "X", "description": "d", "price_cents": -1, "category": "STAPLES", "stock": 1});
    let reply = app
        .post("/api/admin/products", &negative, Some(&admin))
        .await?;
    reply.assert_error(400, "VALIDATION_ERROR");
    assert!(reply.text.contains("price"), "{}", reply.text);
    let products = app.scalar("SELECT count(*) FROM products").await?;
    assert_eq!(products, 0, "a refused write left a row");
    Ok(())
}

#[tokio::test]
async fn an_unknown_product_is_a_404_in_the_one_shape() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    app.get(&format!("/api/products/{}", uuid::Uuid::new_v4()), None)
        .await?
        .assert_error(404, "NOT_FOUND");
    Ok(())
}
