//! `product_images` (migration `m20261122_000003_catalogue`): the bytes of an image
//! (1 byte to 5 MiB, JPEG, PNG or WebP) and their SHA-256 (lowercase hex, the ETag);
//! deleted with their product.

use sea_orm::entity::prelude::*;

/// An image row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "product_images")]
pub struct Model {
    /// Id (UUID v7, chosen by the API).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The product.
    pub product_id: Uuid,
    /// `image/jpeg`, `image/png` or `image/webp`.
    pub content_type: String,
    /// The image.
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`, lowercase hex.
    pub sha256: String,
    /// Order among the product's images, first is the main one (default 0).
    pub position: i32,
    /// Upload time (default now).
    pub created_at: DateTimeUtc,
}

/// Relations of an image.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Its product.
    #[sea_orm(
        belongs_to = "super::products::Entity",
        from = "Column::ProductId",
        to = "super::products::Column::Id",
        on_delete = "Cascade"
    )]
    Product,
}

impl Related<super::products::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Product.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
