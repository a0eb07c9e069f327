//! The `api` binary: one API instance, plus the operator commands.
//!
//! ```text
//! api [serve]        run one instance (default)
//! api migrate        apply database migrations (safe to run concurrently)
//! api create-admin   create or update the admin from ADMIN_EMAIL / ADMIN_PASSWORD
//! api create-topics  create the Kafka topics and their dead-letter twins
//! api replay-dead-letters [CONSUMER|all] [EVENT_ID]
//!                    send dead-lettered events again (after an SMTP outage, say);
//!                    without a consumer, parked outbox events too
//! api republish SINCE
//!                    publish every event published since SINCE (RFC 3339, or an age
//!                    like 90m, 6h, 2d) again: after a broker lost its data
//! api kafka-probe    produce a canary message and consume it back (exit 1 if the
//!                    broker does not do both within 10 s)
//! api retention      run every retention job now (forced; see README "Retention"),
//!                    printing each table's rows and bytes before and after
//! api jobs-tick      one tick of the scheduled jobs, as every instance runs each
//!                    minute: the jobs that are due, then exit (tests, debugging)
//! api openapi        print the OpenAPI document
//! api bcrypt-bench N print the mean milliseconds of one bcrypt verify at BCRYPT_COST
//! ```

use std::process::ExitCode;

use anyhow::Context;
use api::{admin, configuration, jobs, kafka, migrate, startup, telemetry};

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
        "republish" => republish().await,
        "kafka-probe" => kafka_probe().await,
        "retention" => retention().await,
        "jobs-tick" => jobs_tick().await,
        "bcrypt-bench" => bcrypt_bench().await,
        other => Err(anyhow::anyhow!(
            "unknown command `{other}`; expected serve, migrate, create-admin, create-topics, replay-dead-letters, republish, kafka-probe, retention, jobs-tick or openapi"
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
    app.run(shop_common::shutdown::shutdown_signal()).await
}

async fn migrate_command() -> anyhow::Result<()> {
    let url: String = configuration::required("DATABASE_URL")?;
    migrate::run(&url).await
}

async fn create_admin() -> anyhow::Result<()> {
    let url: String = configuration::required("DATABASE_URL")?;
    let db = shop_common::db::database(&url, 1).await?;
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
    let db = shop_common::db::database(&url, 1).await?;
    let replayed = api::outbox::replay_dead_letters(&db, consumer.as_deref(), event).await?;
    tracing::info!(
        dead_letters = replayed.dead_letters,
        parked = replayed.parked,
        consumer = consumer.as_deref().unwrap_or("all"),
        event = event.map(|e| e.to_string()),
        "dead letters replayed"
    );
    println!("{}", replayed.dead_letters + replayed.parked);
    Ok(())
}

/// A scheduler for the operator commands: its runs are recorded under
/// `<INSTANCE_ID or cli>/<command>-<pid>`.
async fn command_scheduler(
    command: &str,
) -> anyhow::Result<(sea_orm::DatabaseConnection, jobs::Scheduler)> {
    let url: String = configuration::required("DATABASE_URL")?;
    let settings = configuration::RetentionSettings::from_env()?;
    let id: String = configuration::optional("INSTANCE_ID", "cli".to_owned())?;
    let instance = format!("{id}/{command}-{}", std::process::id());
    // A running job holds one connection for its lock and works on another.
    let db = shop_common::db::database(&url, 3).await?;
    Ok((
        db.clone(),
        jobs::Scheduler::new(db, settings, instance, None),
    ))
}

async fn retention() -> anyhow::Result<()> {
    let (db, scheduler) = command_scheduler("retention").await?;
    let before = jobs::table_sizes(&db)
        .await
        .context("measuring the tables")?;
    let reports = scheduler.run_all_forced().await;
    let after = jobs::table_sizes(&db)
        .await
        .context("measuring the tables")?;
    print!("{}", jobs::render_report(&before, &after, &reports));
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| r.outcome.is_error())
        .map(|r| r.job.name())
        .collect();
    anyhow::ensure!(
        failed.is_empty(),
        "retention jobs failed: {}",
        failed.join(", ")
    );
    Ok(())
}

async fn jobs_tick() -> anyhow::Result<()> {
    let (_, scheduler) = command_scheduler("jobs-tick").await?;
    let reports = scheduler.tick(None).await;
    for report in &reports {
        println!(
            "{} {} {}",
            report.job.name(),
            report.outcome.label(),
            report.outcome.deleted()
        );
    }
    let failed = reports.iter().filter(|r| r.outcome.is_error()).count();
    anyhow::ensure!(failed == 0, "{failed} scheduled jobs failed");
    Ok(())
}

async fn republish() -> anyhow::Result<()> {
    let url: String = configuration::required("DATABASE_URL")?;
    let arg = std::env::args()
        .nth(2)
        .context("usage: api republish SINCE (RFC 3339, or an age like 90m, 6h, 2d)")?;
    let since = parse_since(&arg, chrono::Utc::now())?;
    let db = shop_common::db::database(&url, 1).await?;
    let republished = api::outbox::republish_since(&db, since).await?;
    tracing::info!(republished, since = %since, "events marked for publishing again");
    println!("{republished}");
    Ok(())
}

/// `SINCE` of `api republish`: an RFC 3339 time, or an age (`90m`, `6h`, `2d`).
fn parse_since(
    arg: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(arg) {
        return Ok(at.with_timezone(&chrono::Utc));
    }
    let (number, unit) = arg.split_at(arg.len().saturating_sub(1));
    let n: i64 = number
        .parse()
        .with_context(|| format!("`{arg}` is neither an RFC 3339 time nor an age like 6h"))?;
    let age = match unit {
        "m" => chrono::Duration::try_minutes(n),
        "h" => chrono::Duration::try_hours(n),
        "d" => chrono::Duration::try_days(n),
        _ => None,
    }
    .with_context(|| format!("`{arg}`: an age ends in m, h or d"))?;
    Ok(now - age)
}

async fn kafka_probe() -> anyhow::Result<()> {
    let brokers: String = configuration::required("KAFKA_BROKERS")?;
    let took = kafka::probe(&brokers, std::time::Duration::from_secs(10)).await?;
    println!("ok {} ms", took.as_millis());
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

#[cfg(test)]
mod tests {
    use super::parse_since;

    #[test]
    fn since_takes_a_time_or_an_age() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z")
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default();
        let at = |s: &str| parse_since(s, now).map(|t| t.to_rfc3339()).ok();
        assert_eq!(
            at("2026-12-01T08:30:00Z").as_deref(),
            Some("2026-12-01T08:30:00+00:00")
        );
        assert_eq!(at("90m").as_deref(), Some("2026-12-02T10:30:00+00:00"));
        assert_eq!(at("6h").as_deref(), Some("2026-12-02T06:00:00+00:00"));
        assert_eq!(at("2d").as_deref(), Some("2026-11-30T12:00:00+00:00"));
        assert_eq!(at("6x"), None);
        assert_eq!(at("h"), None);
        assert_eq!(at(""), None);
    }
}
