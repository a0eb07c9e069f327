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
