//! Creating the admin account from `ADMIN_EMAIL` / `ADMIN_PASSWORD`.
//!
//! Idempotent: the account is created verified with role `admin`, or an existing one
//! is promoted and given the configured password, so the environment stays the truth.
//! Setting the password also lifts a login lock on the account: an operator who sets
//! the admin password must be able to log in with it at once.

use anyhow::Context;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::{auth::service::login_failures_key, configuration, password, telemetry::mask_email};

/// Creates or updates the admin account from the environment.
pub async fn ensure_admin_from_env(
    db: &impl ConnectionTrait,
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
    password::validate(&password)
        .map_err(|e| anyhow::anyhow!("invalid environment variable ADMIN_PASSWORD: {e}"))?;
    let hash = password::Hasher::new(cost, 1).hash(password).await?;
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO users (id, email, password_hash, name, role, is_verified)
         VALUES (gen_random_uuid(), $1, $2, 'Administrator', 'admin', TRUE)
         ON CONFLICT (email) DO UPDATE
           SET password_hash = EXCLUDED.password_hash, role = 'admin',
               is_verified = TRUE, updated_at = now()",
        [email.clone().into(), hash.into()],
    ))
    .await
    .context("writing the admin account")?;
    crate::auth::throttle::reset(redis, &login_failures_key(&email))
        .await
        .context("clearing the admin account's failed logins in Redis")?;
    tracing::info!(email = %mask_email(&email), "admin account ready");
    Ok(())
}
