//! Roles and token versions: what every instance checks an access token against.
//!
//! Invariant: a change (role, password) bumps the user's token version in PostgreSQL
//! first, then publishes `ver|role` to Redis (`authz:{user}`), never replacing a newer
//! version; instances trust a published value for at most `AUTHZ_CACHE_SECS`.

use redis::aio::ConnectionManager;
use sea_orm::{DatabaseConnection, TransactionTrait};
use uuid::Uuid;

use super::{
    error::{AuthError, redis_down},
    keys,
    service::{Auth, read},
    users::{self, User},
};

/// How long the role and token version read for a user are trusted from Redis. A
/// change through the API publishes the new ones at once; this bounds a lost
/// publication and a change made in the database directly (SQL by an operator).
const AUTHZ_CACHE_SECS: u64 = 30;

/// Stores `ver|role` for `user` unless a newer version is stored already, so a reader
/// that loaded an old row cannot overwrite what a change just published.
const PUBLISH_AUTHZ_SCRIPT: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%-?%d+)|'))
  if v and v > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return 1
";

impl Auth {
    /// Sets the role of `user` (`customer` or `admin`): the token version is bumped
    /// (by the database's trigger) and every refresh token revoked in one
    /// transaction, then every instance is told, so the user's sessions end at their
    /// next request. An admin cannot change their own role (no shop loses its last
    /// admin by a slip). `None` when there is no such user.
    pub async fn set_role(
        &self,
        db: &DatabaseConnection,
        redis: &mut ConnectionManager,
        by: Uuid,
        user: Uuid,
        role: &str,
    ) -> Result<Option<User>, AuthError> {
        if by == user {
            return Err(AuthError::OwnRole);
        }
        let txn = db.begin().await?;
        let Some(changed) = users::set_role(&txn, user, role).await? else {
            txn.rollback().await?;
            return Ok(None);
        };
        if changed.1 {
            users::revoke_all_refresh(&txn, user).await?;
        }
        txn.commit().await?;
        self.publish_authz(redis, &changed.0).await;
        tracing::info!(user_id = %user, by = %by, role, "role set");
        Ok(Some(changed.0))
    }

    /// Tells every instance the user's current role and token version.
    pub(super) async fn publish_authz(&self, redis: &mut ConnectionManager, user: &User) {
        if let Err(e) = publish_authz(redis, user.id, user.token_version, &user.role).await {
            // Instances then trust their cached value for at most AUTHZ_CACHE_SECS.
            tracing::warn!(error = %e, user_id = %user.id, "publishing the session version failed");
        }
    }

    /// The role and token version the server holds for `user` now: from Redis, or
    /// from PostgreSQL (then cached). `None` when the user no longer exists.
    pub async fn current_authz(
        &self,
        db: &DatabaseConnection,
        redis: &mut ConnectionManager,
        user: Uuid,
    ) -> Result<Option<users::Authz>, AuthError> {
        let cached: Option<String> = read(redis, redis::cmd("GET").arg(keys::authz(user)))
            .await
            .map_err(redis_down)?;
        if let Some((ver, role)) = cached.as_deref().and_then(|c| c.split_once('|'))
            && let Ok(token_version) = ver.parse()
        {
            return Ok(Some(users::Authz {
                role: role.to_owned(),
                token_version,
            }));
        }
        let Some(authz) = users::authz(db, user).await? else {
            return Ok(None);
        };
        let _ = publish_authz(redis, user, authz.token_version, &authz.role).await;
        Ok(Some(authz))
    }
}

/// Publishes `ver|role` of `user` to every instance (never replacing a newer one).
pub async fn publish_authz(
    redis: &mut ConnectionManager,
    user: Uuid,
    ver: i32,
    role: &str,
) -> redis::RedisResult<()> {
    let _: i64 = redis::Script::new(PUBLISH_AUTHZ_SCRIPT)
        .key(keys::authz(user))
        .arg(ver)
        .arg(role)
        .arg(AUTHZ_CACHE_SECS)
        .invoke_async(redis)
        .await?;
    Ok(())
}
