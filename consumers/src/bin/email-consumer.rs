//! The email consumer process.

use std::process::ExitCode;

use consumers::{handlers, settings::ConsumerSettings};

#[tokio::main]
async fn main() -> ExitCode {
    shop_common::telemetry::init("info");
    let result = async {
        let settings = ConsumerSettings::from_env("EMAIL_CONSUMER_HEALTH_PORT", 9101)?;
        handlers::run_consumer(
            "email",
            &[
                shop_common::events::TOPIC_ACCOUNT_EMAIL,
                shop_common::events::TOPIC_ORDER_PLACED,
            ],
            settings,
            handlers::email::EmailHandler::new(
                consumers::mailer::Mailer::new(&consumers::mailer::SmtpSettings::from_env()?)?,
                shop_common::config::SealKey::from_env()?,
                consumers::mailer::MailSettings::from_env()?,
            ),
        )
        .await
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "email consumer failed");
            eprintln!("email-consumer: {e:#}");
            ExitCode::FAILURE
        }
    }
}
