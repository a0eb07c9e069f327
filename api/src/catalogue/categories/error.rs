//! What a category operation can refuse, and its one mapping to the API's error
//! shape.

use poem::http::StatusCode;
use sea_orm::DbErr;
use serde_json::json;

use super::model::{MAX_CATEGORIES, MAX_DEPTH};
use crate::{
    catalogue::{error::CatalogueError, model::FieldError},
    error::ApiError,
};

/// A refusal or failure of a category operation.
#[derive(Debug, thiserror::Error)]
pub enum CategoryError {
    /// A field is malformed (400 `VALIDATION_ERROR` naming it).
    #[error("{field}: {problem}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// No such category (404).
    #[error("category not found")]
    NotFound,
    /// Another category has this slug (409 `SLUG_TAKEN`).
    #[error("slug {0} is taken")]
    SlugTaken(String),
    /// Another category has the code this slug derives (409 `CODE_TAKEN`).
    #[error("code {0} is taken")]
    CodeTaken(String),
    /// The parent does not exist (422 `UNKNOWN_PARENT`, field `parent_id`).
    #[error("no such parent")]
    UnknownParent,
    /// The move would put a category under itself or its own descendant (422
    /// `CATEGORY_CYCLE`, field `parent_id`).
    #[error("a category cannot be moved under itself or its descendants")]
    Cycle,
    /// The tree would be deeper than [`MAX_DEPTH`] (422 `CATEGORY_TOO_DEEP`).
    #[error("the tree would be deeper than {MAX_DEPTH}")]
    TooDeep,
    /// The shop holds [`MAX_CATEGORIES`] already (409 `CATEGORY_LIMIT`).
    #[error("at most {MAX_CATEGORIES} categories")]
    TooMany,
    /// The category still has products (409 `CATEGORY_NOT_EMPTY`).
    #[error("the category has {0} products")]
    NotEmpty(i64),
    /// The category still has children (409 `CATEGORY_HAS_CHILDREN`).
    #[error("the category has {0} sub-categories")]
    HasChildren(i64),
    /// One of the original shop's 12 categories, which its frontend offers
    /// (409 `CATEGORY_PROTECTED`).
    #[error("category {0} is the original shop's")]
    Protected(String),
    /// A product names a category that does not exist (422 `UNKNOWN_CATEGORY`,
    /// field `category`).
    #[error("unknown category {0}")]
    UnknownCategory(String),
    /// The cache or another catalogue failure.
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<FieldError> for CategoryError {
    fn from((field, problem): FieldError) -> Self {
        Self::Invalid { field, problem }
    }
}

/// What a client sent as a category, shortened for a message.
fn shown(raw: &str) -> String {
    raw.trim().chars().take(100).collect()
}

impl CategoryError {
    /// The legacy routes' answer: the original shop's 400 `VALIDATION_ERROR` for an
    /// unknown category, anything else as usual.
    pub fn into_legacy(self) -> ApiError {
        match self {
            Self::UnknownCategory(raw) => ApiError::validation(
                "category",
                format!("`{}` is not a known category", shown(&raw)),
            ),
            other => other.into(),
        }
    }
}

impl From<CategoryError> for ApiError {
    fn from(err: CategoryError) -> Self {
        use CategoryError as E;
        let unprocessable = |code: &'static str, field: &str, message: String| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
                .with_details(json!({ "field": field }))
        };
        match err {
            E::Invalid { field, problem } => ApiError::validation(field, problem),
            E::NotFound => ApiError::not_found("category"),
            E::SlugTaken(slug) => ApiError::new(
                StatusCode::CONFLICT,
                "SLUG_TAKEN",
                format!("another category has the slug `{slug}`"),
            )
            .with_details(json!({ "field": "slug", "slug": slug })),
            E::CodeTaken(code) => ApiError::new(
                StatusCode::CONFLICT,
                "CODE_TAKEN",
                format!(
                    "another category has the code `{code}` this slug makes; choose another slug"
                ),
            )
            .with_details(json!({ "field": "slug", "code": code })),
            E::UnknownParent => unprocessable(
                "UNKNOWN_PARENT",
                "parent_id",
                "parent_id: no such category".into(),
            ),
            E::Cycle => unprocessable(
                "CATEGORY_CYCLE",
                "parent_id",
                "parent_id: a category cannot be moved under itself or one of its descendants"
                    .into(),
            ),
            E::TooDeep => unprocessable(
                "CATEGORY_TOO_DEEP",
                "parent_id",
                format!("parent_id: the tree would be deeper than {MAX_DEPTH} levels"),
            ),
            E::TooMany => ApiError::new(
                StatusCode::CONFLICT,
                "CATEGORY_LIMIT",
                format!("the shop holds {MAX_CATEGORIES} categories already; delete one first"),
            )
            .with_details(json!({ "max_categories": MAX_CATEGORIES })),
            E::NotEmpty(products) => ApiError::new(
                StatusCode::CONFLICT,
                "CATEGORY_NOT_EMPTY",
                format!(
                    "the category still has {products} product(s) (any status); move them first"
                ),
            )
            .with_details(json!({ "products": products })),
            E::HasChildren(children) => ApiError::new(
                StatusCode::CONFLICT,
                "CATEGORY_HAS_CHILDREN",
                format!(
                    "the category still has {children} sub-categor(ies); move or delete them first"
                ),
            )
            .with_details(json!({ "children": children })),
            E::Protected(code) => ApiError::new(
                StatusCode::CONFLICT,
                "CATEGORY_PROTECTED",
                format!(
                    "{code} is one of the original shop's categories, which its frontend offers; rename or move it instead"
                ),
            )
            .with_details(json!({ "code": code })),
            E::UnknownCategory(raw) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "UNKNOWN_CATEGORY",
                format!("category: `{}` is not a category code or slug", shown(&raw)),
            )
            .with_details(json!({ "field": "category", "value": shown(&raw) })),
            E::Catalogue(e) => e.into(),
            E::Db(e) => e.into(),
        }
    }
}
