//! Prometheus metrics of one process.
//!
//! Labels stay low-cardinality: the OpenAPI operation id, never a raw path.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Buckets of SQL statements per request.
const STATEMENT_BUCKETS: &[f64] = &[
    0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 50.0, 100.0,
];

/// Latency buckets in seconds, dense around the 200 ms login target.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0,
];

/// The metrics of one API instance.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests answered, by operation, method and status.
    pub http_requests: IntCounterVec,
    /// Request latency, by operation and method.
    pub http_latency: HistogramVec,
    /// Requests being served right now.
    pub in_flight: IntGauge,
    /// SQL statements run while serving one request, by operation
    /// (`db_statements`).
    pub db_statements: HistogramVec,
}

impl Metrics {
    /// Registers every metric under `shop_`.
    pub fn new(instance_id: &str) -> Result<Self, prometheus::Error> {
        let labels = std::iter::once(("instance_id".to_owned(), instance_id.to_owned())).collect();
        let registry = Registry::new_custom(Some("shop".into()), Some(labels))?;
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered"),
            &["operation", "method", "status"],
        )?;
        let http_latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["operation", "method"],
        )?;
        let in_flight = IntGauge::new("http_requests_in_flight", "HTTP requests being served")?;
        let db_statements = HistogramVec::new(
            HistogramOpts::new(
                "db_statements_per_request",
                "SQL statements run while serving one request (BEGIN and COMMIT aside)",
            )
            .buckets(STATEMENT_BUCKETS.to_vec()),
            &["operation"],
        )?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_latency.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(db_statements.clone()))?;
        Ok(Self {
            registry,
            http_requests,
            http_latency,
            in_flight,
            db_statements,
        })
    }

    /// Registers another collector (cache, outbox) with this registry.
    pub fn register(
        &self,
        collector: Box<dyn prometheus::core::Collector>,
    ) -> Result<(), prometheus::Error> {
        self.registry.register(collector)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(e) = encoder.encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
