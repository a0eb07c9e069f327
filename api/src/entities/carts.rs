//! `carts` (migration `m20261122_000004_orders`): at most one per user (`UNIQUE
//! (user_id)`), deleted with the user. Its row is the lock that serializes the cart
//! writes and orders of one user.

use sea_orm::entity::prelude::*;

/// A cart row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "carts")]
pub struct Model {
    /// Id (UUID v7, chosen by the API).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Its owner (unique).
    #[sea_orm(unique)]
    pub user_id: Uuid,
    /// Creation time (default now).
    pub created_at: DateTimeUtc,
    /// Last change (default now).
    pub updated_at: DateTimeUtc,
}

/// Relations of a cart.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Its lines.
    #[sea_orm(has_many = "super::cart_items::Entity")]
    CartItems,
}

impl Related<super::cart_items::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CartItems.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
