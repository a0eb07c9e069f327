//! The failures an operation documents, so that a client generator sees them.
//!
//! A handler returns `Result<_, Failure<O>>`: at run time a [`Failure`] is the
//! [`ApiError`] inside it (rendered in the one shape, nothing else changes), and in
//! the spec it lists every status of `O` with the stable codes it carries, beside the
//! catch-all `4XX`/`5XX` ranges (whose descriptions name the codes any operation may
//! get: a malformed body, a limit, a dependency down). `?` converts whatever converts
//! to an [`ApiError`].

use std::{fmt, marker::PhantomData};

use poem_openapi::{
    ApiResponse,
    registry::{MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::Type,
};

use super::{ApiError, ErrorBody};

/// The failures one operation documents: `(status, description)` pairs, the
/// description naming each code, e.g. ``"`CART_EMPTY`: the cart is empty"``.
pub trait Outcomes: Send + Sync + 'static {
    /// Every documented failure status with its codes.
    const FAILURES: &'static [(u16, &'static str)];
}

/// An [`ApiError`] answered by an operation that documents the outcomes `O`.
pub struct Failure<O>(pub ApiError, PhantomData<O>);

impl<O> fmt::Debug for Failure<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<O, E: Into<ApiError>> From<E> for Failure<O> {
    fn from(error: E) -> Self {
        Self(error.into(), PhantomData)
    }
}

impl<O> From<Failure<O>> for poem::Error {
    fn from(failure: Failure<O>) -> Self {
        failure.0.into()
    }
}

/// The error shape's media type, as every error response has it.
pub(super) fn error_content() -> Vec<MetaMediaType> {
    vec![MetaMediaType {
        content_type: "application/json; charset=utf-8",
        schema: ErrorBody::schema_ref(),
    }]
}

impl<O: Outcomes> ApiResponse for Failure<O> {
    fn meta() -> MetaResponses {
        let mut responses: Vec<MetaResponse> = O::FAILURES
            .iter()
            .map(|(status, description)| MetaResponse {
                description,
                status: Some(*status),
                status_range: None,
                content: error_content(),
                headers: vec![],
            })
            .collect();
        responses.extend(ApiError::meta().responses);
        MetaResponses { responses }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

/// Declares the documented failures of an operation:
/// `outcomes!(pub PlaceOrder: "what it is", 409 => "`INSUFFICIENT_STOCK`: ...");`
#[macro_export]
macro_rules! outcomes {
    ($(#[$doc:meta])* $vis:vis $name:ident { $($status:literal => $text:expr),+ $(,)? }) => {
        $(#[$doc])*
        $vis struct $name;
        impl $crate::error::Outcomes for $name {
            const FAILURES: &'static [(u16, &'static str)] = &[$(($status, $text)),+];
        }
    };
}
