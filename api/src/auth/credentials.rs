//! Passwords after registration: a reset by mailed code, and a change by the
//! signed-in user who proves the old one.
//!
//! Invariant: a new password ends every session of the user on every instance (token
//! version bumped and refresh tokens revoked in one transaction, then published);
//! the answer to a reset request does not tell whether the address has an account.

use std::net::IpAddr;

use redis::aio::ConnectionManager;
use sea_orm::{DatabaseConnection, TransactionTrait};
use uuid::Uuid;

use super::{
    error::{AuthError, Limit, redis_down},
    jwt::Claims,
    otp::{self, OtpCheck},
    service::{Auth, IssuedTokens},
    throttle::{self, LoginKeys, LoginRefusal},
    users::{self, User},
};
use crate::{
    domain::{Email, NewPassword, OtpCode},
    events::OTP_PURPOSE_RESET,
    password,
    telemetry::mask_email,
};

impl Auth {
    /// Mails a password reset code to a verified account; the same answer (and the
    /// same limits as any code) whether or not the address has one.
    pub async fn forgot_password(
        &self,
        db: &DatabaseConnection,
        redis: &mut ConnectionManager,
        email: Email,
        ip: Option<IpAddr>,
        request_id: Option<String>,
    ) -> Result<(), AuthError> {
        self.allow_code(redis, OTP_PURPOSE_RESET, &email, ip)
            .await?;
        let Some(user) = users::by_email(db, email.as_str())
            .await?
            .filter(|u| u.is_verified)
        else {
            tracing::info!(email = %mask_email(email.as_str()), "password reset for an unknown address ignored");
            return Ok(());
        };
        let code = otp::generate_code();
        otp::store(
            redis,
            &self.settings.otp_secret,
            OTP_PURPOSE_RESET,
            email.as_str(),
            &code,
            self.settings.otp_ttl.as_secs(),
        )
        .await
        .map_err(redis_down)?;
        let txn = db.begin().await?;
        self.enqueue_code(
            &txn,
            user.id,
            email.as_str(),
            &code,
            OTP_PURPOSE_RESET,
            request_id,
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Sets a new password with a mailed reset code; every session of the user ends.
    pub async fn reset_password(
        &self,
        db: &DatabaseConnection,
        redis: &mut ConnectionManager,
        email: Email,
        code: OtpCode,
        new_password: NewPassword,
        ip: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        let tries = self
            .reserve_code_try(redis, OTP_PURPOSE_RESET, &email, ip)
            .await?;
        let check = otp::verify(
            redis,
            &self.settings.otp_secret,
            OTP_PURPOSE_RESET,
            email.as_str(),
            code.as_str(),
            self.settings.otp_max_attempts,
        )
        .await
        .map_err(redis_down)?;
        match check {
            OtpCheck::Missing => {
                let _ = throttle::release(redis, &[&tries[1]]).await;
                return Err(AuthError::OtpNotFound);
            }
            OtpCheck::Wrong { remaining } => return Err(AuthError::OtpInvalid { remaining }),
            OtpCheck::Valid => {}
        }
        let _ = throttle::release(redis, &[&tries[0], &tries[1]]).await;
        let user = users::by_email(db, email.as_str())
            .await?
            .ok_or(AuthError::OtpNotFound)?;
        self.replace_password(db, redis, user.id, new_password)
            .await?;
        // The inbox owner proved themselves: failures counted against them go.
        let _ = throttle::forget_account_failures(redis, email.as_str()).await;
        tracing::info!(user_id = %user.id, "password reset");
        Ok(())
    }

    /// Changes the password of the signed-in user, who proves the old one; every
    /// session ends and a new one starts for this client.
    pub async fn change_password(
        &self,
        db: &DatabaseConnection,
        redis: &mut ConnectionManager,
        claims: &Claims,
        old_password: String,
        new_password: NewPassword,
        ip: Option<IpAddr>,
    ) -> Result<IssuedTokens, AuthError> {
        let user = users::by_id(db, claims.sub)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        // The same limits as a login: a stolen access token must not buy guesses.
        let keys = LoginKeys::new(&user.email, &throttle::ip_bucket(ip));
        if let Err(refusal) = throttle::reserve_login(redis, &keys, &self.login_limits())
            .await
            .map_err(redis_down)?
        {
            let (LoginRefusal::Pair(left)
            | LoginRefusal::Address(left)
            | LoginRefusal::Slowed(left)) = refusal;
            return Err(AuthError::RateLimited {
                limit: Limit::PasswordChecks,
                retry_after: left,
            });
        }
        let ok = old_password.len() <= password::MAX_PASSWORD_BYTES
            && self
                .hasher
                .verify(old_password, user.password_hash.clone())
                .await
                .unwrap_or(false);
        if !ok {
            return Err(AuthError::WrongCurrentPassword);
        }
        let user = self
            .replace_password(db, redis, user.id, new_password)
            .await?;
        // The old password may have been known to others: their usual addresses and
        // the failures go; this address stays the owner's.
        let _ = throttle::forget_account_failures(redis, &user.email).await;
        throttle::login_succeeded(redis, &keys, Some(self.settings.login_known_address_ttl))
            .await
            .map_err(redis_down)?;
        let txn = db.begin().await?;
        let tokens = self.start_session(&txn, user).await?;
        txn.commit().await?;
        Ok(tokens)
    }

    /// Hashes and stores `new_password`, bumps the token version and revokes every
    /// refresh token, in one transaction; then tells every instance.
    async fn replace_password(
        &self,
        db: &DatabaseConnection,
        redis: &mut ConnectionManager,
        user: Uuid,
        new_password: NewPassword,
    ) -> Result<User, AuthError> {
        let hash = self
            .hasher
            .hash(new_password.into_inner())
            .await
            .map_err(AuthError::Internal)?;
        let txn = db.begin().await?;
        let user = users::set_password(&txn, user, &hash)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        users::revoke_all_refresh(&txn, user.id).await?;
        txn.commit().await?;
        self.publish_authz(redis, &user).await;
        Ok(user)
    }
}
