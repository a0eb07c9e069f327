//! `products` (migration `m20261122_000003_catalogue`). A foreign key holds
//! `category` to a category code (`categories.code`, migration 0013); `CHECK`s hold
//! `status` to `draft`/`published`/`archived`, `stock` to `0..=1_000_000_000`;
//! `version` counts the edits `PATCH` makes, not stock moves.

use sea_orm::entity::prelude::*;

/// A product row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "products")]
pub struct Model {
    /// Id (UUID v7, chosen by the API).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Name, 1 to 200 characters.
    pub name: String,
    /// Description, at most 5000 characters (default empty).
    pub description: String,
    /// Price in cents, 0 to 100,000,000.
    pub price_cents: i64,
    /// ISO 4217 code (default `USD`).
    pub currency: String,
    /// The code of its category (`categories.code`), e.g. `STAPLES`.
    pub category: String,
    /// Units in stock.
    pub stock: i32,
    /// Low-stock threshold (default 5).
    pub low_stock_threshold: i32,
    /// `active` (default) or `archived`.
    pub status: String,
    /// Optimistic-concurrency version (default 1).
    pub version: i32,
    /// Creation time (default now).
    pub created_at: DateTimeUtc,
    /// Last change (default now).
    pub updated_at: DateTimeUtc,
}

/// Relations of a product.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Its images.
    #[sea_orm(has_many = "super::product_images::Entity")]
    ProductImages,
    /// The cart lines holding it.
    #[sea_orm(has_many = "super::cart_items::Entity")]
    CartItems,
}

impl Related<super::product_images::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ProductImages.def()
    }
}

impl Related<super::cart_items::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CartItems.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
