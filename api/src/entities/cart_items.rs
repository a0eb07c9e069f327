//! `cart_items` (migration `m20261122_000004_orders`): one line per product of a
//! cart (`UNIQUE (cart_id, product_id)`), quantity 1 to 1000, deleted with the cart.

use sea_orm::entity::prelude::*;

/// A cart line row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cart_items")]
pub struct Model {
    /// Id (UUID v7, chosen by the API).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The cart.
    pub cart_id: Uuid,
    /// The product.
    pub product_id: Uuid,
    /// Units, 1 to 1000.
    pub quantity: i32,
    /// When the line was first added (default now): lines list oldest first.
    pub added_at: DateTimeUtc,
    /// Last change (default now).
    pub updated_at: DateTimeUtc,
}

/// Relations of a cart line.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Its cart.
    #[sea_orm(
        belongs_to = "super::carts::Entity",
        from = "Column::CartId",
        to = "super::carts::Column::Id",
        on_delete = "Cascade"
    )]
    Cart,
    /// Its product.
    #[sea_orm(
        belongs_to = "super::products::Entity",
        from = "Column::ProductId",
        to = "super::products::Column::Id"
    )]
    Product,
}

impl Related<super::carts::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Cart.def()
    }
}

impl Related<super::products::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Product.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
