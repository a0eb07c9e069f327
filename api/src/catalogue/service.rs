//! Every catalogue write, admin or legacy: the one place that owns "begin, write,
//! audit, commit, then invalidate". Each function:
//!
//! 1. writes in one transaction, deciding atomically (a versioned or a conditional
//!    `UPDATE`, never a read then a write);
//! 2. appends its audit row (`crate::audit`) in that same transaction, so the change
//!    and its record commit together or not at all;
//! 3. commits, then invalidates the catalogue cache (`INCR products:generation`)
//!    before it returns, so when an admin hears "done" every instance shows the
//!    change: a published product is listed, an unpublished one is gone from listings,
//!    details and image checks on every instance;
//! 4. returns the product as it now is.
//!
//! Routes call only these; no route touches the cache after a write. Orders are not
//! catalogue writes: they move stock inside the order's own transaction, and
//! `orders::service` (placement, transitions that give stock back) bumps the stock
//! version after its commit (`CatalogueCache::stock_moved`), never the generation, so
//! listings stay cached while orders flow (see `catalogue::cache`). The only other
//! bumps are an idempotent replay's (the first answer may have been cut off before
//! its bump) and the expiry job's.

use poem_openapi::types::multipart::Upload;
use sea_orm::{DatabaseConnection, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use super::{
    cache::CatalogueCache,
    error::CatalogueError,
    images,
    model::{NewProduct, Product, ProductStatus, ProductView, Transition},
    repo::{self, Moved, ProductPatch, StockChange, Versioned},
};
use crate::audit::{self, AuditActor, Entry};

/// Most images in one upload.
pub const MAX_IMAGES: usize = 8;

/// Who makes a write, as the audit log records it.
#[derive(Debug, Clone)]
pub struct Author {
    /// The admin.
    pub admin: Uuid,
    /// The request (`X-Request-Id`).
    pub request_id: Option<String>,
}

impl Author {
    fn entry(&self, action: &'static str, target: impl ToString) -> Entry {
        Entry::new(AuditActor::Admin(self.admin), action, "product", target)
            .request(self.request_id.clone())
    }
}

/// Reads and validates every uploaded image (by its bytes), in order: at most
/// [`MAX_IMAGES`], each a JPEG, PNG or WebP of at most 5 MB.
pub async fn read_images(
    uploads: Vec<Upload>,
) -> Result<Vec<(&'static str, Vec<u8>)>, CatalogueError> {
    if uploads.len() > MAX_IMAGES {
        return Err(CatalogueError::Invalid {
            field: "images",
            problem: format!("at most {MAX_IMAGES} images"),
        });
    }
    let mut files = Vec::with_capacity(uploads.len());
    for upload in uploads {
        let bytes = upload
            .into_vec()
            .await
            .map_err(|e| CatalogueError::UnreadableUpload(e.to_string()))?;
        let content_type = images::validate("images", &bytes)?;
        files.push((content_type, bytes));
    }
    Ok(files)
}

/// Invalidates the catalogue cache after a commit, before the caller answers. In a
/// task of its own: a request cancelled after its commit (the client gone) still
/// invalidates, so no instance keeps serving what the write replaced.
pub(crate) async fn written(cache: &CatalogueCache) {
    let cache = cache.clone();
    let _ = tokio::spawn(async move { cache.invalidate().await }).await;
}

/// Creates a product (in its `status`: draft or published) with its images,
/// validated first (by their bytes), all in one transaction with its
/// `product.create` audit row.
pub async fn create(
    db: &DatabaseConnection,
    cache: &CatalogueCache,
    by: &Author,
    product: &NewProduct,
    uploads: Vec<Upload>,
) -> Result<Product, CatalogueError> {
    let files = read_images(uploads).await?;
    let txn = db.begin().await?;
    let id = repo::insert(&txn, product).await?;
    for (position, (content_type, bytes)) in files.into_iter().enumerate() {
        repo::insert_image(&txn, id, content_type, bytes, position as i32).await?;
    }
    let created = repo::by_id(&txn, id)
        .await?
        .ok_or(CatalogueError::Invariant(format!(
            "product {id} is gone after its insert"
        )))?;
    audit::record(
        &txn,
        by.entry("product.create", id)
            .after(ProductView::from(created.clone())),
    )
    .await?;
    txn.commit().await?;
    written(cache).await;
    tracing::info!(product_id = %id, status = product.status.as_str(), "product created");
    Ok(created)
}

/// Writes many validated products (each in its own status) in one transaction with
/// one `product.import` audit row listing their ids; returns the ids.
pub async fn import(
    db: &DatabaseConnection,
    cache: &CatalogueCache,
    by: &Author,
    rows: &[NewProduct],
) -> Result<Vec<Uuid>, CatalogueError> {
    let txn = db.begin().await?;
    let ids = repo::insert_many(&txn, rows).await?;
    let count = |status: ProductStatus| rows.iter().filter(|r| r.status == status).count();
    // One row per import, not per product: an import of 20,000 rows stays one
    // statement of audit, and the ids name every product it made.
    audit::record(
        &txn,
        by.entry("product.import", Uuid::now_v7()).after(json!({
            "created": ids.len(),
            "published": count(ProductStatus::Published),
            "draft": count(ProductStatus::Draft),
            "ids": ids,
        })),
    )
    .await?;
    txn.commit().await?;
    written(cache).await;
    tracing::info!(created = ids.len(), "bulk import");
    Ok(ids)
}

/// Applies `patch` to product `id` if it is still at `version` (else 409
/// `VERSION_CONFLICT`), with a `product.update` audit row holding the product before
/// and after.
pub async fn update(
    db: &DatabaseConnection,
    cache: &CatalogueCache,
    by: &Author,
    id: Uuid,
    version: i32,
    patch: &ProductPatch,
) -> Result<Product, CatalogueError> {
    let txn = db.begin().await?;
    // Locked: the audit's `before` is the row this update changes, whatever runs
    // beside it.
    let before = repo::locked(&txn, id)
        .await?
        .ok_or(CatalogueError::ProductNotFound)?;
    let product = match repo::update(&txn, id, version, patch).await? {
        Versioned::Written(product) => *product,
        Versioned::Missing => return Err(CatalogueError::ProductNotFound),
        Versioned::Stale(current) => return Err(CatalogueError::VersionConflict { current }),
    };
    audit::record(
        &txn,
        by.entry("product.update", id)
            .before(ProductView::from(before))
            .after(ProductView::from(product.clone())),
    )
    .await?;
    txn.commit().await?;
    written(cache).await;
    Ok(product)
}

/// Moves product `id` by `t` (one conditional `UPDATE`), with a `product.<verb>`
/// audit row holding the status before and after. 404 when missing; 409
/// `PRODUCT_STATE_CONFLICT` naming its status when `t` does not start from it.
pub async fn transition(
    db: &DatabaseConnection,
    cache: &CatalogueCache,
    by: &Author,
    id: Uuid,
    t: Transition,
) -> Result<Product, CatalogueError> {
    let txn = db.begin().await?;
    let (before, product) = match repo::transition(&txn, id, t).await? {
        Moved::Done(before, product) => (before, *product),
        Moved::Missing => return Err(CatalogueError::ProductNotFound),
        Moved::Conflict(current) => {
            return Err(CatalogueError::StateConflict {
                transition: t,
                current,
            });
        }
    };
    audit::record(
        &txn,
        by.entry(t.action(), id)
            .before(json!({ "status": before.as_str() }))
            .after(json!({ "status": product.status.as_str() })),
    )
    .await?;
    txn.commit().await?;
    written(cache).await;
    tracing::info!(product_id = %id, from = before.as_str(), to = product.status.as_str(), "product status changed");
    Ok(product)
}

/// `DELETE /api/admin/products/{id}`: archives the product, and answers the same
/// when it is archived already (the route is idempotent, as `DELETE` is); only an
/// actual move is audited.
pub async fn archive_idempotent(
    db: &DatabaseConnection,
    cache: &CatalogueCache,
    by: &Author,
    id: Uuid,
) -> Result<(), CatalogueError> {
    match transition(db, cache, by, id, Transition::Archive).await {
        Ok(_)
        | Err(CatalogueError::StateConflict {
            current: ProductStatus::Archived,
            ..
        }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Adds `delta` to the stock of `id` and records the movement in the inventory
/// ledger and the audit log (`product.stock`, stock before and after, with the
/// reason), in one transaction; the product as it now is.
pub async fn adjust_stock(
    db: &DatabaseConnection,
    cache: &CatalogueCache,
    by: &Author,
    id: Uuid,
    delta: i32,
    reason: &str,
) -> Result<Product, CatalogueError> {
    let txn = db.begin().await?;
    let product = match repo::adjust_stock(&txn, id, delta, reason, by.admin).await? {
        StockChange::Applied(product) => *product,
        StockChange::Missing => return Err(CatalogueError::ProductNotFound),
        StockChange::Insufficient(available) => {
            return Err(CatalogueError::StockBelowZero {
                product_id: id,
                available,
            });
        }
        StockChange::TooMuch(stock) => {
            return Err(CatalogueError::StockLimit {
                product_id: id,
                stock,
            });
        }
    };
    audit::record(
        &txn,
        by.entry("product.stock", id)
            .before(json!({ "stock": product.stock - delta }))
            .after(json!({ "stock": product.stock, "delta": delta, "reason": reason })),
    )
    .await?;
    txn.commit().await?;
    written(cache).await;
    Ok(product)
}
