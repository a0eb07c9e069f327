//! `GET /stats/instance`: which instance answered and how it is doing. Used through
//! nginx to see the balancing at work.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, payload::Json};

use super::ApiTags;
use crate::{envelope::Envelope, error::ApiError, state::SharedState};

/// Facts about the instance that answered.
#[derive(Debug, Object)]
pub struct InstanceStats {
    /// The instance's id (`INSTANCE_ID`).
    pub instance_id: String,
    /// The build's version.
    pub version: String,
    /// Seconds since the process started.
    pub uptime_seconds: u64,
    /// When the process started.
    pub started_at: DateTime<Utc>,
    /// Requests answered by this instance since it started.
    pub requests_served: u64,
}

/// Per-instance statistics.
pub struct StatsApi;

#[OpenApi(tag = "ApiTags::Stats")]
impl StatsApi {
    /// The instance that answered: id, version, uptime, requests served.
    #[oai(
        path = "/stats/instance",
        method = "get",
        operation_id = "stats_instance"
    )]
    async fn instance(
        &self,
        state: Data<&SharedState>,
    ) -> Result<Json<Envelope<InstanceStats>>, ApiError> {
        Ok(Json(Envelope::new(
            InstanceStats {
                instance_id: state.settings.instance_id.clone(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                uptime_seconds: state.started.elapsed().as_secs(),
                started_at: state.started_at,
                requests_served: state.requests_served.load(Ordering::Relaxed),
            },
            "instance statistics",
        )))
    }
}
