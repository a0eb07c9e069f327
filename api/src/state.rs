//! What every request handler can reach. Nothing here is business state: users,
//! orders, OTPs and counters live in PostgreSQL and Redis, so any instance can serve
//! any request.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64},
    },
    time::Instant,
};

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use sea_orm::DatabaseConnection;

use crate::{
    auth::service::Auth,
    catalogue::{cache::CatalogueCache, image_cache::ImageCache},
    configuration::Settings,
    metrics::Metrics,
    outbox::Publisher,
};

/// Shared handles of one API instance.
pub struct AppState {
    /// Configuration.
    pub settings: Settings,
    /// PostgreSQL pool (the truth).
    pub db: DatabaseConnection,
    /// Redis (cache, OTPs, limits); reconnects by itself.
    pub redis: ConnectionManager,
    /// The broker the outbox relay publishes to and the readiness check asks (Kafka;
    /// an in-memory recorder in the in-process test tier).
    pub publisher: Arc<dyn Publisher>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Auth use cases and keys.
    pub auth: Auth,
    /// The catalogue cache.
    pub catalogue: CatalogueCache,
    /// Image bytes in this instance's memory (`IMAGE_CACHE_BYTES`).
    pub images: ImageCache,
    /// Process start, for uptime.
    pub started: Instant,
    /// Wall-clock process start.
    pub started_at: DateTime<Utc>,
    /// Requests answered by this instance.
    pub requests_served: AtomicU64,
    /// Set on SIGTERM: readiness answers 503 so the balancer stops sending work.
    pub draining: AtomicBool,
    /// Whether the last readiness check reached the Kafka broker
    /// (`shop_kafka_reachable`); reported, never a reason to be unready.
    pub kafka_reachable: prometheus::IntGauge,
}

/// The state as handlers receive it.
pub type SharedState = Arc<AppState>;
