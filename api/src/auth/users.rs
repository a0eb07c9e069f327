//! Users and refresh tokens in PostgreSQL.
//!
//! Plain lookups and inserts go through the entities (`crate::entities`); the
//! conditional updates, the upsert of a pending account and the locking read of a
//! refresh token stay SQL, where each condition is visible in one statement.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult,
    QueryFilter,
};
use uuid::Uuid;

use crate::{
    entities::{refresh_tokens, users},
    sql::stmt,
};

/// A user row (its `Debug` hides the password hash).
#[derive(Clone, FromQueryResult)]
pub struct User {
    /// Id.
    pub id: Uuid,
    /// Lower-cased e-mail.
    pub email: String,
    /// bcrypt hash.
    pub password_hash: String,
    /// Display name.
    pub name: String,
    /// `customer` or `admin`.
    pub role: String,
    /// Whether the e-mail was verified by OTP.
    pub is_verified: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Bumped whenever the password or role changes; access tokens of an older
    /// version are refused.
    pub token_version: i32,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("is_verified", &self.is_verified)
            .field("created_at", &self.created_at)
            .field("token_version", &self.token_version)
            .finish()
    }
}

impl From<users::Model> for User {
    fn from(row: users::Model) -> Self {
        Self {
            id: row.id,
            email: row.email,
            password_hash: row.password_hash,
            name: row.name,
            role: row.role,
            is_verified: row.is_verified,
            created_at: row.created_at,
            token_version: row.token_version,
        }
    }
}

const USER_COLUMNS: &str =
    "id, email, password_hash, name, role, is_verified, created_at, token_version";

/// The user with this e-mail.
pub async fn by_email(db: &impl ConnectionTrait, email: &str) -> Result<Option<User>, DbErr> {
    let row = users::Entity::find()
        .filter(users::Column::Email.eq(email))
        .one(db)
        .await?;
    Ok(row.map(User::from))
}

/// The user with this id.
pub async fn by_id(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<User>, DbErr> {
    let row = users::Entity::find_by_id(id).one(db).await?;
    Ok(row.map(User::from))
}

/// The pending (unverified) account of `email`, created with these credentials if
/// the address has no account yet; an existing pending row is returned unchanged (a
/// later registration never rewrites it). `None` when the address belongs to a
/// verified account.
pub async fn ensure_pending(
    db: &impl ConnectionTrait,
    email: &str,
    name: &str,
    password_hash: &str,
) -> Result<Option<User>, DbErr> {
    User::find_by_statement(stmt(
        &format!(
            "INSERT INTO users (id, email, password_hash, name) VALUES ($1, $2, $3, $4)
             ON CONFLICT (email) DO UPDATE SET email = users.email
               WHERE users.is_verified = FALSE
             RETURNING {USER_COLUMNS}"
        ),
        vec![
            Uuid::now_v7().into(),
            email.into(),
            password_hash.into(),
            name.into(),
        ],
    ))
    .one(db)
    .await
}

/// Verifies the pending account of `email` with the credentials of the attempt whose
/// code was proven. `None` when there is no pending account (it was verified by then).
pub async fn verify_with(
    db: &impl ConnectionTrait,
    email: &str,
    password_hash: &str,
    name: &str,
) -> Result<Option<User>, DbErr> {
    User::find_by_statement(stmt(
        &format!(
            "UPDATE users SET password_hash = $2, name = $3, is_verified = TRUE,
                    token_version = token_version + 1, updated_at = now()
             WHERE email = $1 AND NOT is_verified
             RETURNING {USER_COLUMNS}"
        ),
        vec![email.into(), password_hash.into(), name.into()],
    ))
    .one(db)
    .await
}

/// Sets a new password and bumps the token version (every older access token of the
/// user stops working). Returns the updated user.
pub async fn set_password(
    db: &impl ConnectionTrait,
    id: Uuid,
    password_hash: &str,
) -> Result<Option<User>, DbErr> {
    User::find_by_statement(stmt(
        &format!(
            "UPDATE users SET password_hash = $2, token_version = token_version + 1,
                    updated_at = now()
             WHERE id = $1 RETURNING {USER_COLUMNS}"
        ),
        vec![id.into(), password_hash.into()],
    ))
    .one(db)
    .await
}

/// Sets the role of user `id`; returns the user and whether the role changed (the
/// database's trigger then bumped the token version).
pub async fn set_role(
    db: &impl ConnectionTrait,
    id: Uuid,
    role: &str,
) -> Result<Option<(User, bool)>, DbErr> {
    let Some(before) = by_id(db, id).await? else {
        return Ok(None);
    };
    let after = User::find_by_statement(stmt(
        &format!(
            "UPDATE users SET role = $2, updated_at = now() WHERE id = $1 RETURNING {USER_COLUMNS}"
        ),
        vec![id.into(), role.into()],
    ))
    .one(db)
    .await?;
    Ok(after.map(|u| {
        let changed = u.role != before.role;
        (u, changed)
    }))
}

/// The role and token version of user `id`, as sessions are checked against.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Authz {
    /// `customer` or `admin`.
    pub role: String,
    /// The current token version.
    pub token_version: i32,
}

/// The role and token version of user `id`.
pub async fn authz(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<Authz>, DbErr> {
    Authz::find_by_statement(stmt(
        "SELECT role, token_version FROM users WHERE id = $1",
        vec![id.into()],
    ))
    .one(db)
    .await
}

/// Revokes every refresh token of user `id` (every session).
pub async fn revoke_all_refresh(db: &impl ConnectionTrait, id: Uuid) -> Result<u64, DbErr> {
    let r = db
        .execute_raw(stmt(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
            vec![id.into()],
        ))
        .await?;
    Ok(r.rows_affected())
}

/// Replaces the password hash (cost upgrade).
pub async fn set_password_hash(
    db: &impl ConnectionTrait,
    id: Uuid,
    hash: &str,
) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
        vec![id.into(), hash.into()],
    ))
    .await?;
    Ok(())
}

/// A refresh token row.
#[derive(Debug, Clone, FromQueryResult)]
pub struct RefreshToken {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Session (rotation family).
    pub family_id: Uuid,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Set when rotated.
    pub used_at: Option<DateTime<Utc>>,
    /// Set when the family was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the session (the family's first login) began.
    pub session_started_at: DateTime<Utc>,
    /// The user's token version when this token was issued.
    pub token_version: i32,
}

/// Stores a refresh token by its SHA-256.
pub async fn insert_refresh(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    family_id: Uuid,
    token_hash: Vec<u8>,
    expires_at: DateTime<Utc>,
    session_started_at: DateTime<Utc>,
    token_version: i32,
) -> Result<(), DbErr> {
    refresh_tokens::Entity::insert(refresh_tokens::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        family_id: Set(family_id),
        token_hash: Set(token_hash),
        expires_at: Set(expires_at),
        session_started_at: Set(session_started_at),
        token_version: Set(token_version),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The refresh token with this hash, locked for the rotation.
pub async fn refresh_for_update(
    db: &impl ConnectionTrait,
    token_hash: Vec<u8>,
) -> Result<Option<RefreshToken>, DbErr> {
    RefreshToken::find_by_statement(stmt(
        "SELECT id, user_id, family_id, expires_at, used_at, revoked_at, session_started_at,
                token_version
         FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
        vec![token_hash.into()],
    ))
    .one(db)
    .await
}

/// Marks a token rotated.
pub async fn mark_refresh_used(db: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        "UPDATE refresh_tokens SET used_at = now() WHERE id = $1",
        vec![id.into()],
    ))
    .await?;
    Ok(())
}

/// Revokes every token of a family.
pub async fn revoke_family(db: &impl ConnectionTrait, family_id: Uuid) -> Result<u64, DbErr> {
    let r = db
        .execute_raw(stmt(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
            vec![family_id.into()],
        ))
        .await?;
    Ok(r.rows_affected())
}

#[cfg(test)]
mod tests;
