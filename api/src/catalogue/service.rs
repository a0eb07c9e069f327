//! Catalogue writes that own their transaction, shared by the admin and the legacy
//! routes. Every write commits, then the caller invalidates the catalogue cache
//! before answering (see [`product_after_write`]), so when an admin hears "done",
//! every instance lists the change.

use poem_openapi::types::multipart::Upload;
use sea_orm::{DatabaseConnection, TransactionTrait};
use uuid::Uuid;

use super::{
    cache::CatalogueCache,
    error::CatalogueError,
    images,
    model::{NewProduct, Product},
    repo::{self, StockChange},
};

/// Most images in one upload.
pub const MAX_IMAGES: usize = 8;

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

/// Validates every image, then writes the product and its images in one transaction.
pub async fn create_with_images(
    db: &DatabaseConnection,
    product: &NewProduct,
    uploads: Vec<Upload>,
) -> Result<Uuid, CatalogueError> {
    let files = read_images(uploads).await?;
    let txn = db.begin().await?;
    let id = repo::insert(&txn, product).await?;
    for (position, (content_type, bytes)) in files.into_iter().enumerate() {
        repo::insert_image(&txn, id, content_type, bytes, position as i32).await?;
    }
    txn.commit().await?;
    tracing::info!(product_id = %id, "product uploaded");
    Ok(id)
}

/// Writes many validated products in one transaction; returns how many.
pub async fn import(db: &DatabaseConnection, rows: &[NewProduct]) -> Result<u64, CatalogueError> {
    let txn = db.begin().await?;
    let created = repo::insert_many(&txn, rows).await?;
    txn.commit().await?;
    Ok(created)
}

/// Adds `delta` to the stock of `id` and records the movement (by admin `by`), in one
/// transaction; the product as it now is.
pub async fn adjust_stock(
    db: &DatabaseConnection,
    id: Uuid,
    delta: i32,
    reason: &str,
    by: Uuid,
) -> Result<Product, CatalogueError> {
    let txn = db.begin().await?;
    match repo::adjust_stock(&txn, id, delta, reason, by).await? {
        StockChange::Applied(product) => {
            txn.commit().await?;
            Ok(*product)
        }
        StockChange::Missing => Err(CatalogueError::ProductNotFound),
        StockChange::Insufficient(available) => Err(CatalogueError::StockBelowZero {
            product_id: id,
            available,
        }),
        StockChange::TooMuch(stock) => Err(CatalogueError::StockLimit {
            product_id: id,
            stock,
        }),
    }
}

/// After a product was written: invalidates the catalogue cache (before the answer,
/// so every instance shows it at once) and reads the product back.
pub async fn product_after_write(
    db: &DatabaseConnection,
    cache: &CatalogueCache,
    id: Uuid,
) -> Result<Product, CatalogueError> {
    cache.invalidate().await;
    repo::by_id(db, id)
        .await?
        .ok_or(CatalogueError::ProductNotFound)
}
