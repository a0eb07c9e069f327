//! The one error shape of the API.
//!
//! Every error a client sees, from a handler, from request parsing, from routing (404,
//! 405) or from a body limit (413), is rendered as [`ErrorBody`]:
//! `{"success": false, "error": "<STABLE_CODE>", "message": "...", "statusCode": 400,
//! "details": {...}}`. Internal causes are logged once, here, and never sent.

use poem::{
    Error, IntoResponse, Response,
    error::{MethodNotAllowedError, NotFoundError, ReadBodyError, ResponseError},
    http::{StatusCode, header},
};
use poem_openapi::{
    ApiResponse, Object,
    error::{
        AuthorizationError, ContentTypeError, ParseMultipartError, ParseParamError, ParsePathError,
        ParseRequestPayloadError,
    },
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

    /// 500 whose cause is logged here and never sent to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "internal server error",
        )
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

/// Whether `err` says the database could not be reached or dropped the connection
/// (a restart, a failover), rather than that the statement was wrong: the request
/// may succeed if tried again shortly.
pub fn database_unavailable(err: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr, SqlxError};
    let sqlx = match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx.as_ref() {
        SqlxError::Io(_)
        | SqlxError::Tls(_)
        | SqlxError::Protocol(_)
        | SqlxError::PoolTimedOut
        | SqlxError::PoolClosed
        | SqlxError::WorkerCrashed
        | SqlxError::BeginFailed => true,
        // 08: connection exception; 57P: the server is shutting down or restarting
        // (`terminating connection due to administrator command`, `the database
        // system is starting up`).
        SqlxError::Database(e) => e
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        if database_unavailable(&err) {
            tracing::warn!(error = %err, "database unavailable");
            Self::unavailable("the database")
        } else {
            Self::internal(err)
        }
    }
}

impl ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
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
                    description: "Client error, in the one error shape",
                    status: None,
                    status_range: Some("4XX".to_owned()),
                    content: content(),
                    headers: vec![],
                },
                MetaResponse {
                    description: "Server error or a dependency down, in the one error shape",
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

/// Turns any error escaping the routes into the one error shape.
pub async fn render(err: Error) -> Response {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return api.as_response();
    }
    to_api_error(&err).as_response()
}

fn to_api_error(err: &Error) -> ApiError {
    let status = err.status();
    if err.is::<NotFoundError>() {
        return ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route");
    }
    if err.is::<MethodNotAllowedError>() {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "method not allowed on this route",
        );
    }
    if matches!(
        err.downcast_ref::<ReadBodyError>(),
        Some(ReadBodyError::PayloadTooLarge)
    ) || status == StatusCode::PAYLOAD_TOO_LARGE
    {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "the request body is larger than this endpoint accepts",
        );
    }
    if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            format!("the request body is not valid: {}", e.reason),
        )
        .with_details(json!({ "reason": e.reason }));
    }
    if let Some(e) = err.downcast_ref::<ParseParamError>() {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            format!("parameter `{}`: {}", e.name, e.reason),
        )
        .with_details(json!({ "field": e.name, "problem": e.reason }));
    }
    if let Some(e) = err.downcast_ref::<ParsePathError>() {
        // poem-openapi names path parameters internally (`param0`): report the path.
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            format!("a path parameter is not valid: {}", e.reason),
        )
        .with_details(json!({ "field": "path", "problem": e.reason }));
    }
    if let Some(e) = err.downcast_ref::<ParseMultipartError>() {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_MULTIPART",
            format!("the multipart body is not valid: {}", e.reason),
        );
    }
    if let Some(e) = err.downcast_ref::<ContentTypeError>() {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            e.to_string(),
        );
    }
    if err.is::<AuthorizationError>() {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "a valid Bearer token is required",
        )
        .with_header(header::WWW_AUTHENTICATE, "Bearer");
    }
    if status.is_server_error() {
        return ApiError::internal(err);
    }
    let code = match status {
        StatusCode::BAD_REQUEST => "BAD_REQUEST",
        StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
        StatusCode::FORBIDDEN => "FORBIDDEN",
        StatusCode::LENGTH_REQUIRED => "LENGTH_REQUIRED",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        _ => "REQUEST_ERROR",
    };
    ApiError::new(status, code, err.to_string())
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
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unknown_route_renders_as_not_found_in_the_error_shape() {
        let resp = render(NotFoundError.into()).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let body: Value =
            serde_json::from_slice(&resp.into_body().into_vec().await.unwrap_or_default())
                .unwrap_or_default();
        assert_eq!(body["success"], false);
        assert_eq!(body["error"], "NOT_FOUND");
        assert_eq!(body["statusCode"], 404);
        assert!(body["details"].is_object());
    }

    #[tokio::test]
    async fn an_internal_error_never_reveals_its_cause() {
        let resp = ApiError::internal("password=hunter2 leaked").into_response();
        let text = resp.into_body().into_string().await.unwrap_or_default();
        assert!(!text.contains("hunter2"));
        assert!(text.contains("INTERNAL_ERROR"));
    }
}
