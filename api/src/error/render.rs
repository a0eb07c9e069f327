//! Errors that escape the routes (routing, body limits, parsing, poem's own) in the
//! one error shape.

use poem::{
    Error, Response,
    error::{MethodNotAllowedError, NotFoundError, ReadBodyError, ResponseError},
    http::{StatusCode, header},
};
use poem_openapi::error::{
    AuthorizationError, ContentTypeError, ParseMultipartError, ParseParamError, ParsePathError,
    ParseRequestPayloadError,
};
use serde_json::json;

use super::ApiError;

/// Turns any error escaping the routes into the one error shape.
pub async fn render(err: Error) -> Response {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return api.as_response();
    }
    to_api_error(&err).as_response()
}

fn to_api_error(err: &Error) -> ApiError {
    if let Some(api) = routing_error(err).or_else(|| parse_error(err)) {
        return api;
    }
    if err.is::<AuthorizationError>() {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "a valid Bearer token is required",
        )
        .with_header(header::WWW_AUTHENTICATE, "Bearer");
    }
    let status = err.status();
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

/// No such route, a method it does not take, a body over its limit.
fn routing_error(err: &Error) -> Option<ApiError> {
    if err.is::<NotFoundError>() {
        return Some(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no such route",
        ));
    }
    if err.is::<MethodNotAllowedError>() {
        return Some(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "method not allowed on this route",
        ));
    }
    if matches!(
        err.downcast_ref::<ReadBodyError>(),
        Some(ReadBodyError::PayloadTooLarge)
    ) || err.status() == StatusCode::PAYLOAD_TOO_LARGE
    {
        return Some(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "the request body is larger than this endpoint accepts",
        ));
    }
    None
}

/// A body, parameter, path, multipart form or content type that does not parse.
fn parse_error(err: &Error) -> Option<ApiError> {
    if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
        return Some(
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_BODY",
                format!("the request body is not valid: {}", e.reason),
            )
            .with_details(json!({ "reason": e.reason })),
        );
    }
    if let Some(e) = err.downcast_ref::<ParseParamError>() {
        return Some(
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER",
                format!("parameter `{}`: {}", e.name, e.reason),
            )
            .with_details(json!({ "field": e.name, "problem": e.reason })),
        );
    }
    if let Some(e) = err.downcast_ref::<ParsePathError>() {
        // poem-openapi names path parameters internally (`param0`): report the path.
        return Some(
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER",
                format!("a path parameter is not valid: {}", e.reason),
            )
            .with_details(json!({ "field": "path", "problem": e.reason })),
        );
    }
    if let Some(e) = err.downcast_ref::<ParseMultipartError>() {
        return Some(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_MULTIPART",
            format!("the multipart body is not valid: {}", e.reason),
        ));
    }
    err.downcast_ref::<ContentTypeError>().map(|e| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            e.to_string(),
        )
    })
}
