//! Building and running one API instance.
//!
//! `Application::build` binds first (port 0 gives tests a free port), then `run`
//! serves until the shutdown future resolves: readiness turns 503, the instance waits
//! `SHUTDOWN_DRAIN_MS` for the balancer to notice, stops accepting, and gives in-flight
//! requests up to `SHUTDOWN_TIMEOUT_SECONDS` to finish.

use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use poem::{
    EndpointExt, Route, Server,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
    middleware::Cors,
};
use poem_openapi::OpenApiService;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use shop_common::db::database;

use crate::{
    auth::service::Auth,
    catalogue::{cache::CatalogueCache, image_cache::ImageCache},
    configuration::{CorsSettings, Settings},
    error,
    jobs::{JobMetrics, Scheduler},
    kafka,
    metrics::Metrics,
    middleware::RequestContext,
    outbox::{KafkaPublisher, OutboxMetrics, Publisher, Relay},
    routes::{
        addresses::AddressesApi,
        admin::AdminApi,
        admin_audit::AdminAuditApi,
        admin_categories::AdminCategoriesApi,
        admin_orders::AdminOrdersApi,
        admin_products::AdminProductsApi,
        auth::AuthApi,
        cart::CartApi,
        categories::CategoriesApi,
        docs,
        health::HealthApi,
        legacy::LegacyApi,
        orders::OrdersApi,
        payments::PaymentsApi,
        products::ProductsApi,
        reviews::{AdminReviewsApi, ReviewsApi},
        search::SearchApi,
        stats::StatsApi,
    },
    state::{AppState, SharedState},
};

/// The OpenAPI service; needs no configuration, so the spec can be printed anywhere.
pub fn openapi_service() -> OpenApiService<impl poem_openapi::OpenApi, ()> {
    OpenApiService::new(
        (
            HealthApi,
            StatsApi,
            AuthApi,
            ProductsApi,
            CategoriesApi,
            SearchApi,
            CartApi,
            OrdersApi,
            AddressesApi,
            PaymentsApi,
            ReviewsApi,
            // Nested: poem-openapi implements `OpenApi` for tuples of at most 16.
            (
                AdminProductsApi,
                AdminCategoriesApi,
                AdminApi,
                AdminOrdersApi,
                AdminAuditApi,
                AdminReviewsApi,
            ),
            LegacyApi,
        ),
        "Shop API",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "E-commerce backend: OTP registration and login, a cached product catalogue, \
             carts and orders with an outbox to Kafka. Errors always use the `ErrorBody` shape.",
    )
}

/// The spec as pretty JSON with a trailing newline, as committed under `openapi/`.
pub fn spec_json() -> String {
    let mut spec = openapi_service().spec();
    spec.push('\n');
    spec
}

/// A Redis connection that connects on first use and reconnects by itself.
pub fn redis(url: &str) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(url).context("invalid REDIS_URL")?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1);
    ConnectionManager::new_lazy_with_config(client, config).context("creating the Redis client")
}

/// A bound, not yet serving, API instance.
pub struct Application {
    acceptor: TcpAcceptor,
    addr: SocketAddr,
    state: SharedState,
}

impl Application {
    /// Connects the clients (Kafka among them) and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let producer = kafka::producer(&settings.kafka_brokers)?;
        Self::build_with(settings, Arc::new(KafkaPublisher(producer))).await
    }

    /// [`Application::build`] with the relay publishing to `publisher` (the
    /// in-process test tier passes a `RecordingPublisher`).
    pub async fn build_with(
        settings: Settings,
        publisher: Arc<dyn Publisher>,
    ) -> anyhow::Result<Self> {
        let mut db = database(&settings.database_url, settings.database_max_connections).await?;
        crate::db_statements::install(&mut db);
        let redis = redis(&settings.redis_url)?;
        let metrics = Metrics::new(&settings.instance_id)?;
        let catalogue = CatalogueCache::new(
            redis.clone(),
            settings.catalogue_cache_ttl,
            settings.catalogue_listing_stores_per_minute,
            settings.catalogue_stock_staleness,
            &metrics,
        )?;
        let images = ImageCache::new(settings.image_cache_bytes, &metrics)?;
        let kafka_reachable = prometheus::IntGauge::new(
            "kafka_reachable",
            "1 when the last readiness check reached the Kafka broker",
        )?;
        metrics.register(Box::new(kafka_reachable.clone()))?;
        let gauges = crate::password::HasherGauges::new()?;
        metrics.register(Box::new(gauges.running.clone()))?;
        metrics.register(Box::new(gauges.running_max.clone()))?;
        let auth = Auth::new(
            settings.auth.clone(),
            settings.event_seal_key.clone(),
            Some(gauges),
        )
        .await?;
        let bind = SocketAddr::new(settings.host, settings.port);
        let acceptor = TcpListener::bind(bind)
            .into_acceptor()
            .await
            .with_context(|| format!("binding {bind}"))?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .context("the listener has no address")?;
        let state = Arc::new(AppState {
            settings,
            db,
            redis,
            publisher,
            metrics,
            auth,
            catalogue,
            images,
            started: Instant::now(),
            started_at: chrono::Utc::now(),
            requests_served: AtomicU64::new(0),
            draining: AtomicBool::new(false),
            kafka_reachable,
        });
        Ok(Self {
            acceptor,
            addr,
            state,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves, then drains. The outbox relay and the
    /// scheduled jobs run beside the server and stop after it.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let state = self.state.clone();
        let (relay_stop, relay_stop_rx) = tokio::sync::watch::channel(false);
        let relay = Relay::new(
            state.db.clone(),
            state.publisher.clone(),
            OutboxMetrics::new(&state.metrics)?,
            state.settings.outbox_max_attempts,
        );
        let relay = tokio::spawn(supervise("outbox relay", relay_stop_rx, move |stop| {
            relay.clone().run(stop)
        }));
        // The scheduled jobs (retention) tick in every instance; each job runs once
        // per period over all of them (`jobs`).
        let (jobs_stop, jobs_stop_rx) = tokio::sync::watch::channel(false);
        let scheduler = Scheduler::new(
            state.db.clone(),
            state.settings.retention.clone(),
            state.settings.instance_id.clone(),
            Some(JobMetrics::new(&state.metrics)?),
        );
        let jobs = tokio::spawn(scheduler.run(jobs_stop_rx.clone()));
        // Unpaid orders past their `expires_at` are cancelled by every instance's tick;
        // the conditional update cancels each once (`orders::lifecycle::expire_due`).
        let expiry_state = state.clone();
        let expiry_metrics = ExpiryMetrics::new(&state.metrics)?;
        let expiry = tokio::spawn(supervise("order expiry", jobs_stop_rx, move |stop| {
            expire_orders(expiry_state.clone(), expiry_metrics.clone(), stop)
        }));
        let drain = state.settings.shutdown_drain;
        let timeout = state.settings.shutdown_timeout;
        let app = routes(state.clone());
        let signal = async move {
            shutdown.await;
            state.draining.store(true, Ordering::Relaxed);
            tracing::info!(
                drain_ms = drain.as_millis() as u64,
                "draining before shutdown"
            );
            tokio::time::sleep(drain).await;
        };
        tracing::info!(addr = %self.addr, "api instance listening");
        Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(app, signal, Some(timeout))
            .await
            .context("serving HTTP")?;
        let _ = relay_stop.send(true);
        let _ = jobs_stop.send(true);
        let _ = relay.await;
        let _ = jobs.await;
        let _ = expiry.await;
        tracing::info!("api instance stopped");
        Ok(())
    }
}

/// What this instance's order-expiry loop did.
#[derive(Clone)]
struct ExpiryMetrics {
    /// Passes over the due orders (each a query, and the cancellations it found).
    passes: prometheus::IntCounter,
    /// Orders this instance cancelled at their expiry.
    expired: prometheus::IntCounter,
}

impl ExpiryMetrics {
    fn new(metrics: &crate::metrics::Metrics) -> Result<Self, prometheus::Error> {
        let passes = prometheus::IntCounter::new(
            "order_expiry_passes_total",
            "Passes of this instance over the unpaid orders past their expiry",
        )?;
        let expired = prometheus::IntCounter::new(
            "orders_expired_total",
            "Unpaid orders this instance cancelled at their expiry",
        )?;
        metrics.register(Box::new(passes.clone()))?;
        metrics.register(Box::new(expired.clone()))?;
        Ok(Self { passes, expired })
    }
}

/// Cancels the unpaid orders past their time every `ORDER_EXPIRY_TICK_SECONDS` (with
/// up to a quarter more of jitter, so instances spread out) until `stop`; a batch
/// that gave stock back bumps the catalogue's stock version.
async fn expire_orders(
    state: SharedState,
    metrics: ExpiryMetrics,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use crate::orders::lifecycle::{EXPIRY_BATCH, expire_due};
    let tick = state.settings.orders.expiry_tick;
    loop {
        let jitter = rand::random::<u64>() % (tick.as_millis() as u64 / 4 + 1);
        tokio::select! {
            _ = tokio::time::sleep(tick + Duration::from_millis(jitter)) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        loop {
            let result = expire_due(&state.db).await;
            metrics.passes.inc();
            match result {
                Ok(moved) if moved.is_empty() => break,
                Ok(moved) => {
                    metrics.expired.inc_by(moved.len() as u64);
                    state.catalogue.stock_moved().await;
                    if (moved.len() as u64) < EXPIRY_BATCH {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "expiring unpaid orders failed");
                    break;
                }
            }
        }
    }
}

/// Runs the task `start` makes until `stop` turns true, starting it again (after a
/// second, with an error logged) whenever it panics: a background task that dies
/// must neither go unseen nor stay dead while the instance keeps serving.
async fn supervise<F>(
    name: &'static str,
    stop: tokio::sync::watch::Receiver<bool>,
    start: impl Fn(tokio::sync::watch::Receiver<bool>) -> F,
) where
    F: Future<Output = ()> + Send + 'static,
{
    loop {
        match tokio::spawn(start(stop.clone())).await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(task = name, error = %e, "background task died; starting it again in 1 s");
            }
        }
        if *stop.borrow() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn cors(settings: &CorsSettings) -> Cors {
    Cors::new()
        .allow_origins(settings.allowed_origins.iter().map(String::as_str))
        .allow_credentials(settings.allow_credentials)
        .allow_methods(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .allow_headers([
            "authorization",
            "content-type",
            "idempotency-key",
            "if-match",
            "if-none-match",
            "x-request-id",
        ])
        .expose_headers([
            "x-request-id",
            "retry-after",
            "etag",
            "x-cache",
            "idempotent-replayed",
        ])
        .max_age(600)
}

/// The whole HTTP application of one instance.
pub fn routes(state: SharedState) -> impl poem::Endpoint<Output = poem::Response> {
    let api = openapi_service();
    let spec = api.spec_endpoint();
    let cors_settings = state.settings.cors.clone();
    let route = Route::new()
        .at("/openapi.json", spec)
        .at("/docs", docs::docs_root)
        .at("/docs/", docs::docs_index)
        .at("/docs/*path", docs::docs_asset)
        .at("/metrics", docs::metrics)
        .nest("/", api);
    // Errors are rendered in the one shape *inside* the CORS layer: poem's CORS code
    // turns an error reaching it into text of its own (`authorization error`), which
    // every browser request (it carries `Origin`) would get instead. What CORS itself
    // refuses is reshaped by `RequestContext` on the way out.
    // No configured origin means no CORS at all, never "any origin".
    route
        .catch_all_error(error::render)
        .with_if(
            !cors_settings.allowed_origins.is_empty(),
            cors(&cors_settings),
        )
        .data(state.clone())
        .catch_all_error(error::render)
        .with(RequestContext::new(state))
}
