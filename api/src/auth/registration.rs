//! Registration: a pending account and a code bound to this attempt, or (for a
//! verified address) nothing at all, with the same answer either way.
//!
//! Invariant: the answer, and its timing (one bcrypt hash), do not tell whether the
//! address is new, pending or taken; the attempt's credentials live in Redis
//! (`attempts.rs`) until its code is proven.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use redis::aio::ConnectionManager;
use sea_orm::{DatabaseConnection, TransactionTrait};
use sha2::Sha256;
use uuid::Uuid;

use super::{
    attempts::{self, Attempt},
    error::{AuthError, redis_down},
    otp,
    service::{Auth, Registered, Registration},
    throttle, users,
};
use crate::{domain::Email, events::OTP_PURPOSE_VERIFY, telemetry::mask_email};

impl Auth {
    /// Registration: the same answer whether the address is new, pending or taken.
    /// A code bound to this attempt goes out unless the address is verified.
    pub async fn register(
        &self,
        db: &DatabaseConnection,
        redis: &mut ConnectionManager,
        registration: Registration,
        ip: Option<IpAddr>,
        request_id: Option<String>,
    ) -> Result<Registered, AuthError> {
        let Registration {
            email,
            name,
            password,
            address,
        } = registration;
        self.allow_code(redis, OTP_PURPOSE_VERIFY, &email, ip)
            .await?;
        // Hash first, always: a taken address costs the same time.
        let hash = self
            .hasher
            .hash(password.into_inner())
            .await
            .map_err(AuthError::Internal)?;
        let token = attempts::new_token();
        let txn = db.begin().await?;
        match users::ensure_pending(&txn, email.as_str(), name.as_str(), &hash).await? {
            Some(user) => {
                let code = otp::generate_code();
                let attempt = Attempt {
                    password_hash: hash,
                    name: name.as_str().to_owned(),
                    address,
                };
                attempts::store(
                    redis,
                    &self.settings.otp_secret,
                    email.as_str(),
                    &token,
                    &code,
                    &attempt,
                    self.settings.otp_ttl.as_secs(),
                    &throttle::ip_bucket(ip),
                )
                .await
                .map_err(redis_down)?;
                self.enqueue_code(
                    &txn,
                    user.id,
                    email.as_str(),
                    &code,
                    OTP_PURPOSE_VERIFY,
                    request_id,
                )
                .await?;
                txn.commit().await?;
                tracing::info!(email = %mask_email(email.as_str()), user_id = %user.id, "registration pending verification");
            }
            None => {
                txn.rollback().await?;
                tracing::info!(email = %mask_email(email.as_str()), "registration for a verified address ignored");
            }
        }
        Ok(Registered {
            email,
            registration_token: token,
        })
    }

    /// An opaque id of a registration of `email`: the same for every registration of
    /// the address, keyed with the server's OTP secret, and never an account id, so it
    /// tells nobody whether (or under which id) the address has an account.
    pub fn registration_id(&self, email: &Email) -> Uuid {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.settings.otp_secret.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"registration:");
        mac.update(email.as_str().as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// A new code for the live attempt `token`; silently nothing otherwise.
    pub async fn resend(
        &self,
        db: &DatabaseConnection,
        redis: &mut ConnectionManager,
        email: Email,
        token: &str,
        ip: Option<IpAddr>,
        request_id: Option<String>,
    ) -> Result<(), AuthError> {
        self.allow_code(redis, OTP_PURPOSE_VERIFY, &email, ip)
            .await?;
        if !attempts::is_token(token) {
            return Ok(());
        }
        let Some(user) = users::by_email(db, email.as_str()).await? else {
            return Ok(());
        };
        if user.is_verified {
            return Ok(());
        }
        let code = otp::generate_code();
        let txn = db.begin().await?;
        if attempts::renew(
            redis,
            &self.settings.otp_secret,
            email.as_str(),
            token,
            &code,
            self.settings.otp_ttl.as_secs(),
        )
        .await
        .map_err(redis_down)?
        {
            self.enqueue_code(
                &txn,
                user.id,
                email.as_str(),
                &code,
                OTP_PURPOSE_VERIFY,
                request_id,
            )
            .await?;
            txn.commit().await?;
        } else {
            txn.rollback().await?;
        }
        Ok(())
    }
}
