//! What can go wrong with reviews, as values; the one mapping to the API's error
//! shape is [`From<ReviewError> for ApiError`].

use std::time::Duration;

use poem::http::{StatusCode, header};
use sea_orm::DbErr;
use serde_json::json;

use crate::{auth::throttle, error::ApiError};

/// A refusal of a review operation.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// A field is malformed (400 `VALIDATION_ERROR` naming it).
    #[error("{field}: {problem}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// No such product on sale (404).
    #[error("product not found")]
    UnknownProduct,
    /// No such review, or not one this caller may see (404).
    #[error("review not found")]
    UnknownReview,
    /// The author has no paid, shipped or delivered order of the product (403
    /// `REVIEW_NOT_VERIFIED_BUYER`).
    #[error("not a verified buyer")]
    NotVerifiedBuyer,
    /// The author reviewed this product before (409 `REVIEW_ALREADY_EXISTS`).
    #[error("already reviewed")]
    AlreadyReviewed,
    /// A vote on one's own review (403 `REVIEW_OWN_VOTE`).
    #[error("own review")]
    OwnReview,
    /// The review is not in a state this moderation starts from (409
    /// `REVIEW_STATE_CONFLICT` naming the state now).
    #[error("review is {current}")]
    StateConflict {
        /// Its state now.
        current: String,
    },
    /// Past the hourly limit of submissions; it frees up in `retry_after` (429
    /// `TOO_MANY_REVIEWS`).
    #[error("too many reviews, retry in {retry_after:?}")]
    RateLimited {
        /// Time left in the window.
        retry_after: Duration,
        /// The limit.
        limit: u64,
    },
    /// Redis, which counts the limit, is down (503).
    #[error("the rate limiter is unavailable")]
    LimiterUnavailable,
    /// The database failed (503 when unreachable, else 500).
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl ReviewError {
    /// A malformed `field`.
    pub fn invalid(field: &'static str, problem: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            problem: problem.into(),
        }
    }
}

impl From<ReviewError> for ApiError {
    fn from(err: ReviewError) -> Self {
        use ReviewError as E;
        match err {
            E::Invalid { field, problem } => ApiError::validation(field, problem),
            E::UnknownProduct => ApiError::not_found("product"),
            E::UnknownReview => ApiError::not_found("review"),
            E::NotVerifiedBuyer => ApiError::new(
                StatusCode::FORBIDDEN,
                "REVIEW_NOT_VERIFIED_BUYER",
                "only a customer with a paid, shipped or delivered order of this product \
                 may review it",
            ),
            E::AlreadyReviewed => ApiError::new(
                StatusCode::CONFLICT,
                "REVIEW_ALREADY_EXISTS",
                "you have reviewed this product already",
            ),
            E::OwnReview => ApiError::new(
                StatusCode::FORBIDDEN,
                "REVIEW_OWN_VOTE",
                "you cannot vote on your own review",
            ),
            E::StateConflict { current } => ApiError::new(
                StatusCode::CONFLICT,
                "REVIEW_STATE_CONFLICT",
                format!("the review is {current}; this moderation does not start there"),
            )
            .with_details(json!({ "current_status": current })),
            E::RateLimited { retry_after, limit } => {
                let secs = throttle::retry_after_secs(retry_after);
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TOO_MANY_REVIEWS",
                    format!("at most {limit} reviews an hour; try later"),
                )
                .with_details(json!({ "retry_after_seconds": secs, "limit_per_hour": limit }))
                .with_header(header::RETRY_AFTER, secs.to_string())
            }
            E::LimiterUnavailable => ApiError::unavailable("the rate limiter"),
            E::Db(e) => ApiError::from(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_is_429_with_retry_after() {
        let e = ApiError::from(ReviewError::RateLimited {
            retry_after: Duration::from_millis(1500),
            limit: 10,
        });
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.code, "TOO_MANY_REVIEWS");
        assert_eq!(e.headers, vec![(header::RETRY_AFTER, "2".to_owned())]);
    }

    #[test]
    fn a_state_conflict_names_the_state_now() {
        let e = ApiError::from(ReviewError::StateConflict {
            current: "approved".into(),
        });
        assert_eq!(e.status, StatusCode::CONFLICT);
        assert_eq!(e.details["current_status"], "approved");
    }
}
