//! Database errors: an outage is a 503 the client may retry; a violated constraint
//! is the client's mistake (a duplicate, a reference to nothing, a value out of
//! range) and becomes a 409 or 422 naming the constraint; anything else is a 500.

use poem::http::StatusCode;
use serde_json::json;

use super::ApiError;

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

/// A violated constraint as a client error: 409 for a duplicate (`23505`) or a
/// reference to something that does not exist or is still referenced (`23503`), 422
/// for a value a check refused (`23514`). `None` for any other error, a missing value
/// (`23502`) among them: the server fills every column, so that is a bug (500).
pub fn constraint_violation(err: &sea_orm::DbErr) -> Option<ApiError> {
    use sea_orm::{DbErr, RuntimeErr, SqlxError};
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return None;
    };
    let SqlxError::Database(e) = e.as_ref() else {
        return None;
    };
    let constraint = e.constraint().unwrap_or("unnamed");
    if e.code().as_deref() == Some("23503") && constraint == "products_category_fk" {
        // A product written into a category deleted meanwhile (the category's
        // delete counts products under a lock, so it never fails on this key).
        return Some(
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "UNKNOWN_CATEGORY",
                "category: no such category (it was deleted meanwhile)",
            )
            .with_details(json!({ "field": "category", "constraint": constraint })),
        );
    }
    let (status, code, message) = match e.code().as_deref() {
        Some("23505") => (
            StatusCode::CONFLICT,
            "ALREADY_EXISTS",
            "a record with these values already exists",
        ),
        Some("23503") => (
            StatusCode::CONFLICT,
            "REFERENCE_CONFLICT",
            "the record refers to one that does not exist, or is still referred to",
        ),
        Some("23514") => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "CONSTRAINT_VIOLATION",
            "a value is outside what the shop accepts",
        ),
        _ => return None,
    };
    // Logged: a violation the validation let through says either that two writers
    // raced (the client may retry) or that a rule is missing in front of the schema.
    tracing::warn!(constraint, error = %e, "a database constraint refused a write");
    Some(
        ApiError::new(status, code, format!("{message} ({constraint})"))
            .with_details(json!({ "constraint": constraint })),
    )
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        if database_unavailable(&err) {
            tracing::warn!(error = %err, "database unavailable");
            Self::unavailable("the database")
        } else if let Some(client_error) = constraint_violation(&err) {
            client_error
        } else {
            Self::internal(err)
        }
    }
}
