//! The `api` binary: one API instance, plus the operator commands.
//!
//! ```text
//! api [serve]        run one instance (default)
//! api migrate        apply database migrations (safe to run concurrently)
//! api create-admin   create or update the admin from ADMIN_EMAIL / ADMIN_PASSWORD
//! api create-topics  create the Kafka topics and their dead-letter twins
//! api replay-dead-letters [CONSUMER|all] [EVENT_ID]
//!                    send dead-lettered events again (after an SMTP outage, say)
//! api openapi        print the OpenAPI document
//! api bcrypt-bench N print the mean milliseconds of one bcrypt verify at BCRYPT_COST
//! ```

use std::process::ExitCode;

use anyhow::Context;
use api::{admin, configuration, kafka, migrate, startup, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let command = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "serve".to_owned());
    if command == "openapi" {
        print!("{}", startup::spec_json());
        return ExitCode::SUCCESS;
    }
    telemetry::init("info");
    let result = match command.as_str() {
        "serve" => serve().await,
        "migrate" => migrate_command().await,
        "create-admin" => create_admin().await,
        "create-topics" => create_topics().await,
        "replay-dead-letters" => replay_dead_letters().await,
        "bcrypt-bench" => bcrypt_bench().await,
        other => Err(anyhow::anyhow!(
            "unknown command `{other}`; expected serve, migrate, create-admin, create-topics, replay-dead-letters or openapi"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "api {command} failed");
            eprintln!("api {command}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    let settings = configuration::Settings::from_env()?;
    let app = startup::Application::build(settings).await?;
    app.run(startup::shutdown_signal()).await
}

async fn migrate_command() -> anyhow::Result<()> {
    let url: String = configuration::required("DATABASE_URL")?;
    migrate::run(&url).await
}

async fn create_admin() -> anyhow::Result<()> {
    let url: String = configuration::required("DATABASE_URL")?;
    let db = startup::database(&url, 1)?;
    let mut redis = startup::redis(&configuration::required::<String>("REDIS_URL")?)?;
    admin::ensure_admin_from_env(&db, &mut redis).await
}

async fn replay_dead_letters() -> anyhow::Result<()> {
    let url: String = configuration::required("DATABASE_URL")?;
    let consumer = std::env::args().nth(2).filter(|c| c != "all");
    let event = std::env::args()
        .nth(3)
        .map(|id| id.parse::<uuid::Uuid>())
        .transpose()
        .context("EVENT_ID must be an event id (a UUID)")?;
    let db = startup::database(&url, 1)?;
    let replayed = api::outbox::replay_dead_letters(&db, consumer.as_deref(), event).await?;
    tracing::info!(
        replayed,
        consumer = consumer.as_deref().unwrap_or("all"),
        event = event.map(|e| e.to_string()),
        "dead letters replayed"
    );
    println!("{replayed}");
    Ok(())
}

async fn bcrypt_bench() -> anyhow::Result<()> {
    let rounds: u32 = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "20".into())
        .parse()
        .context("bcrypt-bench takes a number of rounds")?;
    let cost: u32 = configuration::optional("BCRYPT_COST", 11)?;
    let hasher = api::password::Hasher::new(cost, 1);
    let hash = hasher.hash("benchmark password".into()).await?;
    let started = std::time::Instant::now();
    for _ in 0..rounds.max(1) {
        hasher
            .verify("benchmark password".into(), hash.clone())
            .await?;
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds.max(1));
    println!("{ms:.1}");
    Ok(())
}

async fn create_topics() -> anyhow::Result<()> {
    let brokers: String = configuration::required("KAFKA_BROKERS")?;
    kafka::create_topics(&brokers)
        .await
        .context("creating Kafka topics")
}
