//! `GET /health/live` and `GET /health/ready`.
//!
//! Readiness checks what an instance needs to serve requests, PostgreSQL and Redis,
//! and answers 503 naming the ones that are down, or while the instance drains before
//! shutdown, so the balancer sends it nothing new. Kafka is reported beside them (the
//! `kafka` field, and `shop_kafka_reachable`) but never makes an instance unready: the
//! outbox exists so that a broker outage delays e-mails and touches no request, and
//! an orchestrator acting on readiness would otherwise take every instance out.
//! Public bodies say only `ok` or `down`; why a check failed goes to the log.

use std::{sync::atomic::Ordering, time::Duration};

use poem::{http::StatusCode, web::Data};
use poem_openapi::{Object, OpenApi, payload::Json};
use redis::AsyncCommands;
use serde_json::json;

use super::{ApiTags, outcomes};
use crate::{
    envelope::Envelope,
    error::{ApiError, Failure},
    state::SharedState,
};

/// Each dependency gets this long to answer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The instance process is up.
#[derive(Debug, Object)]
pub struct Liveness {
    /// Always `live`.
    pub status: String,
}

/// Every dependency answered.
#[derive(Debug, Object)]
pub struct Readiness {
    /// Always `ready`.
    pub status: String,
    /// `ok` per dependency.
    pub checks: Checks,
}

/// One result per dependency: `ok` or `down`.
#[derive(Debug, Object, serde::Serialize)]
pub struct Checks {
    /// PostgreSQL (needed to be ready).
    pub postgres: String,
    /// Redis (needed to be ready).
    pub redis: String,
    /// The Kafka broker: reported only; while it is down, events wait in the outbox.
    pub kafka: String,
}

/// Health endpoints.
pub struct HealthApi;

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness: the process answers HTTP.
    #[oai(path = "/health/live", method = "get", operation_id = "health_live")]
    async fn live(&self) -> Result<Json<Envelope<Liveness>>, ApiError> {
        Ok(Json(Envelope::new(
            Liveness {
                status: "live".into(),
            },
            "alive",
        )))
    }

    /// Readiness: PostgreSQL and Redis answer and the instance is not draining; the
    /// Kafka broker is reported in `checks.kafka` without deciding readiness.
    /// 503 `NOT_READY` names what is down in `details.failed`.
    #[oai(path = "/health/ready", method = "get", operation_id = "health_ready")]
    async fn ready(
        &self,
        state: Data<&SharedState>,
    ) -> Result<Json<Envelope<Readiness>>, Failure<outcomes::Ready>> {
        let (postgres, redis, kafka) = tokio::join!(
            check_postgres(&state),
            check_redis(&state),
            check_kafka(&state)
        );
        state.kafka_reachable.set(i64::from(kafka.is_ok()));
        let checks = Checks {
            postgres: verdict("postgres", postgres),
            redis: verdict("redis", redis),
            kafka: verdict("kafka", kafka),
        };
        let draining = state.draining.load(Ordering::Relaxed);
        let failed: Vec<&str> = [("postgres", &checks.postgres), ("redis", &checks.redis)]
            .into_iter()
            .filter(|(_, v)| v.as_str() != "ok")
            .map(|(name, _)| name)
            .collect();
        if draining || !failed.is_empty() {
            let message = if draining {
                "instance is draining before shutdown".to_owned()
            } else {
                format!("not ready: {} unreachable", failed.join(", "))
            };
            tracing::warn!(?failed, draining, "readiness check failed");
            return Err(
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "NOT_READY", message)
                    .with_details(
                        json!({ "checks": checks, "failed": failed, "draining": draining }),
                    )
                    .into(),
            );
        }
        Ok(Json(Envelope::new(
            Readiness {
                status: "ready".into(),
                checks,
            },
            "ready",
        )))
    }
}

fn verdict(dependency: &str, result: Result<(), String>) -> String {
    match result {
        Ok(()) => "ok".into(),
        Err(reason) => {
            tracing::warn!(dependency, reason = %reason, "dependency check failed");
            "down".into()
        }
    }
}

async fn check_postgres(state: &SharedState) -> Result<(), String> {
    match tokio::time::timeout(CHECK_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("error: {e}")),
        Err(_) => Err("timeout".into()),
    }
}

async fn check_redis(state: &SharedState) -> Result<(), String> {
    let mut conn = state.redis.clone();
    let ping = async move { conn.ping::<String>().await };
    match tokio::time::timeout(CHECK_TIMEOUT, ping).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("error: {e}")),
        Err(_) => Err("timeout".into()),
    }
}

async fn check_kafka(state: &SharedState) -> Result<(), String> {
    state
        .publisher
        .reachable(CHECK_TIMEOUT)
        .await
        .map_err(|e| format!("error: {e}"))
}
