//! The one error shape of the API.
//!
//! Every error a client sees, from a handler, from request parsing, from routing (404,
//! 405) or from a body limit (413), is rendered as [`ErrorBody`]:
//! `{"success": false, "error": "<STABLE_CODE>", "message": "...", "statusCode": 400,
//! "details": {...}}`. Internal causes are logged once, when the response is made,
//! and never sent. Database constraint violations become client errors naming the
//! constraint (`db`); routing and parsing errors are reshaped by `render`.

mod db;
mod outcomes;
mod render;

pub use db::{constraint_violation, database_unavailable};
pub use outcomes::{Failure, Outcomes};
pub use render::render;

use poem::{
    IntoResponse, Response,
    error::ResponseError,
    http::{StatusCode, header},
};
use poem_openapi::{
    ApiResponse, Object,
    registry::{MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::Type,
};
use serde_json::{Value, json};

/// The body of every error response.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ErrorBody {
    /// Always `false`.
    pub success: bool,
    /// A stable machine-readable code such as `VALIDATION_ERROR`.
    pub error: String,
    /// A human-readable explanation.
    pub message: String,
    /// The HTTP status, repeated for clients that lose it.
    #[oai(rename = "statusCode")]
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    /// Structured details: the field at fault, the product, the failed check.
    pub details: Value,
}

/// An error answered to the client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Message for humans.
    pub message: String,
    /// Details object.
    pub details: Value,
    /// Extra headers such as `Retry-After`.
    pub headers: Vec<(header::HeaderName, String)>,
    /// What went wrong inside, for a 5xx: logged once when the response is made
    /// (where the error is handled), never sent.
    cause: Option<std::sync::Arc<str>>,
}

impl ApiError {
    /// A new error with empty details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: json!({}),
            headers: Vec::new(),
            cause: None,
        }
    }

    /// Sets the details object.
    #[must_use]
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// Adds a response header.
    #[must_use]
    pub fn with_header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// 400 naming the field at fault.
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            format!("{field}: {message}"),
        )
        .with_details(json!({ "field": field, "problem": message }))
    }

    /// 404 for a resource.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("{what} not found"),
        )
    }

    /// 500 whose cause is logged when the response is made and never sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut error = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "internal server error",
        );
        error.cause = Some(cause.to_string().into());
        error
    }

    /// 503 when a dependency is down.
    pub fn unavailable(what: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            format!("{what} is unavailable, try again shortly"),
        )
        .with_header(header::RETRY_AFTER, "1")
    }

    /// The body this error is sent with, as JSON (the one error shape).
    pub fn body_json(&self) -> Value {
        serde_json::to_value(self.body()).unwrap_or_default()
    }

    fn body(&self) -> ErrorBody {
        ErrorBody {
            success: false,
            error: self.code.to_owned(),
            message: self.message.clone(),
            status_code: self.status.as_u16(),
            details: self.details.clone(),
        }
    }
}

impl ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        if let Some(cause) = &self.cause {
            tracing::error!(error = %cause, code = self.code, "internal error");
        }
        let mut builder = Response::builder()
            .status(self.status)
            .content_type("application/json; charset=utf-8");
        for (name, value) in &self.headers {
            builder = builder.header(name.clone(), value.clone());
        }
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        builder.body(body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.as_response()
    }
}

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        let content = || {
            vec![MetaMediaType {
                content_type: "application/json; charset=utf-8",
                schema: ErrorBody::schema_ref(),
            }]
        };
        MetaResponses {
            responses: vec![
                MetaResponse {
                    description: "Any other client error, in the one error shape. Any operation \
                        may answer `INVALID_BODY`, `INVALID_PARAMETER`, `INVALID_MULTIPART`, \
                        `VALIDATION_ERROR` (400, the field at fault in `details`), \
                        `BAD_REQUEST` (400), `NOT_FOUND` (404, no such route), \
                        `METHOD_NOT_ALLOWED` (405), `FORBIDDEN` (403, a browser origin CORS \
                        refuses), `LENGTH_REQUIRED` (411), `PAYLOAD_TOO_LARGE` (413), \
                        `UNSUPPORTED_MEDIA_TYPE` (415), `TOO_MANY_REQUESTS` (429, the \
                        balancer's rate limit), `ALREADY_EXISTS` or `REFERENCE_CONFLICT` (409) \
                        and `CONSTRAINT_VIOLATION` (422, naming the database constraint), \
                        `REQUEST_ERROR` (any other 4xx)",
                    status: None,
                    status_range: Some("4XX".to_owned()),
                    content: content(),
                    headers: vec![],
                },
                MetaResponse {
                    description: "Server error (`INTERNAL_ERROR`, 500; the cause is logged, \
                        never sent) or a dependency down (`SERVICE_UNAVAILABLE`, 503, with \
                        `Retry-After`), in the one error shape",
                    status: None,
                    status_range: Some("5XX".to_owned()),
                    content: content(),
                    headers: vec![],
                },
            ],
        }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

/// 413 in the error shape, naming the limit of the route.
pub fn payload_too_large(limit_bytes: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        format!("the request body is larger than this endpoint accepts ({limit_bytes} bytes)"),
    )
    .with_details(json!({ "limit_bytes": limit_bytes }))
}

#[cfg(test)]
mod tests;
