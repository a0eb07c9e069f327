//! One instance's own life: readiness names a dependency that is down, and shutdown
//! drains (readiness 503) before the listener closes.

use std::time::Duration;

use crate::support::TestApp;

#[tokio::test]
async fn readiness_is_503_naming_redis_when_redis_is_unreachable() -> anyhow::Result<()> {
    // Nothing listens on port 1: this instance alone cannot reach Redis.
    let app = TestApp::spawn_with(&[("REDIS_URL", "redis://127.0.0.1:1/0")]).await;
    let reply = app.get("/health/ready", None).await?;
    reply.assert_error(503, "NOT_READY");
    let body = &reply.json;
    assert_eq!(body["details"]["failed"], serde_json::json!(["redis"]));
    assert_eq!(body["details"]["checks"]["postgres"], "ok");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("redis"),
        "{body}"
    );
    Ok(())
}

#[tokio::test]
async fn shutdown_turns_readiness_503_while_draining_then_stops_cleanly() -> anyhow::Result<()> {
    let app = TestApp::spawn_with(&[("SHUTDOWN_DRAIN_MS", "1500")]).await;
    assert_eq!(app.get("/health/ready", None).await?.status, 200);
    let base = app.base.clone();
    let http = app.http.clone();
    let stopped = tokio::spawn(app.stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reply = http.get(format!("{base}/health/ready")).send().await?;
    assert_eq!(reply.status().as_u16(), 503);
    let body: serde_json::Value = reply.json().await?;
    assert_eq!(body["details"]["draining"], true);
    let finished = tokio::time::timeout(Duration::from_secs(10), stopped).await;
    assert!(
        matches!(finished, Ok(Ok(Ok(())))),
        "server did not stop cleanly: {finished:?}"
    );
    assert!(
        http.get(format!("{base}/health/live"))
            .send()
            .await
            .is_err(),
        "still accepting"
    );
    Ok(())
}
