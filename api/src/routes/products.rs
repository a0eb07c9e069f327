//! Public catalogue reads: listings (cached in Redis, see `catalogue::cache`),
//! details, counts and image bytes.

mod image;

use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use uuid::Uuid;

pub use image::ImageResponse;
use image::etag_matches;

use super::ApiTags;
use crate::{
    catalogue::{
        cache::{self, CacheOutcome},
        categories::{self, CategoryError},
        image_cache::{CachedImage, served_content_type},
        model::ProductView,
        repo::{self, ListQuery, Sort},
    },
    envelope::{Envelope, JsonBytes, Pagination},
    error::ApiError,
    state::SharedState,
};
use crate::{error::Failure, routes::outcomes};

/// Largest page.
pub const MAX_PAGE_SIZE: u64 = 100;
/// Deepest item a listing reaches (`page × page_size`): deeper offsets make
/// PostgreSQL read and throw away that many rows; narrow the listing with filters.
pub const MAX_LISTING_DEPTH: u64 = 10_000;
/// 422 `PAGE_TOO_DEEP` when `page × page_size` passes [`MAX_LISTING_DEPTH`] (every
/// paged list of the API).
pub fn check_depth(page: u64, page_size: u64) -> Result<(), ApiError> {
    if page.saturating_mul(page_size) > MAX_LISTING_DEPTH {
        return Err(ApiError::new(
            poem::http::StatusCode::UNPROCESSABLE_ENTITY,
            "PAGE_TOO_DEEP",
            format!(
                "page × page_size may be at most {MAX_LISTING_DEPTH}; narrow the list with filters instead"
            ),
        )
        .with_details(serde_json::json!({
            "field": "page",
            "max_depth": MAX_LISTING_DEPTH,
        })));
    }
    Ok(())
}

/// Only the first pages are cached; deeper ones are read from PostgreSQL. Every
/// listing store draws on the cache's per-minute budget (`catalogue/cache.rs`), so
/// searches and filters cannot fill Redis.
pub const MAX_CACHED_PAGE: u64 = 5;
/// Page sizes frontends use; listings of other sizes draw on the cache's budget.
const COMMON_PAGE_SIZES: &[u64] = &[10, 12, 16, 20, 24, 25, 30, 40, 48, 50, 60, 100];

/// Number of products.
#[derive(Debug, Object)]
pub struct ProductCount {
    /// Published products.
    pub total: u64,
}

/// A listing, with where it came from.
#[derive(ApiResponse)]
pub enum ListResponse {
    /// One page of products.
    #[oai(status = 200)]
    Ok(
        JsonBytes<Envelope<Vec<ProductView>>>,
        /// `HIT`, `MISS` or `BYPASS` (Redis down).
        #[oai(header = "X-Cache")]
        String,
    ),
}

/// A count, with where it came from.
#[derive(ApiResponse)]
pub enum CountResponse {
    /// The number of published products.
    #[oai(status = 200)]
    Ok(
        JsonBytes<Envelope<ProductCount>>,
        /// `HIT`, `MISS` or `BYPASS`.
        #[oai(header = "X-Cache")]
        String,
    ),
}

/// One product.
#[derive(ApiResponse)]
pub enum ProductResponse {
    /// The product.
    #[oai(status = 200)]
    Ok(
        Json<Envelope<ProductView>>,
        /// `HIT`, `MISS` or `BYPASS`.
        #[oai(header = "X-Cache")]
        String,
    ),
}

/// The query parameters of a listing, as sent.
struct RawListing {
    page: Option<u64>,
    page_size: Option<u64>,
    category: Option<String>,
    min_price_cents: Option<i64>,
    max_price_cents: Option<i64>,
    in_stock: Option<bool>,
    q: Option<String>,
    sort: Option<Sort>,
}

impl RawListing {
    /// The validated query: 400 naming the parameter at fault, 422 too deep.
    fn validate(self) -> Result<ListQuery, ApiError> {
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
        // Search is case-insensitive and word spacing does not matter: one key per
        // meaning, not per spelling.
        let q = self
            .q
            .map(|q| {
                q.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            })
            .filter(|q| !q.is_empty());
        if q.as_ref()
            .is_some_and(|q| q.chars().count() > 100 || q.chars().any(char::is_control))
        {
            return Err(ApiError::validation(
                "q",
                "must be at most 100 printable characters",
            ));
        }
        let query = ListQuery {
            page,
            page_size,
            category: self.category,
            min_price_cents: self.min_price_cents,
            max_price_cents: self.max_price_cents,
            in_stock: self.in_stock,
            q,
            sort: self.sort.unwrap_or(Sort::Newest),
        };
        Ok(query)
    }
}

/// The code of the category a listing filters by (its code or slug, any case), from
/// the cached category list: 422 `UNKNOWN_CATEGORY` when there is none. The key of a
/// filtered listing then holds a code, one of a closed set, so made-up categories
/// cannot mint cache keys.
async fn listed_category(state: &SharedState, raw: &str) -> Result<String, ApiError> {
    let (rows, _) = categories::tree_rows(&state.db, &state.catalogue).await?;
    let wanted = raw.trim();
    rows.iter()
        .find(|c| c.code.eq_ignore_ascii_case(wanted) || c.slug.eq_ignore_ascii_case(wanted))
        .map(|c| c.code.clone())
        .ok_or_else(|| CategoryError::UnknownCategory(raw.to_owned()).into())
}

/// One page of a listing, from the cache when the page is cached (`X-Cache`).
async fn listing(state: &SharedState, query: ListQuery) -> Result<ListResponse, ApiError> {
    let (page, page_size) = (query.page, query.page_size);
    let cacheable = page <= MAX_CACHED_PAGE;
    // A closed set of keys (never drawing on the cache's budget): no search, no
    // price filter, a common page size.
    let open = query.q.is_some()
        || query.min_price_cents.is_some()
        || query.max_price_cents.is_some()
        || !COMMON_PAGE_SIZES.contains(&page_size);
    let key = cache::listing_key(&query);
    let db = state.db.clone();
    let load = || async move {
        let (items, total) = repo::list(&db, &query).await?;
        let items: Vec<ProductView> = items.into_iter().map(ProductView::from).collect();
        let pagination = Pagination {
            page,
            page_size,
            total,
        };
        Ok(JsonBytes::encode(&Envelope::paged(
            items, "products", pagination,
        )))
    };
    // The whole body is cached: a hit sends the stored bytes.
    let (body, outcome) = if cacheable {
        state
            .catalogue
            .get_or_load_listing(&key, open, load)
            .await?
    } else {
        let bytes: Vec<u8> = load().await?;
        (bytes.into(), cache::CacheOutcome::Bypass)
    };
    Ok(ListResponse::Ok(
        JsonBytes::new(body),
        outcome.as_str().to_owned(),
    ))
}

/// Public product reads.
pub struct ProductsApi;

#[OpenApi(prefix_path = "/api/products", tag = "ApiTags::Products")]
impl ProductsApi {
    /// List published products (never a draft or an archived one): paged, filtered, searched and sorted. Served from Redis
    /// when cached (`X-Cache`).
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/", method = "get", operation_id = "products_list")]
    async fn list(
        &self,
        state: Data<&SharedState>,
        /// 1-based page (default 1); `page × page_size` at most 10,000 (422 beyond).
        page: Query<Option<u64>>,
        /// Items per page, 1 to 100 (default 20).
        page_size: Query<Option<u64>>,
        /// Only this category and its descendants: a code or slug of
        /// `GET /api/categories`, any case. Unknown: 422 `UNKNOWN_CATEGORY`.
        category: Query<Option<String>>,
        /// Lowest price in cents.
        min_price_cents: Query<Option<i64>>,
        /// Highest price in cents.
        max_price_cents: Query<Option<i64>>,
        /// `true`: only in stock; `false`: only sold out.
        in_stock: Query<Option<bool>>,
        /// Words to find in the name, category or description (whole words, any form:
        /// `banana` finds bananas; at most 100 characters). Typo tolerance and facets:
        /// `GET /api/products/search`.
        q: Query<Option<String>>,
        /// `newest` (default), `price_asc`, `price_desc` or `name`.
        sort: Query<Option<Sort>>,
    ) -> Result<ListResponse, Failure<outcomes::ListProducts>> {
        let query = RawListing {
            page: page.0,
            page_size: page_size.0,
            category: category.0,
            min_price_cents: min_price_cents.0,
            max_price_cents: max_price_cents.0,
            in_stock: in_stock.0,
            q: q.0,
            sort: sort.0,
        }
        .validate()?;
        let query = ListQuery {
            category: match query.category {
                Some(raw) => Some(listed_category(&state, &raw).await?),
                None => None,
            },
            ..query
        };
        Ok(listing(&state, query).await?)
    }

    /// The number of published products (cached under `total_products`).
    #[oai(path = "/count", method = "get", operation_id = "products_count")]
    async fn count(
        &self,
        state: Data<&SharedState>,
    ) -> Result<CountResponse, Failure<outcomes::ReadOnly>> {
        let db = state.db.clone();
        let (body, outcome) = state
            .catalogue
            .get_or_load_json(cache::TOTAL_PRODUCTS, || async move {
                let count = ProductCount {
                    total: repo::count_active(&db).await?,
                };
                Ok(JsonBytes::encode(&Envelope::new(count, "product count")))
            })
            .await?;
        Ok(CountResponse::Ok(
            JsonBytes::new(body),
            outcome.as_str().to_owned(),
        ))
    }

    /// Published products that have images (cached under `products_with_images`).
    #[oai(
        path = "/with-images",
        method = "get",
        operation_id = "products_with_images"
    )]
    async fn with_images(
        &self,
        state: Data<&SharedState>,
    ) -> Result<ListResponse, Failure<outcomes::ReadOnly>> {
        let db = state.db.clone();
        let (body, outcome) = state
            .catalogue
            .get_or_load_json(cache::PRODUCTS_WITH_IMAGES, || async move {
                let items: Vec<ProductView> = repo::with_images_only(&db)
                    .await?
                    .into_iter()
                    .map(ProductView::from)
                    .collect();
                let total = items.len() as u64;
                let pagination = Pagination {
                    page: 1,
                    page_size: total,
                    total,
                };
                Ok(JsonBytes::encode(&Envelope::paged(
                    items,
                    "products with images",
                    pagination,
                )))
            })
            .await?;
        Ok(ListResponse::Ok(
            JsonBytes::new(body),
            outcome.as_str().to_owned(),
        ))
    }

    /// One published product; a draft or archived one is 404, as an unknown one is.
    #[oai(path = "/:id", method = "get", operation_id = "products_get")]
    async fn get(
        &self,
        state: Data<&SharedState>,
        id: Path<Uuid>,
    ) -> Result<ProductResponse, Failure<outcomes::ReadProduct>> {
        let db = state.db.clone();
        let product_id = id.0;
        let (product, outcome): (Option<ProductView>, CacheOutcome) = state
            .catalogue
            .get_or_load_open(&format!("products:item:{product_id}"), || async move {
                Ok(repo::by_id(&db, product_id).await?.map(ProductView::from))
            })
            .await?;
        match product {
            Some(p) if p.status == crate::catalogue::model::ProductStatus::Published => {
                Ok(ProductResponse::Ok(
                    Json(Envelope::new(p, "product")),
                    outcome.as_str().to_owned(),
                ))
            }
            _ => Err(ApiError::not_found("product").into()),
        }
    }

    /// The bytes of an image of a published product (404 for a draft's or an
    /// archived one's), with a strong `ETag` and long-lived caching;
    /// 304 when `If-None-Match` matches.
    #[oai(
        path = "/:id/images/:image_id",
        method = "get",
        operation_id = "products_image"
    )]
    async fn image(
        &self,
        state: Data<&SharedState>,
        id: Path<Uuid>,
        image_id: Path<Uuid>,
        /// ETag of the copy the client holds.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> Result<ImageResponse, Failure<outcomes::ReadProduct>> {
        let (product, image_id) = (id.0, image_id.0);
        // Whether the image still belongs to an active product, and its hash: from the
        // catalogue cache, so an archive (an admin write, which bumps the generation)
        // hides it on every instance at once, and a hot image costs no query.
        let db = state.db.clone();
        let (sha, _): (Option<String>, CacheOutcome) = state
            .catalogue
            .get_or_load_open(
                &format!("products:image:{product}:{image_id}"),
                || async move { repo::image_etag(&db, product, image_id).await },
            )
            .await?;
        let sha = sha.ok_or_else(|| ApiError::not_found("image"))?;
        let etag = format!("\"{sha}\"");
        if etag_matches(if_none_match.0.as_deref(), &etag) {
            return Ok(ImageResponse::NotModified { etag });
        }
        let db = &state.db;
        let image = state
            .images
            .get_or_load(product, image_id, &sha, || async move {
                Ok(repo::image(db, product, image_id)
                    .await?
                    .map(|found| CachedImage {
                        content_type: served_content_type(&found.content_type),
                        bytes: found.bytes.into(),
                        sha256: found.sha256,
                    }))
            })
            .await?
            .ok_or_else(|| ApiError::not_found("image"))?;
        Ok(ImageResponse::Image {
            etag,
            bytes: image.bytes,
            content_type: image.content_type,
        })
    }
}
