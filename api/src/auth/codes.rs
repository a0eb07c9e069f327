//! What every e-mailed code shares: the send limits, the wrong-code limits and the
//! e-mail event that carries the code (sealed) through the outbox.
//!
//! Invariant: a code is counted against its limits before it is sent or judged; the
//! sender's budget is keyed by sender, so a stranger cannot spend the owner's.

use std::net::IpAddr;

use redis::aio::ConnectionManager;
use uuid::Uuid;

use super::{
    error::{AuthError, Limit, redis_down},
    keys,
    service::Auth,
    throttle,
};
use crate::{
    domain::Email,
    events::{AccountOtp, EventEnvelope},
    outbox, seal,
};

/// One hour, the window of the code-send and wrong-code limits.
const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

impl Auth {
    /// The send limits of a code of `purpose` to `email` asked by `ip`: a cooldown and
    /// an hourly cap per address *and sender*, and an hourly cap per sender. Keyed by
    /// sender so a stranger cannot spend the owner's budget: the owner can always ask
    /// for their own code, at once.
    pub(super) async fn allow_code(
        &self,
        redis: &mut ConnectionManager,
        purpose: &str,
        email: &Email,
        ip: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        let bucket = throttle::ip_bucket(ip);
        let email = email.as_str();
        if let Err(left) = throttle::cooldown(
            redis,
            &keys::otp_cooldown(purpose, email, &bucket),
            self.settings.otp_cooldown,
        )
        .await
        .map_err(redis_down)?
        {
            return Err(AuthError::RateLimited {
                limit: Limit::CodeCooldown,
                retry_after: left,
            });
        }
        let pair = keys::otp_sent(purpose, email, &bucket);
        let sender = keys::otp_sent_by(&bucket);
        let limits = [
            u64::from(self.settings.otp_max_per_hour_per_email),
            u64::from(self.settings.otp_max_per_hour_per_ip),
        ];
        match throttle::reserve(redis, &[&pair, &sender], &limits, HOUR)
            .await
            .map_err(redis_down)?
        {
            Ok(()) => Ok(()),
            Err((0, left)) => Err(AuthError::RateLimited {
                limit: Limit::CodesPerEmail,
                retry_after: left,
            }),
            Err((_, left)) => Err(AuthError::RateLimited {
                limit: Limit::CodesPerAddress,
                retry_after: left,
            }),
        }
    }

    /// Writes the e-mail event of `code` for `user` in `txn`.
    pub(super) async fn enqueue_code(
        &self,
        txn: &impl sea_orm::ConnectionTrait,
        user_id: Uuid,
        email: &str,
        code: &str,
        purpose: &str,
        request_id: Option<String>,
    ) -> Result<(), AuthError> {
        let sealed_code = seal::seal(&self.seal_key, code)
            .map_err(|e| AuthError::Internal(anyhow::anyhow!("sealing the code: {e}")))?;
        let event = EventEnvelope::new(
            AccountOtp {
                user_id,
                email: email.to_owned(),
                name: String::new(),
                sealed_code,
                expires_in_minutes: (self.settings.otp_ttl.as_secs() / 60).max(1) as u32,
                purpose: purpose.to_owned(),
            },
            request_id,
        );
        outbox::enqueue(txn, &user_id.to_string(), &event).await?;
        Ok(())
    }

    /// Reserves a code try of `ip` (over every account) and of the account itself
    /// (`purpose` codes of `email`, from every address; a new code never refills it),
    /// or refuses it. The account's budget is what bounds guessing a 6-digit code
    /// from many addresses; a stranger spending it delays the owner by one window at
    /// most. Returns the keys, to give back on success.
    pub(super) async fn reserve_code_try(
        &self,
        redis: &mut ConnectionManager,
        purpose: &str,
        email: &Email,
        ip: Option<IpAddr>,
    ) -> Result<[String; 2], AuthError> {
        let counters = [
            keys::otp_wrong_from(&throttle::ip_bucket(ip)),
            keys::otp_wrong_for(purpose, email.as_str()),
        ];
        let limits = [
            u64::from(self.settings.otp_verify_max_failures_per_ip),
            u64::from(self.settings.otp_verify_max_failures_per_account),
        ];
        match throttle::reserve(redis, &[&counters[0], &counters[1]], &limits, HOUR)
            .await
            .map_err(redis_down)?
        {
            Ok(()) => Ok(counters),
            Err((0, left)) => Err(AuthError::RateLimited {
                limit: Limit::WrongCodesPerAddress,
                retry_after: left,
            }),
            Err((_, left)) => Err(AuthError::RateLimited {
                limit: Limit::WrongCodesPerEmail,
                retry_after: left,
            }),
        }
    }
}
