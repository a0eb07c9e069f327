//! The outermost layer of every request: request id, body size limit, request log
//! (errors, slow and sampled requests only: see [`request_log_level`]), metrics and
//! security headers.
//!
//! Invariants: every response, errors included, carries `X-Request-Id`, and every log
//! line written while serving a request carries the same id in its span. Bodies are
//! bounded per route: the upload and bulk-import routes take `MAX_BODY_BYTES`, every
//! other (JSON) route `MAX_JSON_BODY_BYTES`, refused with 413 before more is read.
//! Every error leaves in the one JSON shape, whatever layer made it (poem's CORS
//! refusals, say). Metric labels come from closed sets: the matched operation id or
//! `unknown`, and a known method or `other`.

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use poem::{
    Body, Endpoint, IntoResponse, Middleware, Request, Response,
    http::{HeaderValue, Method, StatusCode, header},
};
use poem_openapi::OperationId;
use tracing::Instrument;

use crate::{configuration::RequestLogSettings, db_statements, error, state::AppState};

/// The request id of the current request.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Header carrying the request id, in and out.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Middleware installing the request context.
pub struct RequestContext {
    state: Arc<AppState>,
}

impl RequestContext {
    /// The middleware over `state`.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

impl<E: Endpoint> Middleware<E> for RequestContext {
    type Output = RequestContextEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestContextEndpoint {
            inner,
            state: self.state.clone(),
        }
    }
}

/// The endpoint produced by [`RequestContext`].
pub struct RequestContextEndpoint<E> {
    inner: E,
    state: Arc<AppState>,
}

/// A client-supplied id is kept only if short and printable, so it cannot forge log
/// lines or bloat them.
fn accept_request_id(value: Option<&HeaderValue>) -> Option<String> {
    let value = value?.to_str().ok()?;
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| value.to_owned())
}

impl<E: Endpoint> Endpoint for RequestContextEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        let request_id = accept_request_id(req.headers().get(REQUEST_ID_HEADER))
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        req.set_data(RequestId(request_id.clone()));
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let span = tracing::info_span!("request", request_id = %request_id, method = %method, path = %path);
        let state = self.state.clone();

        async move {
            let started = Instant::now();
            state.metrics.in_flight.inc();
            let outcome = if takes_large_bodies(&path) {
                let admin = bearer_is_admin(&req, &state);
                limit_large_body(&mut req, state.settings.max_body_bytes, admin).await
            } else {
                limit_body(&mut req, state.settings.max_json_body_bytes).await
            };
            let (resp, statements) = db_statements::counted(async {
                match outcome {
                    Err(too_large) => too_large.into_response(),
                    Ok(()) => match self.inner.call(req).await {
                        Ok(resp) => resp.into_response(),
                        Err(err) => error::render(err).await,
                    },
                }
            })
            .await;
            state.metrics.in_flight.dec();
            state.requests_served.fetch_add(1, Ordering::Relaxed);

            let elapsed = started.elapsed();
            let operation = resp.data::<OperationId>().map_or("unknown", |op| op.0);
            let status = resp.status();
            let method_label = method_label(&method);
            state
                .metrics
                .http_requests
                .with_label_values(&[operation, method_label, status.as_str()])
                .inc();
            state
                .metrics
                .http_latency
                .with_label_values(&[operation, method_label])
                .observe(elapsed.as_secs_f64());
            state
                .metrics
                .db_statements
                .with_label_values(&[operation])
                .observe(f64::from(statements));
            let mut resp = json_errors(resp).await;
            let log = &state.settings.request_log;
            match request_log_level(status, elapsed, log, rand::random::<f64>) {
                Some(tracing::Level::WARN) => tracing::warn!(
                    status = status.as_u16(),
                    latency_ms = elapsed.as_secs_f64() * 1000.0,
                    operation,
                    "request served"
                ),
                Some(_) => tracing::info!(
                    status = status.as_u16(),
                    latency_ms = elapsed.as_secs_f64() * 1000.0,
                    operation,
                    "request served"
                ),
                None => {}
            }
            set_headers(&mut resp, &request_id, &path);
            Ok(resp)
        }
        .instrument(span)
        .await
    }
}

/// Whether the request line of a response with `status`, served in `elapsed`, is
/// logged, and at which level. nginx's access log already has every request (id,
/// status, upstream timings); the instance adds a line only for what needs a look:
/// 5xx and slow requests at `warn`, 4xx at `info` (as before), and otherwise a
/// sample (`LOG_REQUEST_SAMPLE_RATE`; `1` logs every request) at `info`. `sample`
/// draws a number in `[0, 1)`, called only when the sample decides.
pub fn request_log_level(
    status: StatusCode,
    elapsed: Duration,
    settings: &RequestLogSettings,
    sample: impl FnOnce() -> f64,
) -> Option<tracing::Level> {
    if status.is_server_error() || elapsed >= settings.slow {
        Some(tracing::Level::WARN)
    } else if status.is_client_error()
        || settings.sample_rate >= 1.0
        || (settings.sample_rate > 0.0 && sample() < settings.sample_rate)
    {
        Some(tracing::Level::INFO)
    } else {
        None
    }
}

/// The routes that take files: multipart uploads and bulk imports.
const LARGE_BODY_ROUTES: &[&str] = &[
    "/api/admin/products/upload",
    "/api/admin/products/bulk",
    "/upload-product",
];

fn takes_large_bodies(path: &str) -> bool {
    LARGE_BODY_ROUTES.contains(&path.trim_end_matches('/'))
}

/// The metric label of `method`: one of a fixed set, so made-up methods cannot grow it.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// An error response that is not JSON (a layer outside the routes made it) is
/// answered in the one error shape, with its status and headers kept.
async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = body.into_string().await.unwrap_or_default();
    let code = match status.as_u16() {
        400 => "BAD_REQUEST",
        401 => "UNAUTHORIZED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        405 => "METHOD_NOT_ALLOWED",
        413 => "PAYLOAD_TOO_LARGE",
        415 => "UNSUPPORTED_MEDIA_TYPE",
        429 => "TOO_MANY_REQUESTS",
        s if s >= 500 => "INTERNAL_ERROR",
        _ => "REQUEST_ERROR",
    };
    let message = if text.trim().is_empty() || status.is_server_error() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text.trim().chars().take(200).collect()
    };
    let body = error::ApiError::new(status, code, message).body_json();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from_json(body).unwrap_or_default())
}

/// Whether `req` carries a validly signed, unexpired admin access token. A cheap
/// first look (no Redis): only such a request gets a large body buffered; the route's
/// `AdminAuth` still decides.
fn bearer_is_admin(req: &Request, state: &AppState) -> Option<bool> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|token| state.auth.keys.verify(token.trim()).ok())
        .map(|claims| claims.role == "admin")
}

/// The upload and import routes: a body over `max` is 413 by its declared length
/// before anything is read. For an admin the body is read whole (the route needs it
/// anyway); anyone else's is read and thrown away as it arrives, so an anonymous
/// client cannot make an instance hold 25 MiB, and is answered 401 only once it has
/// been consumed (a proxy still sending it would otherwise see the connection close
/// and answer 502).
async fn limit_large_body(
    req: &mut Request,
    max: usize,
    admin: Option<bool>,
) -> Result<(), error::ApiError> {
    if admin == Some(true) || matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
    {
        return limit_body(req, max).await;
    }
    if declared_length(req).is_some_and(|len| len > max as u64) {
        return Err(error::payload_too_large(max));
    }
    let mut stream = std::pin::pin!(req.take_body().into_bytes_stream());
    let mut read = 0usize;
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        let Ok(chunk) = chunk else { break };
        read += chunk.len();
        if read > max {
            return Err(error::payload_too_large(max));
        }
    }
    Err(match admin {
        Some(_) => error::ApiError::new(
            poem::http::StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "this route needs an admin",
        ),
        None => error::ApiError::new(
            poem::http::StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "a valid Bearer token is required",
        )
        .with_header(header::WWW_AUTHENTICATE, "Bearer"),
    })
}

fn declared_length(req: &Request) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Rejects bodies over `max` bytes with 413: by `Content-Length` when given, before
/// reading anything, otherwise by reading at most `max` bytes. A body within the limit
/// is read whole here, so it is consumed even when the handler answers without it: a
/// proxy still sending it would otherwise see the connection close and answer 502.
async fn limit_body(req: &mut Request, max: usize) -> Result<(), error::ApiError> {
    match declared_length(req) {
        Some(len) if len > max as u64 => return Err(error::payload_too_large(max)),
        Some(0) => return Ok(()),
        None if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) => {
            return Ok(());
        }
        _ => {}
    }
    let body = req.take_body();
    match body.into_bytes_limit(max).await {
        Ok(bytes) => {
            req.set_body(Body::from_bytes(bytes));
            Ok(())
        }
        Err(poem::error::ReadBodyError::PayloadTooLarge) => Err(error::payload_too_large(max)),
        Err(e) => Err(error::ApiError::new(
            poem::http::StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            format!("the request body could not be read: {e}"),
        )),
    }
}

fn set_headers(resp: &mut Response, request_id: &str, path: &str) {
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    // The Swagger UI needs its own scripts and styles; everything else is data.
    if !path.starts_with("/docs") {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{accept_request_id, method_label, request_log_level, takes_large_bodies};
    use crate::configuration::RequestLogSettings;
    use poem::http::{HeaderValue, Method, StatusCode};
    use tracing::Level;

    fn log(slow_ms: u64, sample_rate: f64) -> RequestLogSettings {
        RequestLogSettings {
            slow: Duration::from_millis(slow_ms),
            sample_rate,
        }
    }

    #[test]
    fn only_errors_slow_and_sampled_requests_are_logged() {
        let quiet = log(500, 0.0);
        let fast = Duration::from_millis(3);
        let never = || -> f64 { panic!("no sample is drawn at rate 0") };
        assert_eq!(request_log_level(StatusCode::OK, fast, &quiet, never), None);
        assert_eq!(
            request_log_level(StatusCode::NOT_MODIFIED, fast, &quiet, never),
            None
        );
        assert_eq!(
            request_log_level(StatusCode::INTERNAL_SERVER_ERROR, fast, &quiet, never),
            Some(Level::WARN)
        );
        assert_eq!(
            request_log_level(StatusCode::SERVICE_UNAVAILABLE, fast, &quiet, never),
            Some(Level::WARN)
        );
        assert_eq!(
            request_log_level(StatusCode::NOT_FOUND, fast, &quiet, never),
            Some(Level::INFO)
        );
        assert_eq!(
            request_log_level(StatusCode::TOO_MANY_REQUESTS, fast, &quiet, never),
            Some(Level::INFO)
        );
        assert_eq!(
            request_log_level(StatusCode::OK, Duration::from_millis(500), &quiet, never),
            Some(Level::WARN),
            "slow: at the threshold"
        );
        assert_eq!(
            request_log_level(StatusCode::OK, Duration::from_millis(499), &quiet, never),
            None
        );
    }

    #[test]
    fn the_sample_rate_decides_the_rest_and_one_logs_everything() {
        let fast = Duration::from_millis(3);
        let all = log(500, 1.0);
        let never = || -> f64 { panic!("rate 1 logs without drawing") };
        assert_eq!(
            request_log_level(StatusCode::OK, fast, &all, never),
            Some(Level::INFO)
        );
        let some = log(500, 0.25);
        assert_eq!(
            request_log_level(StatusCode::OK, fast, &some, || 0.1),
            Some(Level::INFO)
        );
        assert_eq!(
            request_log_level(StatusCode::OK, fast, &some, || 0.25),
            None
        );
        assert_eq!(request_log_level(StatusCode::OK, fast, &some, || 0.9), None);
    }

    #[test]
    fn only_the_upload_and_import_routes_take_large_bodies() {
        assert!(takes_large_bodies("/api/admin/products/upload"));
        assert!(takes_large_bodies("/api/admin/products/bulk"));
        assert!(takes_large_bodies("/upload-product"));
        assert!(!takes_large_bodies("/api/auth/login"));
        assert!(!takes_large_bodies("/api/orders"));
        assert!(!takes_large_bodies("/api/admin/products"));
    }

    #[test]
    fn made_up_methods_share_one_metric_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        let odd = Method::from_bytes(b"FROBNICATE").unwrap_or(Method::GET);
        assert_eq!(method_label(&odd), "other");
    }

    #[test]
    fn a_printable_request_id_from_the_proxy_is_kept() {
        let v = HeaderValue::from_static("4f1c2b9e-aa01");
        assert_eq!(
            accept_request_id(Some(&v)).as_deref(),
            Some("4f1c2b9e-aa01")
        );
    }

    #[test]
    fn a_request_id_that_could_forge_log_lines_is_replaced() {
        let v = HeaderValue::from_static("abc\"} {\"level\":\"ERROR");
        assert_eq!(accept_request_id(Some(&v)), None);
        let long = HeaderValue::from_str(&"a".repeat(200)).ok();
        assert_eq!(accept_request_id(long.as_ref()), None);
    }
}
