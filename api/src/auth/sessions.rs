//! Sessions: a refresh-token family per login, rotated on every refresh, ended by a
//! logout, by the reuse of a rotated token, or by a new password or role.
//!
//! Invariants: a refresh token is stored only as its SHA-256 and is single use; a
//! rotated one presented again after the grace window revokes its whole family; a
//! session lives at most `refresh_max_age` from its login, however often rotated; a
//! revoked session's access tokens are refused on every instance (`revoked:sid:*` in
//! Redis) until they expire.

use chrono::Utc;
use rand::{RngCore, TryRngCore};
use redis::aio::ConnectionManager;
use sea_orm::{DatabaseConnection, TransactionTrait};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    error::{AuthError, redis_down},
    jwt::Claims,
    keys,
    service::{Auth, IssuedTokens, read},
    users::{self, User},
};

fn hash_refresh(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl Auth {
    /// A new session (refresh-token family) for `user`.
    pub(super) async fn start_session(
        &self,
        txn: &impl sea_orm::ConnectionTrait,
        user: User,
    ) -> Result<IssuedTokens, AuthError> {
        self.tokens_in_family(txn, user, Uuid::now_v7(), Utc::now())
            .await
    }

    async fn tokens_in_family(
        &self,
        txn: &impl sea_orm::ConnectionTrait,
        user: User,
        family: Uuid,
        session_started_at: chrono::DateTime<Utc>,
    ) -> Result<IssuedTokens, AuthError> {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.unwrap_err().fill_bytes(&mut raw);
        let refresh_token = hex::encode(raw);
        let sliding = Utc::now()
            + chrono::Duration::from_std(self.settings.refresh_ttl)
                .unwrap_or(chrono::Duration::days(30));
        let absolute = session_started_at
            + chrono::Duration::from_std(self.settings.refresh_max_age)
                .unwrap_or(chrono::Duration::days(90));
        users::insert_refresh(
            txn,
            user.id,
            family,
            hash_refresh(&refresh_token),
            sliding.min(absolute),
            session_started_at,
            user.token_version,
        )
        .await?;
        let (access_token, _) = self
            .keys
            .issue(user.id, &user.role, family, user.token_version)
            .map_err(AuthError::Internal)?;
        Ok(IssuedTokens {
            access_token,
            refresh_token,
            expires_in: self.keys.ttl().as_secs(),
            user,
        })
    }

    /// Rotates a refresh token. A rotated one presented again within the grace
    /// window (two tabs refreshing at once) is refused and the session kept; later,
    /// or a revoked one, revokes its whole family.
    pub async fn refresh(
        &self,
        db: &DatabaseConnection,
        redis: &mut ConnectionManager,
        refresh_token: &str,
    ) -> Result<IssuedTokens, AuthError> {
        if refresh_token.is_empty() || refresh_token.len() > 256 {
            return Err(AuthError::InvalidRefreshToken);
        }
        let txn = db.begin().await?;
        let Some(row) = users::refresh_for_update(&txn, hash_refresh(refresh_token)).await? else {
            return Err(AuthError::InvalidRefreshToken);
        };
        let grace = chrono::Duration::from_std(self.settings.refresh_reuse_grace)
            .unwrap_or(chrono::Duration::seconds(5));
        if let (Some(used), None) = (row.used_at, row.revoked_at)
            && Utc::now() - used <= grace
        {
            txn.rollback().await?;
            return Err(AuthError::RefreshTokenRotated);
        }
        if row.used_at.is_some() || row.revoked_at.is_some() {
            users::revoke_family(&txn, row.family_id).await?;
            txn.commit().await?;
            self.deny_session(redis, row.family_id).await?;
            tracing::warn!(user_id = %row.user_id, family = %row.family_id, "refresh token reuse: session revoked");
            return Err(AuthError::RefreshTokenReused);
        }
        let max_age = chrono::Duration::from_std(self.settings.refresh_max_age)
            .unwrap_or(chrono::Duration::days(90));
        if row.expires_at < Utc::now() || row.session_started_at + max_age <= Utc::now() {
            return Err(AuthError::InvalidRefreshToken);
        }
        let user = users::by_id(&txn, row.user_id)
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        if row.token_version != user.token_version {
            // Issued under a password or role that has changed since (a login racing
            // the change): the session ends now.
            users::revoke_family(&txn, row.family_id).await?;
            txn.commit().await?;
            return Err(AuthError::InvalidRefreshToken);
        }
        users::mark_refresh_used(&txn, row.id).await?;
        let tokens = self
            .tokens_in_family(&txn, user, row.family_id, row.session_started_at)
            .await?;
        txn.commit().await?;
        Ok(tokens)
    }

    /// Ends the session of `claims` on every instance.
    pub async fn logout(
        &self,
        db: &DatabaseConnection,
        redis: &mut ConnectionManager,
        claims: &Claims,
    ) -> Result<(), AuthError> {
        users::revoke_family(db, claims.sid).await?;
        self.deny_session(redis, claims.sid).await
    }

    /// Makes every instance refuse the access tokens of session `sid` until they expire.
    async fn deny_session(
        &self,
        redis: &mut ConnectionManager,
        sid: Uuid,
    ) -> Result<(), AuthError> {
        let ttl = self.keys.ttl().as_secs() + 60;
        redis::cmd("SET")
            .arg(keys::revoked_session(sid))
            .arg(1)
            .arg("EX")
            .arg(ttl)
            .query_async::<()>(redis)
            .await
            .map_err(redis_down)
    }

    /// Whether session `sid` was revoked.
    pub async fn session_revoked(
        &self,
        redis: &mut ConnectionManager,
        sid: Uuid,
    ) -> Result<bool, AuthError> {
        read(redis, redis::cmd("EXISTS").arg(keys::revoked_session(sid)))
            .await
            .map_err(redis_down)
    }
}
