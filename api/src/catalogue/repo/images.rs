//! Product images: stored in PostgreSQL so every instance serves them, addressed by
//! [`image_url`], with the SHA-256 of their bytes as a strong ETag.

use std::collections::HashMap;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::ProductRow;
use crate::{
    catalogue::model::{Image, Product, ProductStatus},
    entities::product_images,
    sql::stmt,
};

#[derive(Debug, FromQueryResult)]
struct ImageRow {
    id: Uuid,
    product_id: Uuid,
    content_type: String,
}

/// Attaches image references to rows: the products.
pub async fn with_images(
    db: &impl ConnectionTrait,
    rows: Vec<ProductRow>,
) -> Result<Vec<Product>, DbErr> {
    let mut images: HashMap<Uuid, Vec<Image>> = HashMap::new();
    if !rows.is_empty() {
        // Only the references: never the bytes.
        let found = product_images::Entity::find()
            .select_only()
            .columns([
                product_images::Column::Id,
                product_images::Column::ProductId,
                product_images::Column::ContentType,
            ])
            .filter(product_images::Column::ProductId.is_in(rows.iter().map(|r| r.id)))
            .order_by_asc(product_images::Column::Position)
            .order_by_asc(product_images::Column::CreatedAt)
            .into_model::<ImageRow>()
            .all(db)
            .await?;
        for image in found {
            images.entry(image.product_id).or_default().push(Image {
                url: image_url(image.product_id, image.id),
                id: image.id,
                content_type: image.content_type,
            });
        }
    }
    rows.into_iter()
        .map(|r| {
            let images = images.remove(&r.id).unwrap_or_default();
            product(r, images)
        })
        .collect()
}

/// A row and its images as a [`Product`]. Its category is a code the
/// `categories` table holds (a foreign key).
fn product(r: ProductRow, images: Vec<Image>) -> Result<Product, DbErr> {
    Ok(Product {
        images,
        id: r.id,
        name: r.name,
        description: r.description,
        price_cents: r.price_cents,
        currency: r.currency,
        category: r.category,
        stock: r.stock,
        low_stock_threshold: r.low_stock_threshold,
        status: ProductStatus::parse(&r.status).unwrap_or(ProductStatus::Archived),
        version: r.version,
        created_at: r.created_at,
        updated_at: r.updated_at,
        rating_count: r.rating_count.unwrap_or(0),
        rating_sum: r.rating_sum.unwrap_or(0),
    })
}

/// The path that serves an image.
pub fn image_url(product: Uuid, image: Uuid) -> String {
    format!("/api/products/{product}/images/{image}")
}

/// Stores an image of `product`.
pub async fn insert_image(
    db: &impl ConnectionTrait,
    product: Uuid,
    content_type: &str,
    bytes: Vec<u8>,
    position: i32,
) -> Result<Uuid, DbErr> {
    let id = Uuid::now_v7();
    let sha256 = hex::encode(Sha256::digest(&bytes));
    product_images::Entity::insert(product_images::ActiveModel {
        id: Set(id),
        product_id: Set(product),
        content_type: Set(content_type.to_owned()),
        bytes: Set(bytes),
        sha256: Set(sha256),
        position: Set(position),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(id)
}

/// An image's bytes.
#[derive(Debug, FromQueryResult)]
pub struct ImageBytes {
    /// Content type.
    pub content_type: String,
    /// Bytes.
    pub bytes: Vec<u8>,
    /// SHA-256, hex: the strong ETag.
    pub sha256: String,
}

/// The bytes of image `image` of `product` (only if the product is active): what the
/// image cache loads on a miss.
pub async fn image(
    db: &impl ConnectionTrait,
    product: Uuid,
    image: Uuid,
) -> Result<Option<ImageBytes>, DbErr> {
    ImageBytes::find_by_statement(stmt(
        "SELECT i.content_type, i.bytes, i.sha256 FROM product_images i
         JOIN products p ON p.id = i.product_id AND p.status = 'published'
         WHERE i.id = $1 AND i.product_id = $2",
        vec![image.into(), product.into()],
    ))
    .one(db)
    .await
}

/// The SHA-256 of an image whose product is active, without its bytes: it decides
/// visibility (archived: `None`) and answers 304s before the bytes come from the
/// instance's image cache (`catalogue::image_cache`). The image route reads it
/// through the catalogue cache, so admin writes invalidate it at once.
pub async fn image_etag(
    db: &impl ConnectionTrait,
    product: Uuid,
    image: Uuid,
) -> Result<Option<String>, DbErr> {
    #[derive(FromQueryResult)]
    struct Sha {
        sha256: String,
    }
    Ok(Sha::find_by_statement(stmt(
        "SELECT i.sha256 FROM product_images i
         JOIN products p ON p.id = i.product_id AND p.status = 'published'
         WHERE i.id = $1 AND i.product_id = $2",
        vec![image.into(), product.into()],
    ))
    .one(db)
    .await?
    .map(|s| s.sha256))
}
