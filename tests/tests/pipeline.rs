//! The outbox relay against the real stack: a row the broker refuses is parked
//! without slowing the rest. (The runner's partition independence is tested in
//! `consumer_runner.rs`.)

use std::time::Duration;

#[tokio::test]
async fn an_outbox_row_the_broker_refuses_is_parked_without_holding_back_the_events_behind_it()
-> anyhow::Result<()> {
    let db = e2e::database().await?;
    // Larger than librdkafka's 1 MB message limit: the broker can never take it.
    let poison = uuid::Uuid::new_v4().to_string();
    e2e::execute(
        &db,
        "INSERT INTO outbox (event_id, topic, message_key, payload)
         VALUES ($1::uuid, 'order-placed', $2, jsonb_build_object('pad', repeat('x', 2000000)))",
        &[&poison, &format!("poison-{poison}")],
    )
    .await?;
    let result = async {
        // An order placed behind it goes out while the poison row is still retried.
        let admin = e2e::admin_token(&e2e::client()).await?;
        let product = e2e::create_product(&e2e::client(), &e2e::nginx_url(), &admin, "Behind poison", 10, 99).await?;
        let (c, token, _) = e2e::new_customer("poison").await?;
        let id = product["id"].as_str().unwrap_or_default();
        e2e::add_to_cart(&c, &e2e::nginx_url(), &token, id, 1).await?;
        let order = e2e::place_order(&c, &e2e::nginx_url(), &token).await?;
        anyhow::ensure!(order.status == 201, "{}", order.text);
        let order_id = order.data_id();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while e2e::scalar_i64(
            &db,
            "SELECT count(*) FROM outbox WHERE message_key = $1 AND published_at IS NOT NULL",
            &order_id,
        )
        .await?
            != Some(1)
        {
            anyhow::ensure!(tokio::time::Instant::now() < deadline, "the order's event was never published");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let state = |sql: &'static str| {
            let db = db.clone();
            let poison = poison.clone();
            async move { e2e::scalar_i64(&db, sql, &poison).await }
        };
        assert_eq!(
            state("SELECT count(*) FROM outbox WHERE event_id = $1::uuid AND failed_at IS NULL AND published_at IS NULL").await?,
            Some(1),
            "published while the refused row was still pending, not after it was parked"
        );
        // Parked after OUTBOX_MAX_ATTEMPTS refusals, each waiting out its own backoff.
        let max: i64 = std::env::var("OUTBOX_MAX_ATTEMPTS").ok().and_then(|v| v.parse().ok()).unwrap_or(6);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while state("SELECT count(*) FROM outbox WHERE event_id = $1::uuid AND failed_at IS NOT NULL").await? != Some(1) {
            anyhow::ensure!(tokio::time::Instant::now() < deadline, "the refused row was never parked");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert_eq!(state("SELECT attempts::int8 FROM outbox WHERE event_id = $1::uuid").await?, Some(max));
        let stats = e2e::get_auth(&e2e::client(), &format!("{}/api/admin/stats", e2e::nginx_url()), &admin).await?;
        assert!(stats.json["data"]["pipeline"]["outbox_parked"].as_i64().unwrap_or_default() >= 1, "{}", stats.text);
        // The existing replay command gives it a new set of attempts.
        let replayed = e2e::api_command(&["replay-dead-letters", "all", &poison], &[]).await?;
        assert_eq!(replayed, "1");
        assert_eq!(
            state("SELECT count(*) FROM outbox WHERE event_id = $1::uuid AND failed_at IS NULL AND attempts = 0").await?,
            Some(1)
        );
        anyhow::Ok(())
    }
    .await;
    e2e::execute(
        &db,
        "DELETE FROM outbox WHERE event_id = $1::uuid",
        &[&poison],
    )
    .await?;
    result
}
