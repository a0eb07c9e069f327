//! Why an auth use case refused, in the domain's words, and the one place that turns
//! it into an HTTP answer.
//!
//! Invariant: the use cases never build a status, a header or an [`ApiError`]; the
//! [`From<AuthError> for ApiError`](ApiError) below is the only mapping, and it gives
//! every refusal the status, stable code, message, details and headers clients
//! (and the end-to-end suite) know.

use std::time::Duration;

use poem::http::{StatusCode, header};
use serde_json::json;

use super::throttle;
use crate::error::ApiError;

/// Which limit refused a request (each has its own code and message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// A code of this purpose was sent to this address for this sender recently.
    CodeCooldown,
    /// The hourly codes of one address (for one sender).
    CodesPerEmail,
    /// The hourly codes asked by one sender.
    CodesPerAddress,
    /// The hourly wrong codes from one sender.
    WrongCodesPerAddress,
    /// The hourly wrong codes for one account.
    WrongCodesPerEmail,
    /// Failed logins of one account from one address.
    LoginsPerPair,
    /// Failed logins from one address.
    LoginsPerAddress,
    /// The account is under attack: guesses from unknown addresses wait.
    LoginsSlowed,
    /// Wrong current passwords on a password change (the login limits).
    PasswordChecks,
}

impl Limit {
    fn code_and_message(self) -> (&'static str, &'static str) {
        match self {
            Limit::CodeCooldown => (
                "OTP_COOLDOWN",
                "a code was sent recently; wait before asking for another",
            ),
            Limit::CodesPerEmail => (
                "TOO_MANY_REQUESTS",
                "too many codes requested for this e-mail; try later",
            ),
            Limit::CodesPerAddress => (
                "TOO_MANY_REQUESTS",
                "too many codes requested from this address; try later",
            ),
            Limit::WrongCodesPerAddress => (
                "TOO_MANY_REQUESTS",
                "too many wrong codes from this address; try later",
            ),
            Limit::WrongCodesPerEmail => (
                "TOO_MANY_REQUESTS",
                "too many wrong codes for this e-mail; try later",
            ),
            Limit::LoginsPerPair => (
                "TOO_MANY_LOGIN_ATTEMPTS",
                "too many failed logins for this account from this address; try later or reset the password",
            ),
            Limit::LoginsPerAddress => (
                "TOO_MANY_LOGIN_ATTEMPTS",
                "too many failed logins from this address; try later",
            ),
            Limit::LoginsSlowed => (
                "TOO_MANY_LOGIN_ATTEMPTS",
                "too many failed logins for this account; try again shortly or reset the password",
            ),
            Limit::PasswordChecks => (
                "TOO_MANY_LOGIN_ATTEMPTS",
                "too many wrong passwords; try later",
            ),
        }
    }
}

/// Why an auth use case did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A limit was reached; it frees up in `retry_after`.
    #[error("rate limited ({limit:?}) for {retry_after:?}")]
    RateLimited {
        /// The limit.
        limit: Limit,
        /// Time left in its window.
        retry_after: Duration,
    },
    /// No live code for this address (or this registration).
    #[error("no pending code")]
    OtpNotFound,
    /// A wrong code; `remaining` tries left on it (0: it is dead now).
    #[error("wrong code, {remaining} tries left")]
    OtpInvalid {
        /// Tries left.
        remaining: u32,
    },
    /// Unknown e-mail or wrong password (never told apart).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The current password given to a password change is wrong.
    #[error("wrong current password")]
    WrongCurrentPassword,
    /// The password was right but the address is not verified yet.
    #[error("e-mail not verified")]
    EmailNotVerified,
    /// The user does not exist (any more).
    #[error("user not found")]
    UserNotFound,
    /// An admin tried to change their own role.
    #[error("own role")]
    OwnRole,
    /// The refresh token is unknown, malformed, expired or of an ended session.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// The refresh token was rotated by a concurrent request just now.
    #[error("refresh token just rotated")]
    RefreshTokenRotated,
    /// A rotated or revoked refresh token came back: its session is revoked.
    #[error("refresh token reused")]
    RefreshTokenReused,
    /// A dependency is down (`what` names it for the client).
    #[error("{0} is unavailable")]
    Unavailable(&'static str),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
    /// Anything else (hashing, signing): logged, never shown.
    #[error(transparent)]
    Internal(anyhow::Error),
}

/// Logs a Redis failure and names the store that is down.
pub(crate) fn redis_down(e: redis::RedisError) -> AuthError {
    tracing::warn!(error = %e, "redis unavailable");
    AuthError::Unavailable("the session store")
}

fn too_many(limit: Limit, left: Duration) -> ApiError {
    let (code, message) = limit.code_and_message();
    let secs = throttle::retry_after_secs(left);
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message)
        .with_details(json!({ "retry_after_seconds": secs }))
        .with_header(header::RETRY_AFTER, secs.to_string())
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::RateLimited { limit, retry_after } => too_many(limit, retry_after),
            AuthError::OtpNotFound => ApiError::new(
                StatusCode::BAD_REQUEST,
                "OTP_NOT_FOUND",
                "no pending code for this e-mail; request a new one",
            ),
            AuthError::OtpInvalid { remaining } => {
                let message = if remaining == 0 {
                    "wrong code; it is now invalid, request a new one"
                } else {
                    "wrong code"
                };
                ApiError::new(StatusCode::UNAUTHORIZED, "OTP_INVALID", message)
                    .with_details(json!({ "field": "otp", "remaining_attempts": remaining }))
            }
            AuthError::InvalidCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_CREDENTIALS",
                "invalid e-mail or password",
            ),
            AuthError::WrongCurrentPassword => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_CREDENTIALS",
                "the current password is wrong",
            )
            .with_details(json!({ "field": "current_password" })),
            AuthError::EmailNotVerified => ApiError::new(
                StatusCode::FORBIDDEN,
                "EMAIL_NOT_VERIFIED",
                "verify your e-mail with the code we sent first",
            ),
            AuthError::UserNotFound => ApiError::not_found("user"),
            AuthError::OwnRole => ApiError::new(
                StatusCode::CONFLICT,
                "OWN_ROLE",
                "an admin cannot change their own role; ask another admin",
            ),
            AuthError::InvalidRefreshToken => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_REFRESH_TOKEN",
                "the refresh token is invalid or expired",
            ),
            AuthError::RefreshTokenRotated => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "REFRESH_TOKEN_ROTATED",
                "this refresh token was just rotated by another request; use the newest one",
            ),
            AuthError::RefreshTokenReused => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "REFRESH_TOKEN_REUSED",
                "this refresh token was already used; the session is revoked, log in again",
            ),
            AuthError::Unavailable(what) => ApiError::unavailable(what),
            AuthError::Database(e) => ApiError::from(e),
            AuthError::Internal(e) => ApiError::internal(e),
        }
    }
}

#[cfg(test)]
mod tests;
