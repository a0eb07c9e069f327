//! The auth use cases. Each function owns its transaction and returns a domain
//! outcome or an [`ApiError`] ready for the client.
//!
//! Limits (all in Redis, shared by every instance, each decided in one Lua script,
//! see `throttle.rs`): logins per account+address, per address and, past the same
//! count, a doubling delay per account for addresses that never logged in to it; code
//! sends per address+sender with a cooldown, and per sender; wrong codes per sender.
//! Sessions follow the server: a password change or reset, `api create-admin` and a
//! role change bump the user's token version, revoke every refresh token and publish
//! the new version to Redis, so every instance refuses older access tokens at once.

use std::net::IpAddr;

use chrono::Utc;
use hmac::{Hmac, Mac};
use poem::http::{StatusCode, header};
use rand::{RngCore, TryRngCore};
use redis::aio::ConnectionManager;
use sea_orm::{DatabaseConnection, TransactionTrait};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    attempts::{self, Attempt, Check},
    jwt::{Claims, TokenKeys},
    keys,
    otp::{self, OtpCheck},
    throttle::{self, LoginKeys, LoginLimits, LoginRefusal},
    users::{self, User},
};
use crate::{
    configuration::{AuthSettings, SealKey},
    domain::{Email, NewPassword, OtpCode, PersonName},
    error::ApiError,
    events::{AccountOtp, AccountWelcome, EventEnvelope, OTP_PURPOSE_RESET, OTP_PURPOSE_VERIFY},
    outbox,
    password::{self, Hasher, Policy},
    seal,
    telemetry::mask_email,
};

/// How long the role and token version read for a user are trusted from Redis. A
/// change through the API publishes the new ones at once; this bounds a lost
/// publication and a change made in the database directly (SQL by an operator).
const AUTHZ_CACHE_SECS: u64 = 30;
/// One hour, the window of the code-send and wrong-code limits.
const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

/// Everything the auth use cases need, built once per instance.
pub struct Auth {
    /// Settings.
    pub settings: AuthSettings,
    /// Token keys.
    pub keys: TokenKeys,
    /// Bounded bcrypt.
    pub hasher: Hasher,
    /// A hash verified against when the e-mail is unknown, so timing tells nothing.
    dummy_hash: String,
    seal_key: SealKey,
}

/// A validated registration.
pub struct Registration {
    /// The address.
    pub email: Email,
    /// The display name.
    pub name: PersonName,
    /// The password.
    pub password: NewPassword,
}

/// Tokens handed to a client.
#[derive(Debug)]
pub struct IssuedTokens {
    /// JWT access token.
    pub access_token: String,
    /// Opaque refresh token.
    pub refresh_token: String,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// The user.
    pub user: User,
}

/// Runs a read-only Redis command, and once more if the connection dropped under it
/// (Redis restarted, or killed the client): the manager reconnects on that failure,
/// and a read is safe to repeat. Without it the first request after a restart fails.
async fn read<T: redis::FromRedisValue>(
    redis: &mut ConnectionManager,
    cmd: &redis::Cmd,
) -> redis::RedisResult<T> {
    match cmd.query_async(redis).await {
        Err(e) if e.is_connection_dropped() || e.is_io_error() => {
            tracing::info!(error = %e, "redis connection dropped; reading again");
            cmd.query_async(redis).await
        }
        other => other,
    }
}

fn redis_down(e: redis::RedisError) -> ApiError {
    tracing::warn!(error = %e, "redis unavailable");
    ApiError::unavailable("the session store")
}

fn too_many(code: &'static str, message: &str, left: std::time::Duration) -> ApiError {
    let secs = throttle::retry_after_secs(left);
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message)
        .with_details(json!({ "retry_after_seconds": secs }))
        .with_header(header::RETRY_AFTER, secs.to_string())
}

fn hash_refresh(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn otp_not_found() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "OTP_NOT_FOUND",
        "no pending code for this e-mail; request a new one",
    )
}

fn wrong_code(remaining: u32) -> ApiError {
    let message = if remaining == 0 {
        "wrong code; it is now invalid, request a new one"
    } else {
        "wrong code"
    };
    ApiError::new(StatusCode::UNAUTHORIZED, "OTP_INVALID", message)
        .with_details(json!({ "field": "otp", "remaining_attempts": remaining }))
}

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

/// What a registration answers: the attempt's token for the client to prove it with.
pub struct Registered {
    /// The normalized address.
    pub email: Email,
    /// The attempt token (random, and the same shape whether or not a code was sent).
    pub registration_token: String,
}

/// Where a code check comes from: the canonical route names its attempt; the legacy
/// route sends only the address and the code.
pub enum Proof<'a> {
    /// The attempt token returned by the registration.
    Attempt(&'a str),
    /// No token (the legacy route).
    CodeOnly,
}

impl Auth {
    /// Builds the auth context (one bcrypt hash for the timing dummy).
    pub async fn new(
        settings: AuthSettings,
        seal_key: SealKey,
        gauges: Option<password::HasherGauges>,
    ) -> anyhow::Result<Self> {
        let mut hasher = Hasher::new(settings.bcrypt_cost, settings.bcrypt_max_concurrency);
        if let Some(g) = gauges {
            hasher = hasher.with_gauges(g);
        }
        let dummy_hash = hasher.hash("timing-equalizer-password".into()).await?;
        Ok(Self {
            keys: TokenKeys::new(&settings),
            settings,
            hasher,
            dummy_hash,
            seal_key,
        })
    }

    /// The policy new passwords must meet.
    pub fn policy(&self) -> Policy {
        Policy {
            min_chars: self.settings.password_min_length,
        }
    }

    fn login_limits(&self) -> LoginLimits {
        LoginLimits {
            per_pair: u64::from(self.settings.login_max_failures),
            per_ip: u64::from(self.settings.login_max_failures_per_ip),
            per_account: u64::from(self.settings.login_max_failures),
            window: self.settings.login_window,
            base_delay: self.settings.login_delay_base,
            max_delay: self.settings.login_delay_max,
        }
    }

    /// The send limits of a code of `purpose` to `email` asked by `ip`: a cooldown and
    /// an hourly cap per address *and sender*, and an hourly cap per sender. Keyed by
    /// sender so a stranger cannot spend the owner's budget: the owner can always ask
    /// for their own code, at once.
    async fn allow_code(
        &self,
        redis: &mut ConnectionManager,
        purpose: &str,
        email: &Email,
        ip: Option<IpAddr>,
    ) -> Result<(), ApiError> {
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
            return Err(too_many(
                "OTP_COOLDOWN",
                "a code was sent recently; wait before asking for another",
                left,
            ));
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
            Err((0, left)) => Err(too_many(
                "TOO_MANY_REQUESTS",
                "too many codes requested for this e-mail; try later",
                left,
            )),
            Err((_, left)) => Err(too_many(
                "TOO_MANY_REQUESTS",
                "too many codes requested from this address; try later",
                left,
            )),
        }
    }

    /// Writes the e-mail event of `code` for `user` in `txn`.
    async fn enqueue_code(
        &self,
        txn: &impl sea_orm::ConnectionTrait,
        user_id: Uuid,
        email: &str,
        code: &str,
        purpose: &str,
        request_id: Option<String>,
    ) -> Result<(), ApiError> {
        let event = EventEnvelope::new(
            AccountOtp {
                user_id,
                email: email.to_owned(),
                name: String::new(),
                sealed_code: seal::seal(&self.seal_key, code),
                expires_in_minutes: (self.settings.otp_ttl.as_secs() / 60).max(1) as u32,
                purpose: purpose.to_owned(),
            },
            request_id,
        );
        outbox::enqueue(txn, &user_id.to_string(), &event).await?;
        Ok(())
    }

    /// Registration: the same answer whether the address is new, pending or taken.
    /// A code bound to this attempt goes out unless the address is verified.
    pub async fn register(
        &self,
        db: &DatabaseConnection,
        redis: &mut ConnectionManager,
        registration: Registration,
        ip: Option<IpAddr>,
        request_id: Option<String>,
    ) -> Result<Registered, ApiError> {
        let Registration {
            email,
            name,
            password,
        } = registration;
        self.allow_code(redis, OTP_PURPOSE_VERIFY, &email, ip)
            .await?;
        // Hash first, always: a taken address costs the same time.
        let hash = self
            .hasher
            .hash(password.into_inner())
            .await
            .map_err(ApiError::internal)?;
        let token = attempts::new_token();
        let txn = db.begin().await?;
        match users::ensure_pending(&txn, email.as_str(), name.as_str(), &hash).await? {
            Some(user) => {
                let code = otp::generate_code();
                let attempt = Attempt {
                    password_hash: hash,
                    name: name.as_str().to_owned(),
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
    ) -> Result<(), ApiError> {
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

    /// Reserves a code try of `ip` (over every account) and of the account itself
    /// (`purpose` codes of `email`, from every address; a new code never refills it),
    /// or refuses it. The account's budget is what bounds guessing a 6-digit code
    /// from many addresses; a stranger spending it delays the owner by one window at
    /// most. Returns the keys, to give back on success.
    async fn reserve_code_try(
        &self,
        redis: &mut ConnectionManager,
        purpose: &str,
        email: &Email,
        ip: Option<IpAddr>,
    ) -> Result<[String; 2], ApiError> {
        let keys = [
            keys::otp_wrong_from(&throttle::ip_bucket(ip)),
            keys::otp_wrong_for(purpose, email.as_str()),
        ];
        let limits = [
            u64::from(self.settings.otp_verify_max_failures_per_ip),
            u64::from(self.settings.otp_verify_max_failures_per_account),
        ];
        match throttle::reserve(redis, &[&keys[0], &keys[1]], &limits, HOUR)
            .await
            .map_err(redis_down)?
        {
            Ok(()) => Ok(keys),
            Err((0, left)) => Err(too_many(
                "TOO_MANY_REQUESTS",
                "too many wrong codes from this address; try later",
                left,
            )),
            Err((_, left)) => Err(too_many(
                "TOO_MANY_REQUESTS",
                "too many wrong codes for this e-mail; try later",
                left,
            )),
        }
    }

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
    ) -> Result<IssuedTokens, ApiError> {
        let tries = self
            .reserve_code_try(redis, OTP_PURPOSE_VERIFY, &email, ip)
            .await?;
        let secret = &self.settings.otp_secret;
        let max = self.settings.otp_max_attempts;
        let check = match proof {
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
        .map_err(redis_down)?;
        let (attempt, sole) = match check {
            // Counted against the address like a wrong code (probing costs the same),
            // not against an account that has no code to guess.
            Check::Missing => {
                let _ = throttle::release(redis, &[&tries[1]]).await;
                return Err(otp_not_found());
            }
            Check::Wrong { remaining } => {
                if remaining == 0 {
                    // The code is dead: let this sender ask for a new one at once.
                    let bucket = throttle::ip_bucket(ip);
                    let _ = throttle::reset(
                        redis,
                        &keys::otp_cooldown(OTP_PURPOSE_VERIFY, email.as_str(), &bucket),
                    )
                    .await;
                }
                return Err(wrong_code(remaining));
            }
            Check::Valid { attempt, sole } => (attempt, sole),
        };
        let _ = throttle::release(redis, &[&tries[0], &tries[1]]).await;
        let password_hash = if sole {
            attempt.password_hash
        } else {
            // Someone else registered this address too: whose password this is cannot
            // be told, so none applies. The inbox owner sets theirs by a reset.
            tracing::warn!(email = %mask_email(email.as_str()), "several registrations of one address: verified without a password");
            self.hasher
                .hash(attempts::new_token())
                .await
                .map_err(ApiError::internal)?
        };
        let txn = db.begin().await?;
        let Some(user) =
            users::verify_with(&txn, email.as_str(), &password_hash, &attempt.name).await?
        else {
            // Verified by another attempt meanwhile: this one's credentials never apply.
            txn.rollback().await?;
            return Err(otp_not_found());
        };
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
        self.publish_authz(redis, &tokens.user).await;
        let _ = attempts::forget(redis, email.as_str()).await;
        // Done with codes: this client may ask again at once (answered the same as
        // for any address, and no code goes out to a verified one).
        let _ = throttle::reset(
            redis,
            &keys::otp_cooldown(OTP_PURPOSE_VERIFY, email.as_str(), &throttle::ip_bucket(ip)),
        )
        .await;
        Ok(tokens)
    }

    /// Password login with the limits shared by every instance (module docs).
    pub async fn login(
        &self,
        db: &DatabaseConnection,
        redis: &mut ConnectionManager,
        email: Email,
        password: String,
        ip: Option<IpAddr>,
    ) -> Result<IssuedTokens, ApiError> {
        let keys = LoginKeys::new(email.as_str(), &throttle::ip_bucket(ip));
        match throttle::reserve_login(redis, &keys, &self.login_limits())
            .await
            .map_err(redis_down)?
        {
            Ok(()) => {}
            Err(LoginRefusal::Pair(left)) => {
                return Err(too_many(
                    "TOO_MANY_LOGIN_ATTEMPTS",
                    "too many failed logins for this account from this address; try later or reset the password",
                    left,
                ));
            }
            Err(LoginRefusal::Address(left)) => {
                return Err(too_many(
                    "TOO_MANY_LOGIN_ATTEMPTS",
                    "too many failed logins from this address; try later",
                    left,
                ));
            }
            Err(LoginRefusal::Slowed(left)) => {
                return Err(too_many(
                    "TOO_MANY_LOGIN_ATTEMPTS",
                    "too many failed logins for this account; try again shortly or reset the password",
                    left,
                ));
            }
        }

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
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "INVALID_CREDENTIALS",
                    "invalid e-mail or password",
                ));
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
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "EMAIL_NOT_VERIFIED",
                "verify your e-mail with the code we sent first",
            ));
        }
        if password::hash_cost(&user.password_hash).is_some_and(|c| c < self.hasher.cost()) {
            match self.hasher.hash(password).await {
                Ok(new_hash) => {
                    users::set_password_hash(db, user.id, &new_hash).await?;
                    tracing::info!(user_id = %user.id, cost = self.hasher.cost(), "password hash upgraded");
                }
                Err(e) => tracing::warn!(error = %e, "password rehash failed"),
            }
        }
        let txn = db.begin().await?;
        let tokens = self.start_session(&txn, user).await?;
        txn.commit().await?;
        Ok(tokens)
    }

    /// Mails a password reset code to a verified account; the same answer (and the
    /// same limits as any code) whether or not the address has one.
    pub async fn forgot_password(
        &self,
        db: &DatabaseConnection,
        redis: &mut ConnectionManager,
        email: Email,
        ip: Option<IpAddr>,
        request_id: Option<String>,
    ) -> Result<(), ApiError> {
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
    ) -> Result<(), ApiError> {
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
                return Err(otp_not_found());
            }
            OtpCheck::Wrong { remaining } => return Err(wrong_code(remaining)),
            OtpCheck::Valid => {}
        }
        let _ = throttle::release(redis, &[&tries[0], &tries[1]]).await;
        let user = users::by_email(db, email.as_str())
            .await?
            .ok_or_else(otp_not_found)?;
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
    ) -> Result<IssuedTokens, ApiError> {
        let user = users::by_id(db, claims.sub)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        // The same limits as a login: a stolen access token must not buy guesses.
        let keys = LoginKeys::new(&user.email, &throttle::ip_bucket(ip));
        if let Err(refusal) = throttle::reserve_login(redis, &keys, &self.login_limits())
            .await
            .map_err(redis_down)?
        {
            let (LoginRefusal::Pair(left)
            | LoginRefusal::Address(left)
            | LoginRefusal::Slowed(left)) = refusal;
            return Err(too_many(
                "TOO_MANY_LOGIN_ATTEMPTS",
                "too many wrong passwords; try later",
                left,
            ));
        }
        let ok = old_password.len() <= password::MAX_PASSWORD_BYTES
            && self
                .hasher
                .verify(old_password, user.password_hash.clone())
                .await
                .unwrap_or(false);
        if !ok {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_CREDENTIALS",
                "the current password is wrong",
            )
            .with_details(json!({ "field": "current_password" })));
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
    ) -> Result<User, ApiError> {
        let hash = self
            .hasher
            .hash(new_password.into_inner())
            .await
            .map_err(ApiError::internal)?;
        let txn = db.begin().await?;
        let user = users::set_password(&txn, user, &hash)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        users::revoke_all_refresh(&txn, user.id).await?;
        txn.commit().await?;
        self.publish_authz(redis, &user).await;
        Ok(user)
    }

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
    ) -> Result<Option<User>, ApiError> {
        if by == user {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "OWN_ROLE",
                "an admin cannot change their own role; ask another admin",
            ));
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
    async fn publish_authz(&self, redis: &mut ConnectionManager, user: &User) {
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
    ) -> Result<Option<users::Authz>, ApiError> {
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

    /// A new session (refresh-token family) for `user`.
    async fn start_session(
        &self,
        txn: &impl sea_orm::ConnectionTrait,
        user: User,
    ) -> Result<IssuedTokens, ApiError> {
        self.tokens_in_family(txn, user, Uuid::now_v7(), Utc::now())
            .await
    }

    async fn tokens_in_family(
        &self,
        txn: &impl sea_orm::ConnectionTrait,
        user: User,
        family: Uuid,
        session_started_at: chrono::DateTime<Utc>,
    ) -> Result<IssuedTokens, ApiError> {
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
            .map_err(ApiError::internal)?;
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
    ) -> Result<IssuedTokens, ApiError> {
        let invalid = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_REFRESH_TOKEN",
                "the refresh token is invalid or expired",
            )
        };
        if refresh_token.is_empty() || refresh_token.len() > 256 {
            return Err(invalid());
        }
        let txn = db.begin().await?;
        let Some(row) = users::refresh_for_update(&txn, hash_refresh(refresh_token)).await? else {
            return Err(invalid());
        };
        let grace = chrono::Duration::from_std(self.settings.refresh_reuse_grace)
            .unwrap_or(chrono::Duration::seconds(5));
        if let (Some(used), None) = (row.used_at, row.revoked_at)
            && Utc::now() - used <= grace
        {
            txn.rollback().await?;
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "REFRESH_TOKEN_ROTATED",
                "this refresh token was just rotated by another request; use the newest one",
            ));
        }
        if row.used_at.is_some() || row.revoked_at.is_some() {
            users::revoke_family(&txn, row.family_id).await?;
            txn.commit().await?;
            self.deny_session(redis, row.family_id).await?;
            tracing::warn!(user_id = %row.user_id, family = %row.family_id, "refresh token reuse: session revoked");
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "REFRESH_TOKEN_REUSED",
                "this refresh token was already used; the session is revoked, log in again",
            ));
        }
        let max_age = chrono::Duration::from_std(self.settings.refresh_max_age)
            .unwrap_or(chrono::Duration::days(90));
        if row.expires_at < Utc::now() || row.session_started_at + max_age <= Utc::now() {
            return Err(invalid());
        }
        let user = users::by_id(&txn, row.user_id).await?.ok_or_else(invalid)?;
        if row.token_version != user.token_version {
            // Issued under a password or role that has changed since (a login racing
            // the change): the session ends now.
            users::revoke_family(&txn, row.family_id).await?;
            txn.commit().await?;
            return Err(invalid());
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
    ) -> Result<(), ApiError> {
        users::revoke_family(db, claims.sid).await?;
        self.deny_session(redis, claims.sid).await
    }

    /// Makes every instance refuse the access tokens of session `sid` until they expire.
    async fn deny_session(&self, redis: &mut ConnectionManager, sid: Uuid) -> Result<(), ApiError> {
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
    ) -> Result<bool, ApiError> {
        read(redis, redis::cmd("EXISTS").arg(keys::revoked_session(sid)))
            .await
            .map_err(redis_down)
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
