//! Admin catalogue writes. Each one commits, then invalidates the catalogue cache,
//! then answers: when the admin hears "done", every instance lists the change.

use poem::{http::StatusCode, web::Data};
use poem_openapi::{
    ApiRequest, ApiResponse, Multipart, Object, OpenApi,
    param::{Header, Path, Query},
    payload::{Json, PlainText},
    types::multipart::Upload,
};
use serde_json::json;
use uuid::Uuid;

use super::ApiTags;
use crate::{
    auth::extract::AdminAuth,
    catalogue::{
        bulk::{self, RowError},
        error::CatalogueError,
        model::{self, Category, NewProduct, ProductStatus, ProductView},
        repo::{self, ProductPatch, Versioned},
        service,
    },
    envelope::Envelope,
    error::ApiError,
    json_body::JsonBody,
    state::SharedState,
};

/// `POST /api/admin/products`.
#[derive(Debug, Object)]
pub struct CreateProduct {
    /// Name, 1 to 200 characters.
    pub name: String,
    /// Description, at most 5000 characters.
    pub description: Option<String>,
    /// Price in cents, 0 to 100000000.
    pub price_cents: i64,
    /// ISO 4217 code (default `USD`).
    pub currency: Option<String>,
    /// Category.
    pub category: Category,
    /// Initial stock, 0 to 1000000.
    pub stock: i64,
    /// Low-stock threshold (default 5).
    pub low_stock_threshold: Option<i64>,
}

/// `POST /api/admin/products/upload`: the product fields and zero or more images
/// (JPEG, PNG or WebP, 5 MB each, at most 8, and at most 25 MB for the whole request:
/// 413 beyond).
#[derive(Debug, Multipart)]
pub struct UploadProduct {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Price in cents.
    pub price_cents: i64,
    /// ISO 4217 code (default `USD`).
    pub currency: Option<String>,
    /// Category.
    pub category: String,
    /// Initial stock.
    pub stock: i64,
    /// Low-stock threshold (default 5).
    pub low_stock_threshold: Option<i64>,
    /// Image files.
    pub images: Vec<Upload>,
}

/// `PATCH /api/admin/products/{id}`: fields to change; `version` (or `If-Match`) must
/// be the version the client last read.
#[derive(Debug, Object)]
pub struct PatchProduct {
    /// The version last read; a stale one gets 409.
    pub version: Option<i32>,
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New price in cents.
    pub price_cents: Option<i64>,
    /// New currency.
    pub currency: Option<String>,
    /// New category.
    pub category: Option<Category>,
    /// New low-stock threshold.
    pub low_stock_threshold: Option<i64>,
    /// `active` or `archived`.
    pub status: Option<ProductStatus>,
}

/// `POST /api/admin/products/{id}/stock`.
#[derive(Debug, Object)]
pub struct StockAdjustment {
    /// Units to add (positive) or remove (negative); never below zero.
    pub delta: i32,
    /// Why (recorded in the inventory ledger), 1 to 200 characters.
    pub reason: String,
}

/// A bulk file: CSV with a header row, or a JSON array of row objects.
#[derive(Debug, ApiRequest)]
pub enum BulkFile {
    /// CSV: `name,description,price_cents,currency,category,stock,low_stock_threshold`
    /// (name, price_cents, category and stock required).
    #[oai(content_type = "text/csv")]
    Csv(PlainText<String>),
    /// A JSON array of objects with the same fields.
    Json(Json<Vec<serde_json::Value>>),
}

/// What a bulk import did.
#[derive(Debug, Object)]
pub struct BulkReport {
    /// Rows read.
    pub total_rows: u64,
    /// Rows that passed validation.
    pub valid_rows: u64,
    /// Rows written.
    pub created: u64,
    /// `true` when only validation ran.
    pub dry_run: bool,
    /// One entry per bad row.
    pub errors: Vec<RowError>,
}

/// 201 with the product.
#[derive(ApiResponse)]
pub enum Created {
    /// The product was created.
    #[oai(status = 201)]
    Created(Json<Envelope<ProductView>>),
}

/// 204.
#[derive(ApiResponse)]
pub enum Archived {
    /// The product is archived: hidden from listings, kept for past orders.
    #[oai(status = 204)]
    NoContent,
}

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
    ) -> Result<Created, ApiError> {
        let b = &body.0;
        let product = NewProduct::parse(
            &b.name,
            b.description.as_deref(),
            b.price_cents,
            b.currency.as_deref(),
            b.category,
            b.stock,
            b.low_stock_threshold,
        )
        .map_err(CatalogueError::from)?;
        let id = repo::insert(&state.db, &product).await?;
        tracing::info!(product_id = %id, "product created");
        Self::created(&state, id).await
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
    ) -> Result<Created, ApiError> {
        let category = Category::parse(&form.category).ok_or_else(|| {
            ApiError::validation(
                "category",
                format!("`{}` is not a known category", form.category),
            )
        })?;
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
        Self::created(&state, id).await
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
    ) -> Result<Json<Envelope<BulkReport>>, ApiError> {
        let parsed = match file {
            BulkFile::Csv(text) => bulk::parse_csv(&text.0),
            BulkFile::Json(rows) => bulk::parse_json(rows.0),
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
            })));
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
    ) -> Result<Json<Envelope<ProductView>>, ApiError> {
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
            category: b.category,
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
            Versioned::Missing => Err(ApiError::not_found("product")),
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
    ) -> Result<Archived, ApiError> {
        if !repo::archive(&state.db, id.0).await? {
            return Err(ApiError::not_found("product"));
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
    ) -> Result<Json<Envelope<ProductView>>, ApiError> {
        if body.delta == 0 || body.delta.unsigned_abs() > 1_000_000 {
            return Err(ApiError::validation(
                "delta",
                "must be non-zero and at most 1000000 in size",
            ));
        }
        let reason = body.reason.trim();
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err(ApiError::validation(
                "reason",
                "must be 1 to 200 characters",
            ));
        }
        let product =
            service::adjust_stock(&state.db, id.0, body.delta, reason, admin.0.sub).await?;
        state.catalogue.invalidate().await;
        Ok(Json(Envelope::new(product.into(), "stock adjusted")))
    }
}
