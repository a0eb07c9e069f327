use std::time::Duration;

use poem::http::{StatusCode, header};
use serde_json::json;

use super::{AuthError, Limit};
use crate::error::ApiError;

fn headers(api: &ApiError) -> Vec<(String, String)> {
    api.headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.clone()))
        .collect()
}

#[test]
fn a_limit_answers_429_with_retry_after_rounded_up() {
    let api = ApiError::from(AuthError::RateLimited {
        limit: Limit::CodeCooldown,
        retry_after: Duration::from_millis(1500),
    });
    assert_eq!(api.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(api.code, "OTP_COOLDOWN");
    assert_eq!(
        api.message,
        "a code was sent recently; wait before asking for another"
    );
    assert_eq!(api.details, json!({ "retry_after_seconds": 2 }));
    assert_eq!(
        headers(&api),
        vec![(header::RETRY_AFTER.as_str().to_owned(), "2".to_owned())]
    );
}

#[test]
fn a_dead_code_says_so_and_counts_no_tries_left() {
    let api = ApiError::from(AuthError::OtpInvalid { remaining: 0 });
    assert_eq!(
        (api.status, api.code),
        (StatusCode::UNAUTHORIZED, "OTP_INVALID")
    );
    assert_eq!(
        api.message,
        "wrong code; it is now invalid, request a new one"
    );
    assert_eq!(
        api.details,
        json!({ "field": "otp", "remaining_attempts": 0 })
    );
    assert!(api.headers.is_empty());
    let api = ApiError::from(AuthError::OtpInvalid { remaining: 3 });
    assert_eq!(api.message, "wrong code");
}

#[test]
fn each_refusal_keeps_its_status_and_code() {
    let cases = [
        (
            AuthError::OtpNotFound,
            StatusCode::BAD_REQUEST,
            "OTP_NOT_FOUND",
        ),
        (
            AuthError::InvalidCredentials,
            StatusCode::UNAUTHORIZED,
            "INVALID_CREDENTIALS",
        ),
        (
            AuthError::WrongCurrentPassword,
            StatusCode::UNAUTHORIZED,
            "INVALID_CREDENTIALS",
        ),
        (
            AuthError::EmailNotVerified,
            StatusCode::FORBIDDEN,
            "EMAIL_NOT_VERIFIED",
        ),
        (AuthError::UserNotFound, StatusCode::NOT_FOUND, "NOT_FOUND"),
        (AuthError::OwnRole, StatusCode::CONFLICT, "OWN_ROLE"),
        (
            AuthError::InvalidRefreshToken,
            StatusCode::UNAUTHORIZED,
            "INVALID_REFRESH_TOKEN",
        ),
        (
            AuthError::RefreshTokenRotated,
            StatusCode::UNAUTHORIZED,
            "REFRESH_TOKEN_ROTATED",
        ),
        (
            AuthError::RefreshTokenReused,
            StatusCode::UNAUTHORIZED,
            "REFRESH_TOKEN_REUSED",
        ),
    ];
    for (err, status, code) in cases {
        let api = ApiError::from(err);
        assert_eq!((api.status, api.code), (status, code));
    }
}

#[test]
fn the_session_store_down_is_a_503_with_retry_after() {
    let api = ApiError::from(AuthError::Unavailable("the session store"));
    assert_eq!(api.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(api.code, "SERVICE_UNAVAILABLE");
    assert_eq!(
        api.message,
        "the session store is unavailable, try again shortly"
    );
    assert_eq!(
        headers(&api),
        vec![("retry-after".to_owned(), "1".to_owned())]
    );
}
