//! The consumers' handlers in-process: events in, mails (to a recorder) and ledger
//! rows (in a database of the test's own, made from the migrations) out. Needs only
//! PostgreSQL. The runner itself (Kafka, offsets, dead letters) is proven against the
//! stack's broker by the end-to-end tier (`tests/tests/consumer_runner.rs`).

use std::sync::Arc;

use chrono::Utc;
use consumers::{
    handlers::{email::EmailHandler, inventory::InventoryHandler},
    mailer::{MailSettings, RecordingMailer},
    runner::{HandleError, Handler},
};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use shop_common::{
    config::SealKey,
    events::{
        AccountOtp, EventEnvelope, OTP_PURPOSE_RESET, OTP_PURPOSE_VERIFY, OrderCancelled,
        OrderPlaced, OrderPlacedItem, OrderStatusChanged, ReturnedItem,
    },
    seal,
    testing::TestDatabase,
};
use uuid::Uuid;

fn untyped<P: shop_common::events::Event>(event: EventEnvelope<P>) -> EventEnvelope {
    let json = serde_json::to_vec(&event).unwrap_or_default();
    shop_common::events::parse_envelope(&json).unwrap_or_else(|e| panic!("{e}"))
}

fn otp_event(key: &SealKey, email: &str, code: &str, purpose: &str) -> EventEnvelope {
    untyped(EventEnvelope::new(
        AccountOtp {
            user_id: Uuid::new_v4(),
            email: email.into(),
            name: "<b>Mallory</b>".into(),
            sealed_code: seal::seal(key, code).unwrap_or_else(|e| panic!("{e}")),
            expires_in_minutes: 10,
            purpose: purpose.into(),
        },
        None,
    ))
}

fn order(product: Uuid, quantity: i32, stock_after: i32) -> OrderPlaced {
    OrderPlaced {
        order_id: Uuid::new_v4(),
        order_number: Some(42),
        user_id: Uuid::new_v4(),
        user_email: "buyer@example.com".into(),
        items: vec![OrderPlacedItem {
            product_id: product,
            name: "Oat milk".into(),
            quantity,
            unit_price_cents: 250,
            stock_after,
            low_stock_threshold: 5,
        }],
        total_cents: 250 * i64::from(quantity),
        currency: "USD".into(),
        created_at: Utc::now(),
    }
}

#[tokio::test]
async fn an_otp_event_becomes_one_mail_with_the_opened_code_and_no_name() -> anyhow::Result<()> {
    let key = SealKey([9; 32]);
    let mailer = Arc::new(RecordingMailer::default());
    let handler = EmailHandler::new(mailer.clone(), key.clone(), MailSettings::default());
    handler
        .handle(&otp_event(
            &key,
            "ada@example.com",
            "493817",
            OTP_PURPOSE_VERIFY,
        ))
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    handler
        .handle(&otp_event(
            &key,
            "ada@example.com",
            "111222",
            OTP_PURPOSE_RESET,
        ))
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let sent = mailer.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].to, vec!["ada@example.com".to_owned()]);
    assert_eq!(sent[0].mail.subject, "Your verification code");
    assert!(sent[0].mail.text.contains("493817"));
    assert_eq!(sent[1].mail.subject, "Your password reset code");
    assert!(sent[1].mail.text.contains("111222"));
    for mail in &sent {
        assert!(
            !mail.mail.html.contains("Mallory"),
            "a registrant's text reached the mail"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_code_sealed_with_another_key_or_an_unknown_type_is_a_permanent_failure() {
    let mailer = Arc::new(RecordingMailer::default());
    let handler = EmailHandler::new(mailer.clone(), SealKey([1; 32]), MailSettings::default());
    let foreign = otp_event(
        &SealKey([2; 32]),
        "a@example.com",
        "123456",
        OTP_PURPOSE_VERIFY,
    );
    assert!(matches!(
        handler.handle(&foreign).await,
        Err(HandleError::Permanent(_))
    ));
    let mut unknown = otp_event(
        &SealKey([1; 32]),
        "a@example.com",
        "123456",
        OTP_PURPOSE_VERIFY,
    );
    unknown.event_type = "account-deleted".into();
    assert!(matches!(
        handler.handle(&unknown).await,
        Err(HandleError::Permanent(_))
    ));
    assert!(mailer.sent().is_empty());
}

#[tokio::test]
async fn an_order_event_becomes_a_confirmation_to_the_buyer() -> anyhow::Result<()> {
    let mailer = Arc::new(RecordingMailer::default());
    let handler = EmailHandler::new(mailer.clone(), SealKey([1; 32]), MailSettings::default());
    handler
        .handle(&untyped(EventEnvelope::new(
            order(Uuid::new_v4(), 2, 10),
            None,
        )))
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let sent = mailer.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, vec!["buyer@example.com".to_owned()]);
    assert!(
        sent[0].mail.subject.contains("#42"),
        "{}",
        sent[0].mail.subject
    );
    assert!(sent[0].mail.text.contains("Oat milk"));
    Ok(())
}

async fn product(db: &DatabaseConnection) -> anyhow::Result<Uuid> {
    let id = Uuid::new_v4();
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO products (id, name, price_cents, category, stock) VALUES ($1, 'Oat milk', 250, 'STAPLES', 4)",
        [id.into()],
    ))
    .await?;
    Ok(id)
}

async fn count(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

#[tokio::test]
async fn the_same_order_event_twice_at_once_writes_one_movement_and_a_redelivery_never_realerts()
-> anyhow::Result<()> {
    let (_database, url) = TestDatabase::create().await?;
    let db = Database::connect(url).await?;
    let product = product(&db).await?;
    let mailer = Arc::new(RecordingMailer::default());
    let handler = InventoryHandler::new(
        db.clone(),
        mailer.clone(),
        vec!["admin@example.com".into()],
        MailSettings::default(),
    );
    // This order took the product from 6 to 4, across the threshold of 5.
    let event = untyped(EventEnvelope::new(order(product, 2, 4), None));
    let (a, b) = tokio::join!(handler.handle(&event), handler.handle(&event));
    a.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    b.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    handler
        .handle(&event)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let rows = count(
        &db,
        &format!("SELECT count(*) FROM inventory_movements WHERE product_id = '{product}'"),
    )
    .await?;
    assert_eq!(rows, 1, "one ledger movement per (event, product)");
    let delta = count(
        &db,
        &format!("SELECT sum(delta)::int8 FROM inventory_movements WHERE product_id = '{product}'"),
    )
    .await?;
    assert_eq!(delta, -2);
    let alerts = mailer
        .sent()
        .iter()
        .filter(|m| m.purpose == "low-stock")
        .count();
    assert!(alerts >= 1, "the crossing order alerts");
    // Sequential redelivery after the alert was recorded never alerts again; two
    // deliveries racing before it was recorded may both send (the runner's claim, not
    // the handler, keeps one delivery per event: see the README's exactly-once).
    let before = alerts;
    handler
        .handle(&event)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let after = mailer
        .sent()
        .iter()
        .filter(|m| m.purpose == "low-stock")
        .count();
    assert_eq!(after, before, "a redelivered event alerted again");
    Ok(())
}

/// Order #42 cancelled from `from_status` by `actor`, returning `items`
/// (`(product, quantity)`).
fn cancellation(items: &[(Uuid, i32)], from_status: &str, actor: &str) -> OrderCancelled {
    OrderCancelled {
        order_id: Uuid::new_v4(),
        order_number: 42,
        user_id: Uuid::new_v4(),
        user_email: "buyer@example.com".into(),
        from_status: from_status.into(),
        actor: actor.into(),
        reason: None,
        items: items
            .iter()
            .map(|&(product_id, quantity)| ReturnedItem {
                product_id,
                name: "Oat milk".into(),
                quantity,
            })
            .collect(),
        total_cents: 1000,
        currency: "USD".into(),
        cancelled_at: Utc::now(),
    }
}

/// Order #42 moved from `from` to `to`.
fn status_change(from: &str, to: &str) -> OrderStatusChanged {
    OrderStatusChanged {
        order_id: Uuid::new_v4(),
        order_number: 42,
        user_id: Uuid::new_v4(),
        user_email: "buyer@example.com".into(),
        from_status: from.into(),
        to_status: to.into(),
        actor: "admin".into(),
        reason: Some("1Z999AA1".into()),
        total_cents: 1000,
        currency: "USD".into(),
        changed_at: Utc::now(),
    }
}

#[tokio::test]
async fn a_cancellation_writes_one_returning_movement_per_item_even_when_redelivered()
-> anyhow::Result<()> {
    let (_database, url) = TestDatabase::create().await?;
    let db = Database::connect(url).await?;
    let (first, second) = (product(&db).await?, product(&db).await?);
    let mailer = Arc::new(RecordingMailer::default());
    let handler = InventoryHandler::new(
        db.clone(),
        mailer.clone(),
        vec!["admin@example.com".into()],
        MailSettings::default(),
    );
    let cancelled = cancellation(&[(first, 2), (second, 3)], "paid", "admin");
    let order_id = cancelled.order_id;
    let event = untyped(EventEnvelope::new(cancelled, None));
    // Twice at once, then a redelivery.
    let (a, b) = tokio::join!(handler.handle(&event), handler.handle(&event));
    a.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    b.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    handler
        .handle(&event)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    for (product, quantity) in [(first, 2), (second, 3)] {
        let rows = count(
            &db,
            &format!(
                "SELECT count(*) FROM inventory_movements WHERE product_id = '{product}' \
                 AND reason = 'cancel' AND order_id = '{order_id}' AND event_id = '{}'",
                event.event_id
            ),
        )
        .await?;
        assert_eq!(rows, 1, "one cancel movement for {product}");
        let delta = count(
            &db,
            &format!(
                "SELECT sum(delta)::int8 FROM inventory_movements WHERE product_id = '{product}'"
            ),
        )
        .await?;
        assert_eq!(
            delta,
            i64::from(quantity),
            "the stock came back: +{quantity}"
        );
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM inventory_movements").await?,
        2
    );
    assert!(mailer.sent().is_empty(), "a cancellation alerts no one");
    Ok(())
}

#[tokio::test]
async fn a_status_change_is_done_for_the_inventory_consumer_and_moves_no_stock()
-> anyhow::Result<()> {
    let (_database, url) = TestDatabase::create().await?;
    let db = Database::connect(url).await?;
    let mailer = Arc::new(RecordingMailer::default());
    let handler = InventoryHandler::new(
        db.clone(),
        mailer.clone(),
        vec!["admin@example.com".into()],
        MailSettings::default(),
    );
    for (from, to) in [
        ("pending", "paid"),
        ("paid", "shipped"),
        ("shipped", "delivered"),
        ("cancelled", "refunded"),
    ] {
        let event = untyped(EventEnvelope::new(status_change(from, to), None));
        let handled = handler.handle(&event).await;
        assert!(handled.is_ok(), "{to}: {handled:?}");
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM inventory_movements").await?,
        0
    );
    assert!(mailer.sent().is_empty());
    // Unknown types are still dead-lettered.
    let mut unknown = untyped(EventEnvelope::new(status_change("paid", "shipped"), None));
    unknown.event_type = "order-archived".into();
    assert!(matches!(
        handler.handle(&unknown).await,
        Err(HandleError::Permanent(_))
    ));
    Ok(())
}

#[tokio::test]
async fn each_order_lifecycle_event_becomes_one_mail_of_its_kind_to_the_buyer() -> anyhow::Result<()>
{
    let mailer = Arc::new(RecordingMailer::default());
    let handler = EmailHandler::new(mailer.clone(), SealKey([1; 32]), MailSettings::default());
    let cancelled = cancellation(&[(Uuid::new_v4(), 1)], "paid", "system");
    let events = [
        (
            untyped(EventEnvelope::new(cancelled, None)),
            "order-cancelled",
            "Your Shop order #42 was cancelled",
        ),
        (
            untyped(EventEnvelope::new(status_change("pending", "paid"), None)),
            "order-paid",
            "Your Shop order #42 is paid",
        ),
        (
            untyped(EventEnvelope::new(status_change("paid", "shipped"), None)),
            "order-shipped",
            "Your Shop order #42 is on its way",
        ),
        (
            untyped(EventEnvelope::new(
                status_change("shipped", "delivered"),
                None,
            )),
            "order-delivered",
            "Your Shop order #42 was delivered",
        ),
        (
            untyped(EventEnvelope::new(
                status_change("cancelled", "refunded"),
                None,
            )),
            "order-refunded",
            "Your Shop order #42 was refunded",
        ),
    ];
    for (i, (event, kind, subject)) in events.iter().enumerate() {
        handler
            .handle(event)
            .await
            .map_err(|e| anyhow::anyhow!("{kind}: {e:?}"))?;
        let sent = mailer.sent();
        assert_eq!(sent.len(), i + 1, "{kind}: exactly one mail per event");
        let mail = &sent[i];
        assert_eq!(mail.event_id, event.event_id);
        assert_eq!(mail.purpose, *kind);
        assert_eq!(mail.to, vec!["buyer@example.com".to_owned()]);
        assert_eq!(mail.mail.subject, *subject);
    }
    let sent = mailer.sent();
    assert!(sent[0].mail.text.contains("payment did not arrive in time"));
    assert!(
        sent[0]
            .mail
            .text
            .contains("a refund of 10.00 USD will follow")
    );
    assert!(sent[2].mail.text.contains("Tracking reference: 1Z999AA1"));
    // A status without a mail of its own is a permanent failure, and sends nothing.
    for to in ["pending", "cancelled", "lost"] {
        let odd = untyped(EventEnvelope::new(status_change("paid", to), None));
        assert!(
            matches!(handler.handle(&odd).await, Err(HandleError::Permanent(_))),
            "{to}"
        );
    }
    assert_eq!(mailer.sent().len(), events.len());
    Ok(())
}
