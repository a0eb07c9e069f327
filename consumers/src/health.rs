//! The health and metrics listener of a consumer process.
//!
//! `/health/ready` is 200 while the consumer holds an assignment from its group
//! (between a revocation and the next assignment it is 503) and PostgreSQL answers;
//! `/metrics` exposes the runner's counters.

use std::{net::SocketAddr, sync::Arc, sync::atomic::Ordering, time::Duration};

use anyhow::Context;
use poem::{
    EndpointExt, IntoResponse, Response, Route, Server, get, handler,
    http::StatusCode,
    listener::TcpListener,
    web::{Data, Json},
};
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio::sync::watch;

use crate::runner::RunnerStatus;

#[derive(Clone)]
struct HealthState {
    name: String,
    status: Arc<RunnerStatus>,
    db: DatabaseConnection,
}

#[handler]
fn live() -> Json<serde_json::Value> {
    Json(json!({ "success": true, "data": { "status": "live" }, "message": "alive" }))
}

#[handler]
async fn ready(state: Data<&HealthState>) -> Response {
    let joined = state.status.joined.load(Ordering::SeqCst);
    let db_ok = matches!(
        tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await,
        Ok(Ok(()))
    );
    if joined && db_ok {
        Json(json!({ "success": true, "data": { "status": "ready", "consumer": state.name }, "message": "ready" }))
            .into_response()
    } else {
        // The API's one error shape, written out: this crate does not link the web one.
        let body = json!({
            "success": false,
            "error": "NOT_READY",
            "message": "consumer not ready",
            "statusCode": 503,
            "details": { "joined_group": joined, "postgres": db_ok },
        });
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

#[handler]
fn metrics(state: Data<&HealthState>) -> String {
    let s = &state.status;
    let name = &state.name;
    format!(
        "# TYPE shop_consumer_events_handled_total counter\n\
         shop_consumer_events_handled_total{{consumer=\"{name}\"}} {}\n\
         # TYPE shop_consumer_duplicates_skipped_total counter\n\
         shop_consumer_duplicates_skipped_total{{consumer=\"{name}\"}} {}\n\
         # TYPE shop_consumer_uncertain_redeliveries_total counter\n\
         shop_consumer_uncertain_redeliveries_total{{consumer=\"{name}\"}} {}\n\
         # TYPE shop_consumer_partitions_paused gauge\n\
         shop_consumer_partitions_paused{{consumer=\"{name}\"}} {}\n\
         # TYPE shop_consumer_dead_lettered_total counter\n\
         shop_consumer_dead_lettered_total{{consumer=\"{name}\"}} {}\n\
         # TYPE shop_consumer_retries_total counter\n\
         shop_consumer_retries_total{{consumer=\"{name}\"}} {}\n\
         # TYPE shop_consumer_joined gauge\n\
         shop_consumer_joined{{consumer=\"{name}\"}} {}\n\
         # TYPE shop_consumer_lag_messages gauge\n\
         shop_consumer_lag_messages{{consumer=\"{name}\"}} {}\n\
         # TYPE shop_emails_sent_total counter\n\
         shop_emails_sent_total{{consumer=\"{name}\"}} {}\n",
        s.handled.load(Ordering::Relaxed),
        s.duplicates.load(Ordering::Relaxed),
        s.uncertain.load(Ordering::Relaxed),
        s.paused.load(Ordering::Relaxed),
        s.dead_lettered.load(Ordering::Relaxed),
        s.retries.load(Ordering::Relaxed),
        u8::from(s.joined.load(Ordering::Relaxed)),
        s.lag.load(Ordering::Relaxed),
        crate::mailer::EMAILS_SENT.load(Ordering::Relaxed),
    )
}

/// Serves health and metrics on `addr` until `shutdown` turns true.
pub async fn serve(
    addr: SocketAddr,
    name: String,
    status: Arc<RunnerStatus>,
    db: DatabaseConnection,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let app = Route::new()
        .at("/health/live", get(live))
        .at("/health/ready", get(ready))
        .at("/metrics", get(metrics))
        .data(HealthState { name, status, db });
    Server::new(TcpListener::bind(addr))
        .run_with_graceful_shutdown(
            app,
            async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            },
            Some(Duration::from_secs(5)),
        )
        .await
        .context("serving consumer health")
}
