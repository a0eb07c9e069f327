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
