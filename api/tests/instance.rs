//! One API instance in-process, against the real PostgreSQL, Redis and Kafka of the
//! running stack: readiness names a dependency that is down, and SIGTERM-style
//! shutdown drains (readiness 503) before the listener closes.

use std::time::Duration;

use api::{configuration::Settings, startup::Application};
use serde_json::Value;

fn settings() -> anyhow::Result<Settings> {
    let mut settings = Settings::from_env()?;
    settings.port = 0;
    settings.instance_id = "in-process-test".into();
    Ok(settings)
}

async fn ready(base: &str) -> anyhow::Result<(u16, Value)> {
    let resp = reqwest::get(format!("{base}/health/ready")).await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await?))
}

#[tokio::test]
async fn readiness_is_503_naming_redis_when_redis_is_unreachable() -> anyhow::Result<()> {
    let mut settings = settings()?;
    // Nothing listens on port 1: this instance alone cannot reach Redis.
    settings.redis_url = "redis://127.0.0.1:1/0".into();
    let app = Application::build(settings).await?;
    let base = format!("http://{}", app.addr());
    let server = tokio::spawn(app.run(std::future::pending()));

    let (status, body) = ready(&base).await?;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "NOT_READY");
    assert_eq!(body["success"], false);
    assert_eq!(body["details"]["failed"], serde_json::json!(["redis"]));
    assert_eq!(body["details"]["checks"]["postgres"], "ok");
    assert_eq!(body["details"]["checks"]["kafka"], "ok");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("redis")
    );
    server.abort();
    Ok(())
}

#[tokio::test]
async fn shutdown_turns_readiness_503_while_draining_then_stops_cleanly() -> anyhow::Result<()> {
    let mut settings = settings()?;
    settings.shutdown_drain = Duration::from_millis(1500);
    let app = Application::build(settings).await?;
    let base = format!("http://{}", app.addr());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async move {
        let _ = stop_rx.await;
    }));

    assert_eq!(ready(&base).await?.0, 200);
    let _ = stop_tx.send(());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = ready(&base).await?;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["details"]["draining"], true);

    let finished = tokio::time::timeout(Duration::from_secs(10), server).await;
    assert!(
        matches!(finished, Ok(Ok(Ok(())))),
        "server did not stop cleanly"
    );
    assert!(
        reqwest::get(format!("{base}/health/live")).await.is_err(),
        "still accepting"
    );
    Ok(())
}
