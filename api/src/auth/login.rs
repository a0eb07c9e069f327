//! Password login, with the limits shared by every instance (`throttle.rs`).
//!
//! Invariant: an unknown address and a wrong password cost one bcrypt verify each and
//! answer the same; an attempt is counted before the password is judged and given
//! back only on success.

use std::net::IpAddr;

use redis::aio::ConnectionManager;
use sea_orm::{DatabaseConnection, TransactionTrait};

use super::{
    error::{AuthError, Limit, redis_down},
    service::{Auth, IssuedTokens},
    throttle::{self, LoginKeys, LoginRefusal},
    users::{self, User},
};
use crate::{domain::Email, password, telemetry::mask_email};

/// The refusal of a login attempt, in the domain's words.
fn refused(refusal: LoginRefusal) -> AuthError {
    let (limit, retry_after) = match refusal {
        LoginRefusal::Pair(left) => (Limit::LoginsPerPair, left),
        LoginRefusal::Address(left) => (Limit::LoginsPerAddress, left),
        LoginRefusal::Slowed(left) => (Limit::LoginsSlowed, left),
    };
    AuthError::RateLimited { limit, retry_after }
}

impl Auth {
    /// Password login with the limits shared by every instance (module docs).
    pub async fn login(
        &self,
        db: &DatabaseConnection,
        redis: &mut ConnectionManager,
        email: Email,
        password: String,
        ip: Option<IpAddr>,
    ) -> Result<IssuedTokens, AuthError> {
        let keys = LoginKeys::new(email.as_str(), &throttle::ip_bucket(ip));
        throttle::reserve_login(redis, &keys, &self.login_limits())
            .await
            .map_err(redis_down)?
            .map_err(refused)?;

        let user = users::by_email(db, email.as_str()).await?;
        let too_long = password.len() > password::MAX_PASSWORD_BYTES;
        let hash = user
            .as_ref()
            .map_or_else(|| self.dummy_hash.clone(), |u| u.password_hash.clone());
        // Unknown e-mail or not: one bcrypt verify either way. A hash bcrypt cannot
        // read matches nothing.
        let matches = self
            .hasher
            .verify(password.clone(), hash)
            .await
            .unwrap_or(false)
            && !too_long;
        let user = match user {
            Some(user) if matches => user,
            _ => {
                // The reserved attempt stays counted: it was a failure.
                tracing::info!(email = %mask_email(email.as_str()), "login failed");
                return Err(AuthError::InvalidCredentials);
            }
        };
        // Only a verified account's login makes an address its usual one: a stranger
        // holding a pending registration's password must not earn the exemption.
        throttle::login_succeeded(
            redis,
            &keys,
            user.is_verified
                .then_some(self.settings.login_known_address_ttl),
        )
        .await
        .map_err(redis_down)?;
        if !user.is_verified {
            return Err(AuthError::EmailNotVerified);
        }
        self.upgrade_hash(db, &user, password).await?;
        let txn = db.begin().await?;
        let tokens = self.start_session(&txn, user).await?;
        txn.commit().await?;
        Ok(tokens)
    }

    /// Rehashes `password` (just proven right) when `user`'s hash is of a lower cost
    /// than the configured one; a failed rehash is only logged.
    async fn upgrade_hash(
        &self,
        db: &DatabaseConnection,
        user: &User,
        password: String,
    ) -> Result<(), AuthError> {
        if password::hash_cost(&user.password_hash).is_some_and(|c| c < self.hasher.cost()) {
            match self.hasher.hash(password).await {
                Ok(new_hash) => {
                    users::set_password_hash(db, user.id, &new_hash).await?;
                    tracing::info!(user_id = %user.id, cost = self.hasher.cost(), "password hash upgraded");
                }
                Err(e) => tracing::warn!(error = %e, "password rehash failed"),
            }
        }
        Ok(())
    }
}
