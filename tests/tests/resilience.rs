//! Failures of the pipeline's parts, against the real stack. They run one at a time
//! (a lock), in their own test binary. The fault suite of the README (broker frozen,
//! SMTP down, consumers and instances killed mid-burst) is `faults.rs`.

use std::{process::Command, time::Duration};

use e2e::{
    add_to_cart, admin_token, client, create_product, get, mail_count, new_customer, nginx_url,
    order_subject_of, place_order, stack, stop, wait_for_mail,
};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The value of the metric `name` (a line `name{labels} value`) in `metrics`.
fn metric(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|n| n.split('{').next() == Some(name))
        })
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
}

/// The email consumer's count of events it skipped as already handled.
async fn duplicates_skipped() -> anyhow::Result<u64> {
    let port = std::env::var("EMAIL_CONSUMER_HEALTH_PORT").unwrap_or_else(|_| "9101".into());
    let metrics = get(&format!("http://127.0.0.1:{port}/metrics")).await?;
    metric(&metrics.text, "shop_consumer_duplicates_skipped_total")
        .map(|v| v as u64)
        .ok_or_else(|| anyhow::anyhow!("no duplicates counter in {}", metrics.text))
}

/// A fresh customer orders one unit: `(e-mail, order id, confirmation subject)`.
async fn order_one(tag: &str, product: &str) -> anyhow::Result<(String, String, String)> {
    let (c, token, email) = new_customer(tag).await?;
    let added = add_to_cart(&c, &nginx_url(), &token, product, 1).await?;
    anyhow::ensure!(added.status == 200, "{}", added.text);
    let order = place_order(&c, &nginx_url(), &token).await?;
    anyhow::ensure!(order.status == 201, "order while degraded: {}", order.text);
    Ok((email, order.data_id(), order_subject_of(&order)?))
}

/// A redelivery of an event the consumer recorded done is skipped: the effect is not
/// made again. (A consumer killed mid-effect is the fault suite's case, `faults.rs`.)
#[tokio::test]
async fn a_redelivered_event_already_done_is_skipped_and_sends_no_second_mail() -> anyhow::Result<()>
{
    let _guard = ONE_AT_A_TIME.lock().await;
    let admin = admin_token(&client()).await?;
    let product = create_product(&client(), &nginx_url(), &admin, "Twice tea", 50, 300).await?;
    let id = product["id"].as_str().unwrap_or_default().to_owned();
    let (email, order_id, subject) = order_one("redelivered", &id).await?;
    wait_for_mail(&email, &subject, 0).await?;
    // The relay publishes the same event again, as after a crash before its commit.
    let before = duplicates_skipped().await?;
    {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        e2e::database()
            .await?
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE outbox SET published_at = NULL
                 WHERE message_key = $1 AND topic = 'order-placed'",
                [order_id.clone().into()],
            ))
            .await?;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while duplicates_skipped().await? <= before {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the redelivered event never reached the consumer"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The counter moves when the consumer decides to skip: nothing is sent after it.
    assert_eq!(mail_count(&email, &subject).await?, 1);
    Ok(())
}

#[tokio::test]
async fn an_instance_cut_off_from_the_broker_leaves_the_outbox_to_the_others() -> anyhow::Result<()>
{
    let _guard = ONE_AT_A_TIME.lock().await;
    // An extra instance whose broker is a closed port, relaying beside the stack's four.
    // If it took the relay's lock it would hold every instance's events for a whole
    // delivery timeout (30 s) and count a failed batch.
    let closed = format!("127.0.0.1:{}", e2e::free_port()?);
    let (mut instance, base) =
        e2e::spawn_api_instance("api-cut-off-test", &[("KAFKA_BROKERS", &closed)]).await?;
    // Still ready (the outbox covers the broker's outage); the broker is reported down.
    let ready = get(&format!("{base}/health/ready")).await?;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(
        ready.json["data"]["checks"]["kafka"], "down",
        "{}",
        ready.text
    );

    let admin = admin_token(&client()).await?;
    let product = create_product(&client(), &nginx_url(), &admin, "Cut-off tea", 50, 120).await?;
    let id = product["id"].as_str().unwrap_or_default().to_owned();
    // Ten orders: ten events for five relays to race for.
    let mut placed = Vec::new();
    for _ in 0..10 {
        placed.push(order_one("cut-off", &id).await?);
    }
    for (email, _, subject) in &placed {
        wait_for_mail(email, subject, 0).await?;
    }
    let metrics = get(&format!("{base}/metrics")).await?;
    instance.kill().await?;
    assert_eq!(
        metric(&metrics.text, "shop_outbox_relay_broker_reachable"),
        Some(0.0),
        "{}",
        metrics.text
    );
    assert_eq!(
        metric(&metrics.text, "shop_outbox_publish_errors_total"),
        Some(0.0),
        "the cut-off instance tried to publish: {}",
        metrics.text
    );
    assert_eq!(
        metric(&metrics.text, "shop_outbox_published_total"),
        Some(0.0),
        "{}",
        metrics.text
    );
    Ok(())
}

/// A count from the stack's database (`$1` is the text parameter).
async fn query_i64(sql: &str, value: &str) -> anyhow::Result<Option<i64>> {
    e2e::scalar_i64(&e2e::database().await?, sql, value).await
}

/// Runs `api replay-dead-letters email EVENT`; returns what it printed (events
/// replayed). Only this test's event: other dead letters in the database (an earlier
/// test's poison message) are none of its business.
async fn replay_dead_letters(event: &str) -> anyhow::Result<u64> {
    Ok(
        e2e::api_command(&["replay-dead-letters", "email", event], &[])
            .await?
            .parse()?,
    )
}

#[tokio::test]
async fn a_confirmation_dead_lettered_while_smtp_was_down_is_sent_once_by_a_replay()
-> anyhow::Result<()> {
    let _guard = ONE_AT_A_TIME.lock().await;
    let admin = admin_token(&client()).await?;
    let product = create_product(&client(), &nginx_url(), &admin, "Outage jam", 50, 410).await?;
    let id = product["id"].as_str().unwrap_or_default().to_owned();
    let (c, token, email) = new_customer("smtp-down").await?;

    // SMTP down, and in place of the stack's email consumer one that gives up fast.
    stop("email-consumer", "TERM").await?;
    stop("maildev", "TERM").await?;
    let health_port = e2e::free_port()?.to_string();
    let mut impatient = e2e::spawn_release_bin(
        "email-consumer",
        &[],
        &[
            ("EMAIL_CONSUMER_HEALTH_PORT", &health_port),
            ("CONSUMER_MAX_ATTEMPTS", "2"),
            ("CONSUMER_INITIAL_BACKOFF_MS", "100"),
        ],
    )?;
    e2e::wait_until_ok(
        &format!("http://127.0.0.1:{health_port}/health/ready"),
        Duration::from_secs(90),
        "the impatient consumer joining its group",
    )
    .await?;

    let added = add_to_cart(&c, &nginx_url(), &token, &id, 1).await?;
    anyhow::ensure!(added.status == 200, "{}", added.text);
    let order = place_order(&c, &nginx_url(), &token).await?;
    assert_eq!(order.status, 201, "{}", order.text);
    let order_id = order.data_id();
    let subject = order_subject_of(&order)?;
    let dead = "SELECT count(*) FROM dead_letters d JOIN outbox o USING (event_id)
                WHERE o.message_key = $1 AND d.consumer = 'email'";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while query_i64(dead, &order_id).await? != Some(1) {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the confirmation was never dead-lettered"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // SIGTERM: it commits the offset of what it dead-lettered on the way out.
    let pid = impatient.id().unwrap_or_default();
    let status = Command::new("kill").arg(pid.to_string()).status()?;
    anyhow::ensure!(status.success(), "kill the impatient consumer");
    tokio::time::timeout(Duration::from_secs(30), impatient.wait()).await??;

    // SMTP and the stack's consumer are back; nothing sends the mail by itself.
    stack(&["up"]).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(mail_count(&email, &subject).await?, 0);

    let event = {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        e2e::database()
            .await?
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT event_id::text AS id FROM outbox
                 WHERE message_key = $1 AND topic = 'order-placed'",
                [order_id.clone().into()],
            ))
            .await?
            .and_then(|row| row.try_get::<String>("", "id").ok())
            .ok_or_else(|| anyhow::anyhow!("no outbox event for order {order_id}"))?
    };
    let not_an_id = e2e::api_command(&["replay-dead-letters", "email", "order-7"], &[]).await;
    assert!(
        not_an_id
            .as_ref()
            .is_err_and(|e| e.to_string().contains("EVENT_ID")),
        "a malformed event id is refused by name: {not_an_id:?}"
    );
    assert_eq!(replay_dead_letters(&event).await?, 1);
    wait_for_mail(&email, &subject, 0).await?;
    let replayed = "SELECT count(*) FROM dead_letters d JOIN outbox o USING (event_id)
                    WHERE o.message_key = $1 AND d.replayed_at IS NOT NULL";
    assert_eq!(query_i64(replayed, &order_id).await?, Some(1));
    // A second replay has nothing of this order's left to send.
    assert_eq!(replay_dead_letters(&event).await?, 0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(mail_count(&email, &subject).await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_dead_letter_on_a_recycled_offset_is_recorded_and_a_redelivery_is_not()
-> anyhow::Result<()> {
    // The statement the consumers record a dead letter with (consumers/src/processed.rs).
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let db = e2e::database().await?;
    let topic = format!("recycled-{}", uuid::Uuid::new_v4().simple());
    let record = |event: uuid::Uuid| {
        Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO dead_letters
                 (consumer, original_topic, original_partition, original_offset, event_id, reason)
             VALUES ('email', $1, 0, 7, $2, 'test') ON CONFLICT DO NOTHING",
            [topic.clone().into(), event.into()],
        )
    };
    let (first, after_reset) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let inserted = |s: Statement| {
        let db = &db;
        async move { anyhow::Ok(db.execute_raw(s).await?.rows_affected()) }
    };
    assert_eq!(inserted(record(first)).await?, 1, "the first dead letter");
    assert_eq!(
        inserted(record(first)).await?,
        0,
        "the same message redelivered after a crash is counted once"
    );
    assert_eq!(
        inserted(record(after_reset)).await?,
        1,
        "another event on the same offset (the topic started over) is its own dead letter"
    );
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "DELETE FROM dead_letters WHERE original_topic = $1",
        [topic.into()],
    ))
    .await?;
    Ok(())
}
