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
        AccountOtp, EventEnvelope, OTP_PURPOSE_RESET, OTP_PURPOSE_VERIFY, OrderPlaced,
        OrderPlacedItem,
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
