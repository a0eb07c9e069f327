//! One handler per consumer, and the process wiring they share.

pub mod email;
pub mod inventory;

use std::net::SocketAddr;

use anyhow::Context;
use tokio::sync::watch;

use crate::{
    health,
    runner::{Handler, Runner, RunnerConfig},
    settings::ConsumerSettings,
};

/// Runs `handler` as consumer `name` on `topics` with its health listener, until
/// SIGTERM or Ctrl-C. The thin binaries call this.
pub async fn run_consumer<H: Handler>(
    name: &str,
    topics: &[&str],
    settings: ConsumerSettings,
    handler: H,
) -> anyhow::Result<()> {
    let db = shop_common::db::database(&settings.database_url, 5).await?;
    let runner = Runner::new(
        RunnerConfig {
            name: name.to_owned(),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            brokers: settings.kafka_brokers.clone(),
            max_attempts: settings.max_attempts,
            initial_backoff: settings.initial_backoff,
            max_backoff: settings.max_backoff,
            concurrency: settings.concurrency,
            session_timeout: settings.session_timeout,
        },
        db.clone(),
        handler,
    )?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let addr = SocketAddr::new(settings.health_host, settings.health_port);
    let health = tokio::spawn(health::serve(
        addr,
        name.to_owned(),
        runner.status(),
        db,
        stop_rx.clone(),
    ));
    let consumer = tokio::spawn(runner.run(stop_rx));
    shop_common::shutdown::shutdown_signal().await;
    let _ = stop_tx.send(true);
    consumer.await.context("consumer task")??;
    health.await.context("health task")??;
    Ok(())
}
