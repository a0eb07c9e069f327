//! What can go wrong with the address book, as values; the one mapping to the API's
//! error shape is [`From<AddressError> for ApiError`].

use poem::http::StatusCode;
use sea_orm::DbErr;
use serde_json::json;

use super::model::MAX_ADDRESSES;
use crate::error::ApiError;

/// A refusal of an address-book operation.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    /// A field is malformed (400 `VALIDATION_ERROR` naming it).
    #[error("{field}: {problem}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The customer holds [`MAX_ADDRESSES`] already (409 `ADDRESS_BOOK_FULL`).
    #[error("the address book is full")]
    BookFull,
    /// No such address of this customer (404).
    #[error("address not found")]
    UnknownAddress,
    /// The customer's account is gone (404).
    #[error("user not found")]
    UnknownUser,
    /// The database failed (503 when unreachable, else 500).
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl AddressError {
    /// A malformed `field`.
    pub fn invalid(field: &'static str, problem: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            problem: problem.into(),
        }
    }
}

impl From<AddressError> for ApiError {
    fn from(err: AddressError) -> Self {
        use AddressError as E;
        match err {
            E::Invalid { field, problem } => ApiError::validation(field, problem),
            E::BookFull => ApiError::new(
                StatusCode::CONFLICT,
                "ADDRESS_BOOK_FULL",
                format!(
                    "an address book holds at most {MAX_ADDRESSES} addresses; delete one first"
                ),
            )
            .with_details(json!({ "max_addresses": MAX_ADDRESSES })),
            E::UnknownAddress => ApiError::not_found("address"),
            E::UnknownUser => ApiError::not_found("user"),
            E::Db(e) => ApiError::from(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_book_is_409_address_book_full_with_the_limit() {
        let e = ApiError::from(AddressError::BookFull);
        assert_eq!(e.status.as_u16(), 409);
        assert_eq!(e.code, "ADDRESS_BOOK_FULL");
        assert_eq!(e.details, json!({ "max_addresses": 20 }));
    }

    #[test]
    fn a_bad_field_is_a_validation_error_naming_it() {
        let e = ApiError::from(AddressError::invalid("country", "unknown"));
        assert_eq!(e.code, "VALIDATION_ERROR");
        assert_eq!(e.details["field"], "country");
    }
}
