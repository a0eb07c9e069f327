//! The `users` table (`m20261122_000001_foundation`, `token_version` from
//! `m20261202_000008_security`).
//!
//! Invariant: the fields mirror the migrated columns exactly (names, types,
//! nullability); the constraints (lower-case unique e-mail, known role, bcrypt hash)
//! and the role-change trigger live in the database, not here.

use sea_orm::entity::prelude::*;

/// A row of `users` (its `Debug` hides the password hash).
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// `UUID PRIMARY KEY` (UUIDv7, made by the API).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `TEXT NOT NULL UNIQUE`, lower-cased.
    #[sea_orm(column_type = "Text", unique)]
    pub email: String,
    /// `TEXT NOT NULL`, a bcrypt hash.
    #[sea_orm(column_type = "Text")]
    pub password_hash: String,
    /// `TEXT NOT NULL`, 1 to 100 characters.
    #[sea_orm(column_type = "Text")]
    pub name: String,
    /// `TEXT NOT NULL DEFAULT 'customer'`: `customer` or `admin`.
    #[sea_orm(column_type = "Text", default_value = "customer")]
    pub role: String,
    /// `BOOLEAN NOT NULL DEFAULT FALSE`.
    #[sea_orm(default_value = false)]
    pub is_verified: bool,
    /// `TIMESTAMPTZ NOT NULL DEFAULT now()`.
    pub created_at: DateTimeUtc,
    /// `TIMESTAMPTZ NOT NULL DEFAULT now()`.
    pub updated_at: DateTimeUtc,
    /// `INTEGER NOT NULL DEFAULT 0`, bumped by every password or role change.
    #[sea_orm(default_value = 0)]
    pub token_version: i32,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("is_verified", &self.is_verified)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("token_version", &self.token_version)
            .finish()
    }
}

/// What `users` is referenced by.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The user's refresh tokens (`ON DELETE CASCADE`).
    #[sea_orm(has_many = "super::refresh_tokens::Entity")]
    RefreshTokens,
}

impl Related<super::refresh_tokens::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RefreshTokens.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
