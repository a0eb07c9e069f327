//! Verification: the code e-mailed at registration proves the inbox; the account is
//! verified with the credentials of the attempt the code was bound to, and signed in.
//!
//! Invariant: no stranger's password is ever left active. When several attempts of
//! the address were made and the legacy route cannot tell whose code this is, the
//! account is verified with a random password nobody knows (see `attempts.rs`).

use std::net::IpAddr;

use redis::aio::ConnectionManager;
use sea_orm::{DatabaseConnection, TransactionTrait};

use super::{
    attempts::{self, Attempt, Check},
    error::{AuthError, redis_down},
    keys,
    service::{Auth, IssuedTokens, Proof},
    throttle, users,
};
use crate::{
    addresses::{self, model::NewAddress},
    domain::{Email, OtpCode},
    events::{AccountWelcome, EventEnvelope, OTP_PURPOSE_VERIFY},
    outbox,
    telemetry::mask_email,
};

impl Auth {
    /// Verifies the code: the account is verified with the credentials of the attempt
    /// the code was bound to, and signed in.
    #[allow(
        clippy::too_many_arguments,
        reason = "each argument is one named input of the use case"
    )]
    pub async fn verify_otp(
        &self,
        db: &DatabaseConnection,
        redis: &mut ConnectionManager,
        email: Email,
        proof: Proof<'_>,
        code: OtpCode,
        ip: Option<IpAddr>,
        request_id: Option<String>,
    ) -> Result<IssuedTokens, AuthError> {
        let tries = self
            .reserve_code_try(redis, OTP_PURPOSE_VERIFY, &email, ip)
            .await?;
        let cooldown =
            keys::otp_cooldown(OTP_PURPOSE_VERIFY, email.as_str(), &throttle::ip_bucket(ip));
        let (attempt, sole) = match self.check_code(redis, &email, proof, &code).await? {
            // Counted against the address like a wrong code (probing costs the same),
            // not against an account that has no code to guess.
            Check::Missing => {
                let _ = throttle::release(redis, &[&tries[1]]).await;
                return Err(AuthError::OtpNotFound);
            }
            Check::Wrong { remaining } => {
                if remaining == 0 {
                    // The code is dead: let this sender ask for a new one at once.
                    let _ = throttle::reset(redis, &cooldown).await;
                }
                return Err(AuthError::OtpInvalid { remaining });
            }
            Check::Valid { attempt, sole } => (attempt, sole),
        };
        let _ = throttle::release(redis, &[&tries[0], &tries[1]]).await;
        let tokens = self
            .verify_account(db, &email, attempt, sole, request_id)
            .await?;
        self.publish_authz(redis, &tokens.user).await;
        let _ = attempts::forget(redis, email.as_str()).await;
        // Done with codes: this client may ask again at once (answered the same as
        // for any address, and no code goes out to a verified one).
        let _ = throttle::reset(redis, &cooldown).await;
        Ok(tokens)
    }

    /// Checks `code` against the attempt `proof` names (or, code only, against every
    /// live attempt of the address).
    async fn check_code(
        &self,
        redis: &mut ConnectionManager,
        email: &Email,
        proof: Proof<'_>,
        code: &OtpCode,
    ) -> Result<Check, AuthError> {
        let secret = &self.settings.otp_secret;
        let max = self.settings.otp_max_attempts;
        match proof {
            Proof::Attempt(token) if attempts::is_token(token) => {
                attempts::verify(redis, secret, email.as_str(), token, code.as_str(), max).await
            }
            Proof::Attempt(_) => Ok(Check::Missing),
            Proof::CodeOnly => {
                attempts::verify_code_only(
                    redis,
                    secret,
                    email.as_str(),
                    code.as_str(),
                    max,
                    self.settings.otp_ttl.as_secs(),
                )
                .await
            }
        }
        .map_err(redis_down)
    }

    /// Verifies the pending account of `email` with `attempt`'s credentials (its
    /// password and address only when it was the `sole` attempt), announces it and
    /// starts a session, in one transaction.
    async fn verify_account(
        &self,
        db: &DatabaseConnection,
        email: &Email,
        attempt: Attempt,
        sole: bool,
        request_id: Option<String>,
    ) -> Result<IssuedTokens, AuthError> {
        let Attempt {
            password_hash,
            name,
            address,
        } = attempt;
        let password_hash = if sole {
            password_hash
        } else {
            // Someone else registered this address too: whose password this is cannot
            // be told, so none applies. The inbox owner sets theirs by a reset.
            tracing::warn!(email = %mask_email(email.as_str()), "several registrations of one address: verified without a password");
            self.hasher
                .hash(attempts::new_token())
                .await
                .map_err(AuthError::Internal)?
        };
        let txn = db.begin().await?;
        let Some(user) = users::verify_with(&txn, email.as_str(), &password_hash, &name).await?
        else {
            // Verified by another attempt meanwhile: this one's credentials never apply.
            txn.rollback().await?;
            return Err(AuthError::OtpNotFound);
        };
        // Like the password, the address applies only when the attempt is surely the
        // inbox owner's: a stranger's address must never become where orders ship.
        if let Some(pending) = address.filter(|_| sole) {
            // In a savepoint: an address the book refuses leaves the account verified.
            if let Err(e) = addresses::service::create(
                &txn,
                user.id,
                NewAddress::from_legacy(&user.name, pending),
            )
            .await
            {
                tracing::warn!(user_id = %user.id, error = %e, "the registration's address was not stored");
            }
        }
        let event = EventEnvelope::new(
            AccountWelcome {
                user_id: user.id,
                email: user.email.clone(),
                name: String::new(),
            },
            request_id,
        );
        outbox::enqueue(&txn, &user.id.to_string(), &event).await?;
        let tokens = self.start_session(&txn, user).await?;
        txn.commit().await?;
        Ok(tokens)
    }
}
