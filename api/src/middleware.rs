//! The outermost layer of every request: request id, body size limit, access log,
//! metrics and security headers.
//!
//! Invariant: every response, errors included, carries `X-Request-Id`, and every log
//! line written while serving a request carries the same id in its span.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Instant,
};

use poem::{
    Body, Endpoint, IntoResponse, Middleware, Request, Response,
    http::{HeaderValue, Method, header},
};
use poem_openapi::OperationId;
use tracing::Instrument;

use crate::{error, state::AppState};

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
            let mut resp = match limit_body(&mut req, state.settings.max_body_bytes).await {
                Err(too_large) => too_large.into_response(),
                Ok(()) => match self.inner.call(req).await {
                    Ok(resp) => resp.into_response(),
                    Err(err) => error::render(err).await,
                },
            };
            state.metrics.in_flight.dec();
            state.requests_served.fetch_add(1, Ordering::Relaxed);

            let elapsed = started.elapsed();
            let operation = resp.data::<OperationId>().map_or("other", |op| op.0);
            let status = resp.status();
            state
                .metrics
                .http_requests
                .with_label_values(&[operation, method.as_str(), status.as_str()])
                .inc();
            state
                .metrics
                .http_latency
                .with_label_values(&[operation, method.as_str()])
                .observe(elapsed.as_secs_f64());
            tracing::info!(
                status = status.as_u16(),
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                operation,
                "request served"
            );
            set_headers(&mut resp, &request_id, &path);
            Ok(resp)
        }
        .instrument(span)
        .await
    }
}

/// Rejects bodies over `max` bytes with 413: by `Content-Length` when given, by reading
/// at most `max` bytes when the body is chunked.
async fn limit_body(req: &mut Request, max: usize) -> Result<(), error::ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > max as u64 => Err(error::payload_too_large()),
        Some(_) => Ok(()),
        None if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) => Ok(()),
        None => {
            let body = req.take_body();
            match body.into_bytes_limit(max).await {
                Ok(bytes) => {
                    req.set_body(Body::from_bytes(bytes));
                    Ok(())
                }
                Err(poem::error::ReadBodyError::PayloadTooLarge) => Err(error::payload_too_large()),
                Err(e) => Err(error::ApiError::new(
                    poem::http::StatusCode::BAD_REQUEST,
                    "INVALID_BODY",
                    format!("the request body could not be read: {e}"),
                )),
            }
        }
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
    use super::accept_request_id;
    use poem::http::HeaderValue;

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
