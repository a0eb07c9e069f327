//! The inventory consumer process.

use std::process::ExitCode;

use consumers::{handlers, settings::ConsumerSettings};

#[tokio::main]
async fn main() -> ExitCode {
    shop_common::telemetry::init("info");
    let result = async {
        let settings = ConsumerSettings::from_env("INVENTORY_CONSUMER_HEALTH_PORT", 9102)?;
        let admins: String = shop_common::config::optional(
            "ADMIN_ALERT_EMAILS",
            shop_common::config::optional("ADMIN_EMAIL", String::new())?,
        )?;
        let admins = admins
            .split(',')
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        let db = shop_common::db::database(&settings.database_url, 5).await?;
        let mailer = consumers::mailer::Mailer::new(&consumers::mailer::SmtpSettings::from_env()?)?;
        let shop = consumers::mailer::MailSettings::from_env()?;
        handlers::run_consumer(
            "inventory",
            &[shop_common::events::TOPIC_ORDER_PLACED],
            settings,
            handlers::inventory::InventoryHandler::new(db, mailer, admins, shop),
        )
        .await
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "inventory consumer failed");
            eprintln!("inventory-consumer: {e:#}");
            ExitCode::FAILURE
        }
    }
}
