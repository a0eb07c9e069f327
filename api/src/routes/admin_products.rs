//! Admin catalogue writes. Each one commits, then invalidates the catalogue cache,
//! then answers: when the admin hears "done", every instance lists the change.

mod dto;

use poem::{http::StatusCode, web::Data};
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

use super::ApiTags;
use crate::{
    auth::extract::AdminAuth,
    catalogue::{
        bulk, categories,
        error::CatalogueError,
        model::{self, NewProduct, ProductView},
        repo::{self, ProductPatch, Versioned},
        service,
    },
    envelope::Envelope,
    error::ApiError,
    json_body::JsonBody,
    state::SharedState,
};
use crate::{error::Failure, routes::outcomes};

/// Admin catalogue writes.
pub struct AdminProductsApi;

impl AdminProductsApi {
    async fn created(state: &SharedState, id: Uuid) -> Result<Created, ApiError> {
        Ok(Created::Created(Json(Envelope::new(
            service::product_after_write(&state.db, &state.catalogue, id)
                .await?
                .into(),
            "product created",
        ))))
    }
}

#[OpenApi(prefix_path = "/api/admin/products", tag = "ApiTags::AdminProducts")]
impl AdminProductsApi {
    /// Create a product from JSON. Admin only.
    #[oai(path = "/", method = "post", operation_id = "admin_products_create")]
    async fn create(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
        body: JsonBody<CreateProduct>,
    ) -> Result<Created, Failure<outcomes::CreateProduct>> {
        let b = &body.0;
        let category = categories::resolve(&state.db, &b.category).await?;
        let product = NewProduct::parse(
            &b.name,
            b.description.as_deref(),
            b.price_cents,
            b.currency.as_deref(),
            category,
            b.stock,
            b.low_stock_threshold,
        )
        .map_err(CatalogueError::from)?;
        let id = repo::insert(&state.db, &product).await?;
        tracing::info!(product_id = %id, "product created");
        Ok(Self::created(&state, id).await?)
    }

    /// Create a product with images (multipart). Images are checked by their bytes:
    /// 415 for anything but JPEG, PNG or WebP, 413 over 5 MB. Admin only.
    #[oai(
        path = "/upload",
        method = "post",
        operation_id = "admin_products_upload"
    )]
    async fn upload(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
        form: UploadProduct,
    ) -> Result<Created, Failure<outcomes::UploadProduct>> {
        let category = categories::resolve(&state.db, &form.category).await?;
        let product = NewProduct::parse(
            &form.name,
            form.description.as_deref(),
            form.price_cents,
            form.currency.as_deref(),
            category,
            form.stock,
            form.low_stock_threshold,
        )
        .map_err(CatalogueError::from)?;
        let id = service::create_with_images(&state.db, &product, form.images).await?;
        Ok(Self::created(&state, id).await?)
    }

    /// Import many products from CSV or JSON. Every row is validated first; the
    /// report names each bad row and field. `dry_run=true` writes nothing; otherwise
    /// the valid rows commit in one transaction, or with `atomic=true` nothing commits
    /// if any row is bad (422). Admin only.
    #[oai(path = "/bulk", method = "post", operation_id = "admin_products_bulk")]
    async fn bulk(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
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
            report.created = service::import(&state.db, &parsed.valid).await?;
            state.catalogue.invalidate().await;
            tracing::info!(
                created = report.created,
                rejected = report.errors.len(),
                "bulk import"
            );
        }
        let message = if dry_run {
            "validated; nothing written"
        } else {
            "imported"
        };
        Ok(Json(Envelope::new(report, message)))
    }

    /// Change a product with optimistic concurrency: send the `version` you read (or
    /// `If-Match: "<version>"`); a stale version gets 409, never a silent overwrite.
    #[oai(
        path = "/:id",
        method = "patch",
        operation_id = "admin_products_update"
    )]
    async fn update(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
        id: Path<Uuid>,
        /// The version last read, as `"3"` or `3`.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: JsonBody<PatchProduct>,
    ) -> Result<Json<Envelope<ProductView>>, Failure<outcomes::UpdateProduct>> {
        let b = body.0;
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
            status: b.status,
        };
        match repo::update(&state.db, id.0, version, &patch).await? {
            Versioned::Written(product) => {
                state.catalogue.invalidate().await;
                Ok(Json(Envelope::new((*product).into(), "product updated")))
            }
            Versioned::Missing => Err(ApiError::not_found("product").into()),
            Versioned::Stale(current) => Err(CatalogueError::VersionConflict { current }.into()),
        }
    }

    /// Archive a product: hidden from listings, kept for past orders. Admin only.
    #[oai(
        path = "/:id",
        method = "delete",
        operation_id = "admin_products_archive"
    )]
    async fn archive(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
        id: Path<Uuid>,
    ) -> Result<Archived, Failure<outcomes::ArchiveProduct>> {
        if !repo::archive(&state.db, id.0).await? {
            return Err(ApiError::not_found("product").into());
        }
        state.catalogue.invalidate().await;
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
        let product =
            service::adjust_stock(&state.db, id.0, body.delta, reason, admin.0.sub).await?;
        state.catalogue.invalidate().await;
        Ok(Json(Envelope::new(product.into(), "stock adjusted")))
    }
}
