//! The migrated schema and what the code assumes of it.

use crate::support::TestApp;

#[tokio::test]
async fn the_migrations_apply_to_an_empty_database_and_the_instance_is_ready() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let ready = app.get("/health/ready", None).await?;
    assert_eq!(ready.status, 200, "{}", ready.text);
    let tables = app
        .scalar(
            "SELECT count(*) FROM information_schema.tables
             WHERE table_schema = 'public' AND table_name IN
               ('users', 'products', 'orders', 'order_items', 'outbox', 'processed_events')",
        )
        .await?;
    assert_eq!(tables, 6);
    app.stop().await
}

#[tokio::test]
async fn a_violated_constraint_is_a_client_error_naming_it_never_a_500() -> anyhow::Result<()> {
    use api::error::ApiError;
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn().await;
    let insert = "INSERT INTO users (id, email, password_hash, name, role, is_verified)
                  VALUES (gen_random_uuid(), 'twice@example.com', '$2b$04$x', 'T', 'customer', TRUE)";
    app.db.execute_unprepared(insert).await?;
    let duplicate = app
        .db
        .execute_unprepared(insert)
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a duplicate e-mail was accepted"))?;
    let api = ApiError::from(duplicate);
    assert_eq!(api.status.as_u16(), 409, "{api:?}");
    assert_eq!(api.code, "ALREADY_EXISTS");
    assert!(
        api.details["constraint"]
            .as_str()
            .is_some_and(|c| c.contains("email")),
        "{api:?}"
    );
    let unknown_role = app
        .db
        .execute_unprepared(
            "INSERT INTO users (id, email, password_hash, name, role)
             VALUES (gen_random_uuid(), 'r@example.com', '$2b$04$x', 'T', 'emperor')",
        )
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("an unknown role was accepted"))?;
    let api = ApiError::from(unknown_role);
    assert_eq!(api.status.as_u16(), 422, "{api:?}");
    assert_eq!(api.code, "CONSTRAINT_VIOLATION");
    Ok(())
}

/// The columns of `E`'s table in the migrated schema, and `E`'s own, agree; and
/// every row already there decodes into `E::Model` (types and nullability).
async fn entity_agrees<E>(app: &TestApp) -> anyhow::Result<()>
where
    E: sea_orm::EntityTrait + Default,
{
    use sea_orm::{IdenStatic, Iterable};
    let table = E::default().table_name().to_owned();
    let declared: std::collections::BTreeSet<String> =
        E::Column::iter().map(|c| c.as_str().to_owned()).collect();
    let migrated: std::collections::BTreeSet<String> = app
        .strings(&format!(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name = '{table}'"
        ))
        .await?
        .into_iter()
        // Kept by the database for search (its triggers), never read as a column.
        .filter(|c| !(table == "products" && c == "search_document"))
        .collect();
    assert!(!migrated.is_empty(), "no table {table}");
    assert_eq!(declared, migrated, "entity and migrated schema of {table}");
    let rows = E::find().all(&app.db).await?;
    assert!(
        !rows.is_empty(),
        "no {table} row to decode: the check would prove nothing"
    );
    Ok(())
}

#[tokio::test]
async fn every_entity_matches_the_migrated_schema_and_decodes_real_rows() -> anyhow::Result<()> {
    use api::entities;
    let app = TestApp::spawn().await;
    // A row in every table: the admin (users), a session (refresh_tokens), a product
    // with an image, a cart with a line.
    let admin = app.admin().await?;
    let png: Vec<u8> = vec![
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F,
        0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00,
        0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];
    let form = reqwest::multipart::Form::new()
        .text("name", "Pictured")
        .text("price_cents", "100")
        .text("category", "STAPLES")
        .text("stock", "3")
        .part(
            "images",
            reqwest::multipart::Part::bytes(png)
                .file_name("p.png")
                .mime_str("image/png")?,
        );
    let created = app
        .send(
            app.http
                .post(app.url("/api/admin/products/upload"))
                .bearer_auth(&admin)
                .multipart(form),
        )
        .await?;
    assert_eq!(created.status, 201, "{}", created.text);
    let product = created.json["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let customer = app.customer().await?;
    let added = app
        .post(
            "/api/cart/items",
            &serde_json::json!({"product_id": product, "quantity": 1}),
            Some(&customer),
        )
        .await?;
    assert_eq!(added.status, 200, "{}", added.text);
    entity_agrees::<entities::users::Entity>(&app).await?;
    entity_agrees::<entities::refresh_tokens::Entity>(&app).await?;
    entity_agrees::<entities::products::Entity>(&app).await?;
    entity_agrees::<entities::product_images::Entity>(&app).await?;
    entity_agrees::<entities::carts::Entity>(&app).await?;
    entity_agrees::<entities::cart_items::Entity>(&app).await?;
    Ok(())
}
