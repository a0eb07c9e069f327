//! `GET /api/products/search`: full-text search with typo tolerance, filters, facets
//! and sorting over published products (`catalogue::search`), cached per normalised
//! query under the catalogue generation like the listings (`X-Cache`).

use poem::{http::StatusCode, web::Data};
use poem_openapi::{ApiResponse, OpenApi, param::Query};
use serde_json::json;

use super::{
    ApiTags,
    products::{MAX_CACHED_PAGE, MAX_PAGE_SIZE, check_depth},
};
use crate::{
    catalogue::{
        cache::CacheOutcome,
        repo::search::SearchSort,
        search::{self, MAX_QUERY_CHARS, SearchQuery, SearchResults},
    },
    envelope::{Envelope, JsonBytes, Pagination},
    error::{ApiError, Failure},
    routes::outcomes,
    state::SharedState,
};

/// A search, with where it came from.
#[derive(ApiResponse)]
pub enum SearchResponse {
    /// One page of matches, with the facets.
    #[oai(status = 200)]
    Ok(
        JsonBytes<Envelope<SearchResults>>,
        /// `HIT`, `MISS` or `BYPASS` (Redis down).
        #[oai(header = "X-Cache")]
        String,
    ),
}

/// The query parameters of a search, as sent.
struct RawSearch {
    q: Option<String>,
    category: Option<String>,
    min_price_cents: Option<i64>,
    max_price_cents: Option<i64>,
    in_stock: Option<bool>,
    min_rating: Option<f64>,
    sort: Option<SearchSort>,
    page: Option<u64>,
    page_size: Option<u64>,
}

fn bad_query(problem: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
        format!("q: {problem}"),
    )
    .with_details(json!({ "field": "q", "problem": problem }))
}

impl RawSearch {
    /// The validated search: 422 naming `q` for a missing, blank or too long query,
    /// 400 naming any other parameter at fault, 422 `PAGE_TOO_DEEP`.
    fn validate(self) -> Result<SearchQuery, ApiError> {
        let raw = self.q.unwrap_or_default();
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(bad_query("is required (1 to 200 characters)"));
        }
        if trimmed.chars().count() > MAX_QUERY_CHARS {
            return Err(bad_query("must be at most 200 characters"));
        }
        if trimmed
            .chars()
            .any(|c| c.is_control() && !c.is_whitespace())
        {
            return Err(bad_query("must not contain control characters"));
        }
        let page = self.page.unwrap_or(1);
        if page == 0 {
            return Err(ApiError::validation("page", "must be at least 1"));
        }
        let page_size = self.page_size.unwrap_or(20);
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(ApiError::validation(
                "page_size",
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
        check_depth(page, page_size)?;
        for (field, v) in [
            ("min_price_cents", self.min_price_cents),
            ("max_price_cents", self.max_price_cents),
        ] {
            if v.is_some_and(|v| v < 0) {
                return Err(ApiError::validation(field, "must not be negative"));
            }
        }
        if let (Some(min), Some(max)) = (self.min_price_cents, self.max_price_cents)
            && min > max
        {
            return Err(ApiError::validation(
                "min_price_cents",
                "must not exceed max_price_cents",
            ));
        }
        if self
            .min_rating
            .is_some_and(|r| !r.is_finite() || !(1.0..=5.0).contains(&r))
        {
            return Err(ApiError::validation(
                "min_rating",
                "must be between 1 and 5",
            ));
        }
        let category = match self.category.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) if crate::catalogue::categories::service::is_category_shaped(c) => {
                Some(c.to_lowercase())
            }
            Some(_) => {
                return Err(ApiError::validation(
                    "category",
                    "must be a category code or slug (letters, digits, `_`, `-`; at most 80)",
                ));
            }
        };
        Ok(SearchQuery {
            q: search::normalise(trimmed),
            category,
            min_price_cents: self.min_price_cents,
            max_price_cents: self.max_price_cents,
            in_stock: self.in_stock,
            min_rating: self.min_rating,
            sort: self.sort.unwrap_or(SearchSort::Relevance),
            page,
            page_size,
        })
    }
}

/// One page of a search, from the cache when the page is cached.
async fn run(state: &SharedState, query: SearchQuery) -> Result<SearchResponse, ApiError> {
    let (page, page_size) = (query.page, query.page_size);
    let key = query.cache_key();
    let db = state.db.clone();
    let load = || async move {
        let results = search::search(&db, &query).await?;
        let pagination = Pagination {
            page,
            page_size,
            total: results.total,
        };
        Ok(JsonBytes::encode(&Envelope::paged(
            results,
            "search results",
            pagination,
        )))
    };
    // Searches are keys a client chooses freely: every store draws on the cache's
    // budget (`catalogue/cache.rs`), and deep pages are not cached at all.
    let (body, outcome) = if page <= MAX_CACHED_PAGE {
        state
            .catalogue
            .get_or_load_listing(&key, true, load)
            .await?
    } else {
        (load().await?.into(), CacheOutcome::Bypass)
    };
    Ok(SearchResponse::Ok(
        JsonBytes::new(body),
        outcome.as_str().to_owned(),
    ))
}

/// Product search.
pub struct SearchApi;

#[OpenApi(prefix_path = "/api/products", tag = "ApiTags::Products")]
impl SearchApi {
    /// Search published products by words in their name, category or description,
    /// tolerating typos (`corrected_query` tells when a word was corrected), with
    /// filters, facets and sorting. Served from Redis when cached (`X-Cache`).
    ///
    /// Facets: `categories` counts the matches with every filter but `category`;
    /// `price_bands` with every filter, so the bands add up to `total`. An unknown
    /// category matches nothing.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/search", method = "get", operation_id = "products_search")]
    async fn search(
        &self,
        state: Data<&SharedState>,
        /// Words to find, 1 to 200 characters after trimming (422 otherwise).
        q: Query<Option<String>>,
        /// A category code (`DAIRY_BAKERY`) or slug (`dairy-bakery`): that category
        /// and every category under it.
        category: Query<Option<String>>,
        /// Lowest price in cents.
        min_price_cents: Query<Option<i64>>,
        /// Highest price in cents.
        max_price_cents: Query<Option<i64>>,
        /// `true`: only in stock; `false`: only sold out.
        in_stock: Query<Option<bool>>,
        /// Lowest average rating, 1 to 5 (unrated products are left out).
        min_rating: Query<Option<f64>>,
        /// `relevance` (default), `price_asc`, `price_desc`, `newest` or `rating`.
        sort: Query<Option<SearchSort>>,
        /// 1-based page (default 1); `page × page_size` at most 10,000 (422 beyond).
        page: Query<Option<u64>>,
        /// Items per page, 1 to 100 (default 20).
        page_size: Query<Option<u64>>,
    ) -> Result<SearchResponse, Failure<outcomes::SearchProducts>> {
        let query = RawSearch {
            q: q.0,
            category: category.0,
            min_price_cents: min_price_cents.0,
            max_price_cents: max_price_cents.0,
            in_stock: in_stock.0,
            min_rating: min_rating.0,
            sort: sort.0,
            page: page.0,
            page_size: page_size.0,
        }
        .validate()?;
        Ok(run(&state, query).await?)
    }
}
