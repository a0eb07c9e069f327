//! Admin catalogue: reads that see every status, and writes. Every write goes
//! through `catalogue::service`, which commits it with its audit row and
//! invalidates the catalogue cache before this answers: when the admin hears
//! "done", every instance shows the change.
//!
//! Status moves are explicit routes, each from the states it lists:
//! `publish` (draft | archived → published), `unpublish` (published → draft),
//! `archive` (draft | published → archived). `PATCH` edits fields and never the
//! status.

mod dto;

use poem::{Request, http::StatusCode, web::Data};
use poem_openapi::{
    OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde_json::json;
use uuid::Uuid;

pub use dto::{
    Archived, BulkFile, BulkReport, CreateProduct, Created, PatchProduct, StockAdjustment,
    UploadProduct,
};

use super::{ApiTags, orders::order_page};
use crate::{
    auth::extract::AdminAuth,
    catalogue::{
        bulk, categories,
        error::CatalogueError,
        model::{self, NewProduct, ProductStatus, ProductView, Transition},
        repo::{self, ProductPatch},
        service::{self, Author},
    },
    envelope::{Envelope, Pagination},
    error::ApiError,
    json_body::JsonBody,
    middleware::RequestId,
    state::SharedState,
};
use crate::{error::Failure, routes::outcomes};

/// The audit author of a request.
fn author(admin: &AdminAuth, req: &Request) -> Author {
    Author {
        admin: admin.0.sub,
        request_id: req.data::<RequestId>().map(|r| r.0.clone()),
    }
}

/// Admin catalogue reads and writes.
pub struct AdminProductsApi;

impl AdminProductsApi {
    async fn moved(
        state: &SharedState,
        admin: &AdminAuth,
        req: &Request,
        id: Uuid,
        t: Transition,
    ) -> Result<Json<Envelope<ProductView>>, ApiError> {
        let product =
            service::transition(&state.db, &state.catalogue, &author(admin, req), id, t).await?;
        Ok(Json(Envelope::new(
            product.into(),
            format!("product {}", t.to().as_str()),
        )))
    }
}

#[OpenApi(prefix_path = "/api/admin/products", tag = "ApiTags::AdminProducts")]
impl AdminProductsApi {
    /// Every product, drafts and archived ones included, newest first; optionally
    /// only one status. Read from PostgreSQL, never cached. Admin only.
    #[oai(path = "/", method = "get", operation_id = "admin_products_list")]
    async fn list(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
        /// Only products in this status.
        status: Query<Option<ProductStatus>>,
        /// 1-based page (default 1); `page × page_size` at most 10,000 (422 beyond).
        page: Query<Option<u64>>,
        /// Items per page, 1 to 100 (default 20).
        page_size: Query<Option<u64>>,
    ) -> Result<Json<Envelope<Vec<ProductView>>>, Failure<outcomes::AdminListProducts>> {
        let (page, page_size) = order_page(page.0, page_size.0)?;
        let (products, total) = repo::list_admin(&state.db, status.0, page, page_size).await?;
        Ok(Json(Envelope::paged(
            products.into_iter().map(ProductView::from).collect(),
            "products",
            Pagination {
                page,
                page_size,
                total,
            },
        )))
    }

    /// One product, whatever its status. Admin only.
    #[oai(path = "/:id", method = "get", operation_id = "admin_products_get")]
    async fn get(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
        id: Path<Uuid>,
    ) -> Result<Json<Envelope<ProductView>>, Failure<outcomes::AdminReadProduct>> {
        let product = repo::by_id(&state.db, id.0)
            .await?
            .ok_or(CatalogueError::ProductNotFound)?;
        Ok(Json(Envelope::new(product.into(), "product")))
    }

    /// Create a product from JSON, `published` (the default) or `draft`. Admin only.
    #[oai(path = "/", method = "post", operation_id = "admin_products_create")]
    async fn create(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        req: &Request,
        body: JsonBody<CreateProduct>,
    ) -> Result<Created, Failure<outcomes::CreateProduct>> {
        let b = &body.0;
        let category = categories::resolve(&state.db, &b.category).await?;
        let status = model::check_new_status(b.status.map(ProductStatus::as_str))
            .map_err(CatalogueError::from)?;
        let product = NewProduct::parse(
            &b.name,
            b.description.as_deref(),
            b.price_cents,
            b.currency.as_deref(),
            category,
            b.stock,
            b.low_stock_threshold,
        )
        .map_err(CatalogueError::from)?
        .with_status(status);
        let product = service::create(
            &state.db,
            &state.catalogue,
            &author(&admin, req),
            &product,
            vec![],
        )
        .await?;
        Ok(Created::Created(Json(Envelope::new(
            product.into(),
            "product created",
        ))))
    }

    /// Create a product with images (multipart), `published` (the default) or
    /// `draft`. Images are checked by their bytes: 415 for anything but JPEG, PNG or
    /// WebP, 413 over 5 MB. Admin only.
    #[oai(
        path = "/upload",
        method = "post",
        operation_id = "admin_products_upload"
    )]
    async fn upload(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        req: &Request,
        form: UploadProduct,
    ) -> Result<Created, Failure<outcomes::UploadProduct>> {
        let category = categories::resolve(&state.db, &form.category).await?;
        let status =
            model::check_new_status(form.status.as_deref()).map_err(CatalogueError::from)?;
        let product = NewProduct::parse(
            &form.name,
            form.description.as_deref(),
            form.price_cents,
            form.currency.as_deref(),
            category,
            form.stock,
            form.low_stock_threshold,
        )
        .map_err(CatalogueError::from)?
        .with_status(status);
        let product = service::create(
            &state.db,
            &state.catalogue,
            &author(&admin, req),
            &product,
            form.images,
        )
        .await?;
        Ok(Created::Created(Json(Envelope::new(
            product.into(),
            "product created",
        ))))
    }

    /// Import many products from CSV or JSON, each row in its own `status`
    /// (`published` by default, or `draft`). Every row is validated first; the
    /// report names each bad row and field. `dry_run=true` writes nothing; otherwise
    /// the valid rows commit in one transaction (with one `product.import` audit row
    /// naming them), or with `atomic=true` nothing commits if any row is bad (422).
    /// Admin only.
    #[oai(path = "/bulk", method = "post", operation_id = "admin_products_bulk")]
    async fn bulk(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        req: &Request,
        /// Validate only.
        dry_run: Query<Option<bool>>,
        /// All rows or none.
        atomic: Query<Option<bool>>,
        file: BulkFile,
    ) -> Result<Json<Envelope<BulkReport>>, Failure<outcomes::BulkImport>> {
        let known = categories::known(&state.db).await?;
        let parsed = match file {
            BulkFile::Csv(text) => bulk::parse_csv(&text.0, &known),
            BulkFile::Json(rows) => bulk::parse_json(rows.0, &known),
        }
        .map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, "INVALID_FILE", e.0.clone())
                .with_details(json!({ "problem": e.0 }))
        })?;
        let dry_run = dry_run.0.unwrap_or(false);
        let mut report = BulkReport {
            total_rows: parsed.total as u64,
            valid_rows: parsed.valid.len() as u64,
            created: 0,
            dry_run,
            errors: parsed.errors,
        };
        if atomic.0.unwrap_or(false) && !report.errors.is_empty() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "BULK_VALIDATION_FAILED",
                format!("{} of {} rows are invalid; nothing was imported", report.errors.len(), report.total_rows),
            )
            .with_details(json!({
                "total_rows": report.total_rows,
                "errors": report.errors.iter().map(|e| json!({"row": e.row, "field": e.field, "problem": e.problem})).collect::<Vec<_>>(),
            })).into());
        }
        if !dry_run && !parsed.valid.is_empty() {
            let ids = service::import(
                &state.db,
                &state.catalogue,
                &author(&admin, req),
                &parsed.valid,
            )
            .await?;
            report.created = ids.len() as u64;
        }
        let message = if dry_run {
            "validated; nothing written"
        } else {
            "imported"
        };
        Ok(Json(Envelope::new(report, message)))
    }

    /// Change a product's fields with optimistic concurrency: send the `version` you
    /// read (or `If-Match: "<version>"`); a stale version gets 409, never a silent
    /// overwrite. The status is not a field: `status` here is refused (400), move it
    /// with `publish`, `unpublish` or `archive`. Admin only.
    #[oai(
        path = "/:id",
        method = "patch",
        operation_id = "admin_products_update"
    )]
    async fn update(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        req: &Request,
        id: Path<Uuid>,
        /// The version last read, as `"3"` or `3`.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: JsonBody<PatchProduct>,
    ) -> Result<Json<Envelope<ProductView>>, Failure<outcomes::UpdateProduct>> {
        let b = body.0;
        if b.status.is_some() {
            return Err(ApiError::validation(
                "status",
                "is changed by POST /api/admin/products/{id}/publish, /unpublish or /archive, \
                 never by PATCH",
            )
            .into());
        }
        let header_version = match if_match.0.as_deref() {
            Some(v) => Some(
                v.trim()
                    .trim_start_matches("W/")
                    .trim_matches('"')
                    .parse::<i32>()
                    .map_err(|_| {
                        ApiError::validation("If-Match", "must be the product version, e.g. \"3\"")
                    })?,
            ),
            None => None,
        };
        let version = b
            .version
            .or(header_version)
            .ok_or_else(|| ApiError::validation("version", "is required (or send If-Match)"))?;
        let patch = ProductPatch {
            name: b
                .name
                .as_deref()
                .map(model::check_name)
                .transpose()
                .map_err(CatalogueError::from)?,
            description: b
                .description
                .as_deref()
                .map(model::check_description)
                .transpose()
                .map_err(CatalogueError::from)?,
            price_cents: b
                .price_cents
                .map(model::check_price)
                .transpose()
                .map_err(CatalogueError::from)?,
            currency: b
                .currency
                .as_deref()
                .map(model::check_currency)
                .transpose()
                .map_err(CatalogueError::from)?,
            category: match b.category.as_deref() {
                Some(raw) => Some(categories::resolve(&state.db, raw).await?),
                None => None,
            },
            low_stock_threshold: b
                .low_stock_threshold
                .map(|n| model::check_count("low_stock_threshold", n))
                .transpose()
                .map_err(CatalogueError::from)?,
        };
        let product = service::update(
            &state.db,
            &state.catalogue,
            &author(&admin, req),
            id.0,
            version,
            &patch,
        )
        .await?;
        Ok(Json(Envelope::new(product.into(), "product updated")))
    }

    /// Publish a product: `draft` or `archived` → `published` (listed and on sale on
    /// every instance once this answers). 409 `PRODUCT_STATE_CONFLICT` naming the
    /// status otherwise. Admin only.
    #[oai(
        path = "/:id/publish",
        method = "post",
        operation_id = "admin_products_publish"
    )]
    async fn publish(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        req: &Request,
        id: Path<Uuid>,
    ) -> Result<Json<Envelope<ProductView>>, Failure<outcomes::ProductTransition>> {
        Ok(Self::moved(&state, &admin, req, id.0, Transition::Publish).await?)
    }

    /// Unpublish a product: `published` → `draft` (hidden from customers on every
    /// instance once this answers: listings, detail, images, cart). 409
    /// `PRODUCT_STATE_CONFLICT` naming the status otherwise. Admin only.
    #[oai(
        path = "/:id/unpublish",
        method = "post",
        operation_id = "admin_products_unpublish"
    )]
    async fn unpublish(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        req: &Request,
        id: Path<Uuid>,
    ) -> Result<Json<Envelope<ProductView>>, Failure<outcomes::ProductTransition>> {
        Ok(Self::moved(&state, &admin, req, id.0, Transition::Unpublish).await?)
    }

    /// Archive a product: `draft` or `published` → `archived` (hidden, kept for past
    /// orders). 409 `PRODUCT_STATE_CONFLICT` naming the status otherwise. Admin only.
    #[oai(
        path = "/:id/archive",
        method = "post",
        operation_id = "admin_products_archive_post"
    )]
    async fn archive_post(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        req: &Request,
        id: Path<Uuid>,
    ) -> Result<Json<Envelope<ProductView>>, Failure<outcomes::ProductTransition>> {
        Ok(Self::moved(&state, &admin, req, id.0, Transition::Archive).await?)
    }

    /// Archive a product: hidden from listings, kept for past orders; 204 also when
    /// it is archived already. `POST /api/admin/products/{id}/archive` is the same
    /// move with the product in the answer. Admin only.
    #[oai(
        path = "/:id",
        method = "delete",
        operation_id = "admin_products_archive"
    )]
    async fn archive(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        req: &Request,
        id: Path<Uuid>,
    ) -> Result<Archived, Failure<outcomes::ArchiveProduct>> {
        service::archive_idempotent(&state.db, &state.catalogue, &author(&admin, req), id.0)
            .await?;
        Ok(Archived::NoContent)
    }

    /// Adjust the stock by `delta` (never below 0: 409; never above 1,000,000,000:
    /// 422 `STOCK_LIMIT`) and record the movement in the inventory ledger. Admin only.
    #[oai(
        path = "/:id/stock",
        method = "post",
        operation_id = "admin_products_stock"
    )]
    async fn stock(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        req: &Request,
        id: Path<Uuid>,
        body: JsonBody<StockAdjustment>,
    ) -> Result<Json<Envelope<ProductView>>, Failure<outcomes::AdjustStock>> {
        if body.delta == 0 || body.delta.unsigned_abs() > 1_000_000 {
            return Err(ApiError::validation(
                "delta",
                "must be non-zero and at most 1000000 in size",
            )
            .into());
        }
        let reason = body.reason.trim();
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err(ApiError::validation("reason", "must be 1 to 200 characters").into());
        }
        let product = service::adjust_stock(
            &state.db,
            &state.catalogue,
            &author(&admin, req),
            id.0,
            body.delta,
            reason,
        )
        .await?;
        Ok(Json(Envelope::new(product.into(), "stock adjusted")))
    }
}
