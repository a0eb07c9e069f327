//! Creating the admin account from `ADMIN_EMAIL` / `ADMIN_PASSWORD`.
//!
//! Idempotent: the account is created verified with role `admin`, or an existing one
//! is promoted and given the configured password, so the environment stays the truth.
//! Setting the password also lifts a login lock on the account: an operator who sets
//! the admin password must be able to log in with it at once. It also ends every
//! session of the account (token version bumped, refresh tokens revoked, the new
//! version published to every instance): rotating the admin password locks out
//! whoever held the old one.

use anyhow::Context;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement, TransactionTrait,
};

use crate::{
    auth::{self, authz::publish_authz, throttle},
    configuration,
    entities::users,
    password,
    telemetry::mask_email,
};

/// Creates or updates the admin account from the environment.
pub async fn ensure_admin_from_env(
    db: &sea_orm::DatabaseConnection,
    redis: &mut redis::aio::ConnectionManager,
) -> anyhow::Result<()> {
    let email: String = configuration::required("ADMIN_EMAIL")?;
    let password: String = configuration::required("ADMIN_PASSWORD")?;
    let cost: u32 = configuration::optional("BCRYPT_COST", 11)?;
    let email = email.trim().to_lowercase();
    anyhow::ensure!(
        email.contains('@'),
        "invalid environment variable ADMIN_EMAIL: not an e-mail address"
    );
    let min_chars: usize =
        configuration::optional("PASSWORD_MIN_LENGTH", password::DEFAULT_MIN_PASSWORD_CHARS)?;
    password::Policy { min_chars }
        .validate(&password)
        .map_err(|e| anyhow::anyhow!("invalid environment variable ADMIN_PASSWORD: {e}"))?;
    let hasher = password::Hasher::new(cost, 1);
    // Unchanged (the stack runs this on every start): nothing to rotate, and the
    // admin's live sessions stay.
    let current = users::Entity::find()
        .filter(users::Column::Email.eq(email.as_str()))
        .filter(users::Column::Role.eq("admin"))
        .filter(users::Column::IsVerified.eq(true))
        .one(db)
        .await
        .context("reading the admin account")?;
    if let Some(row) = current
        && hasher
            .verify(password.clone(), row.password_hash)
            .await
            .unwrap_or(false)
    {
        throttle::forget_account_failures(redis, &email)
            .await
            .context("clearing the admin account's failed logins in Redis")?;
        tracing::info!(email = %mask_email(&email), "admin account ready (unchanged)");
        return Ok(());
    }
    let hash = hasher.hash(password).await?;
    let txn = db
        .begin()
        .await
        .context("starting the admin account's transaction")?;
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO users (id, email, password_hash, name, role, is_verified)
             VALUES (gen_random_uuid(), $1, $2, 'Administrator', 'admin', TRUE)
             ON CONFLICT (email) DO UPDATE
               SET password_hash = EXCLUDED.password_hash, role = 'admin',
                   is_verified = TRUE, token_version = users.token_version + 1,
                   updated_at = now()
             RETURNING id, token_version",
            [email.clone().into(), hash.into()],
        ))
        .await
        .context("writing the admin account")?
        .context("the admin account was not written")?;
    let id: uuid::Uuid = row.try_get_by_index(0)?;
    let version: i32 = row.try_get_by_index(1)?;
    auth::users::revoke_all_refresh(&txn, id)
        .await
        .context("revoking the admin account's sessions")?;
    txn.commit().await.context("committing the admin account")?;
    publish_authz(redis, id, version, "admin")
        .await
        .context("publishing the admin account's session version to Redis")?;
    throttle::forget_account_failures(redis, &email)
        .await
        .context("clearing the admin account's failed logins in Redis")?;
    tracing::info!(email = %mask_email(&email), "admin account ready");
    Ok(())
}
