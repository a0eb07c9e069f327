//! `GET /api/categories`: the category tree, from the catalogue cache, so a
//! category write (which invalidates it before answering) shows on every instance
//! at once.

use poem::web::Data;
use poem_openapi::{ApiResponse, OpenApi, payload::Json};

use super::{ApiTags, outcomes};
use crate::{
    catalogue::categories::{self, CategoryNode},
    envelope::Envelope,
    error::Failure,
    state::SharedState,
};

/// The tree, with where it came from.
#[derive(ApiResponse)]
pub enum TreeResponse {
    /// The roots, each with its children, by position then name.
    #[oai(status = 200)]
    Ok(
        Json<Envelope<Vec<CategoryNode>>>,
        /// `HIT`, `MISS` or `BYPASS` (Redis down).
        #[oai(header = "X-Cache")]
        String,
    ),
}

/// Public category reads.
pub struct CategoriesApi;

#[OpenApi(prefix_path = "/api/categories", tag = "ApiTags::Products")]
impl CategoriesApi {
    /// The category tree: every category with its code (what a product's `category`
    /// holds and the listing filters by), slug, name, position, the number of
    /// published products in it and its descendants, and its children.
    #[oai(path = "/", method = "get", operation_id = "categories_tree")]
    async fn tree(
        &self,
        state: Data<&SharedState>,
    ) -> Result<TreeResponse, Failure<outcomes::ReadOnly>> {
        let (tree, outcome) = categories::tree(&state.db, &state.catalogue).await?;
        Ok(TreeResponse::Ok(
            Json(Envelope::new(tree, "categories")),
            outcome.as_str().to_owned(),
        ))
    }
}
