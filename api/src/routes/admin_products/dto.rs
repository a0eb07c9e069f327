//! Request and response bodies of the admin catalogue writes.

use poem_openapi::{
    ApiRequest, ApiResponse, Multipart, Object,
    payload::{Json, PlainText},
    types::multipart::Upload,
};

use crate::{
    catalogue::{
        bulk::RowError,
        model::{ProductStatus, ProductView},
    },
    envelope::Envelope,
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
    /// Category: the code of one in `GET /api/categories` (any case; its slug is
    /// accepted too). Unknown: 422 `UNKNOWN_CATEGORY`.
    pub category: String,
    /// Initial stock, 0 to 1000000.
    pub stock: i64,
    /// Low-stock threshold (default 5).
    pub low_stock_threshold: Option<i64>,
    /// `published` (default: on sale at once) or `draft` (seen by admins only until
    /// published); a product is never created `archived` (400).
    pub status: Option<ProductStatus>,
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
    /// Category code or slug (`GET /api/categories`). Unknown: 422 `UNKNOWN_CATEGORY`.
    pub category: String,
    /// Initial stock.
    pub stock: i64,
    /// Low-stock threshold (default 5).
    pub low_stock_threshold: Option<i64>,
    /// `published` (default) or `draft`.
    pub status: Option<String>,
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
    /// New category code or slug (`GET /api/categories`). Unknown: 422
    /// `UNKNOWN_CATEGORY`.
    pub category: Option<String>,
    /// New low-stock threshold.
    pub low_stock_threshold: Option<i64>,
    /// Not accepted (400): the status moves only by
    /// `POST /api/admin/products/{id}/publish`, `/unpublish` or `/archive`.
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
    /// CSV: `name,description,price_cents,currency,category,stock,low_stock_threshold,status`
    /// (name, price_cents, category and stock required; `status` is `published`, the
    /// default, or `draft`, anything else is that row's error).
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
