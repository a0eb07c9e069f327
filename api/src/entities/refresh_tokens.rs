//! The `refresh_tokens` table (`m20261122_000002_refresh_tokens`,
//! `session_started_at` from `m20261202_000008_security`, `token_version` from
//! `m20261202_000009_refresh_token_version`).
//!
//! Invariant: the fields mirror the migrated columns exactly; a token is stored only
//! as its SHA-256 (`token_hash`, 32 bytes, unique), never in the clear.

use sea_orm::entity::prelude::*;

/// A row of `refresh_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    /// `UUID PRIMARY KEY` (UUIDv7, made by the API).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE`.
    pub user_id: Uuid,
    /// `UUID NOT NULL`: the session (rotation family).
    pub family_id: Uuid,
    /// `BYTEA NOT NULL UNIQUE`: SHA-256 of the token.
    #[sea_orm(unique)]
    pub token_hash: Vec<u8>,
    /// `TIMESTAMPTZ NOT NULL DEFAULT now()`.
    pub created_at: DateTimeUtc,
    /// `TIMESTAMPTZ NOT NULL`.
    pub expires_at: DateTimeUtc,
    /// `TIMESTAMPTZ NULL`: set when rotated.
    pub used_at: Option<DateTimeUtc>,
    /// `TIMESTAMPTZ NULL`: set when the family was revoked.
    pub revoked_at: Option<DateTimeUtc>,
    /// `TIMESTAMPTZ NOT NULL DEFAULT now()`: when the family's first login was.
    pub session_started_at: DateTimeUtc,
    /// `INTEGER NOT NULL DEFAULT 0`: the user's token version at issue.
    #[sea_orm(default_value = 0)]
    pub token_version: i32,
}

/// What `refresh_tokens` references.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The owner.
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
