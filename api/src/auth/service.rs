//! The auth use cases. Each function owns its transaction and returns a domain
//! outcome or an [`ApiError`] ready for the client.

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
    jwt::{Claims, TokenKeys},
    otp::{self, OtpCheck},
    throttle,
    users::{self, User},
};
use crate::{
    configuration::{AuthSettings, SealKey},
    domain::{Email, NewPassword, OtpCode, PersonName},
    error::ApiError,
    events::{AccountOtp, AccountWelcome, EventEnvelope},
    outbox,
    password::{self, Hasher},
    seal,
    telemetry::mask_email,
};

/// The Redis key counting an account's failed logins in the current window.
pub fn login_failures_key(email: &str) -> String {
    format!("login:fail:email:{email}")
}

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

fn ip_key(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

impl Auth {
    /// Builds the auth context (one bcrypt hash for the timing dummy).
    pub async fn new(settings: AuthSettings, seal_key: SealKey) -> anyhow::Result<Self> {
        let hasher = Hasher::new(settings.bcrypt_cost, settings.bcrypt_max_concurrency);
        let dummy_hash = hasher.hash("timing-equalizer-password".into()).await?;
        Ok(Self {
            keys: TokenKeys::new(&settings),
            settings,
            hasher,
            dummy_hash,
            seal_key,
        })
    }

    /// Applies the per-address and per-IP send limits and the resend cooldown.
    async fn allow_code(
        &self,
        redis: &mut ConnectionManager,
        email: &Email,
        ip: Option<IpAddr>,
    ) -> Result<(), ApiError> {
        let hour = std::time::Duration::from_secs(3600);
        let (ip_count, ip_left) =
            throttle::hit(redis, &format!("otp:sent:ip:{}", ip_key(ip)), hour)
                .await
                .map_err(redis_down)?;
        if ip_count > u64::from(self.settings.otp_max_per_hour_per_ip) {
            return Err(too_many(
                "TOO_MANY_REQUESTS",
                "too many codes requested from this address; try later",
                ip_left,
            ));
        }
        if let Err(left) = throttle::cooldown(
            redis,
            &format!("otp:cooldown:{}", email.as_str()),
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
        let (count, left) =
            throttle::hit(redis, &format!("otp:sent:email:{}", email.as_str()), hour)
                .await
                .map_err(redis_down)?;
        if count > u64::from(self.settings.otp_max_per_hour_per_email) {
            return Err(too_many(
                "TOO_MANY_REQUESTS",
                "too many codes requested for this e-mail; try later",
                left,
            ));
        }
        Ok(())
    }

    /// Stores a new code and writes its e-mail event in `txn`.
    async fn issue_code(
        &self,
        redis: &mut ConnectionManager,
        txn: &impl sea_orm::ConnectionTrait,
        user: &User,
        request_id: Option<String>,
    ) -> Result<(), ApiError> {
        let code = otp::generate_code();
        let ttl = self.settings.otp_ttl.as_secs();
        otp::store(redis, &self.settings.otp_secret, &user.email, &code, ttl)
            .await
            .map_err(redis_down)?;
        let event = EventEnvelope::new(
            AccountOtp {
                user_id: user.id,
                email: user.email.clone(),
                name: user.name.clone(),
                sealed_code: seal::seal(&self.seal_key, &code),
                expires_in_minutes: (ttl / 60).max(1) as u32,
            },
            request_id,
        );
        outbox::enqueue(txn, &user.id.to_string(), &event).await?;
        Ok(())
    }

    /// Registration: same outcome whether or not the address is taken.
    pub async fn register(
        &self,
        db: &DatabaseConnection,
        redis: &mut ConnectionManager,
        registration: Registration,
        ip: Option<IpAddr>,
        request_id: Option<String>,
    ) -> Result<(), ApiError> {
        let Registration {
            email,
            name,
            password,
        } = registration;
        self.allow_code(redis, &email, ip).await?;
        // Hash first, always: a taken address costs the same time.
        let hash = self
            .hasher
            .hash(password.into_inner())
            .await
            .map_err(ApiError::internal)?;
        let txn = db.begin().await?;
        match users::upsert_unverified(&txn, email.as_str(), name.as_str(), &hash).await? {
            Some(user) => {
                self.issue_code(redis, &txn, &user, request_id).await?;
                txn.commit().await?;
                tracing::info!(email = %mask_email(email.as_str()), user_id = %user.id, "registration pending verification");
            }
            None => {
                txn.rollback().await?;
                tracing::info!(email = %mask_email(email.as_str()), "registration for a verified address ignored");
            }
        }
        Ok(())
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

    /// A new code for a pending account; silently nothing for others.
    pub async fn resend(
        &self,
        db: &DatabaseConnection,
        redis: &mut ConnectionManager,
        email: Email,
        ip: Option<IpAddr>,
        request_id: Option<String>,
    ) -> Result<(), ApiError> {
        self.allow_code(redis, &email, ip).await?;
        let txn = db.begin().await?;
        match users::by_email(&txn, email.as_str()).await? {
            Some(user) if !user.is_verified => {
                self.issue_code(redis, &txn, &user, request_id).await?;
                txn.commit().await?;
            }
            _ => txn.rollback().await?,
        }
        Ok(())
    }

    /// Verifies the code; the account becomes verified and gets a session.
    pub async fn verify_otp(
        &self,
        db: &DatabaseConnection,
        redis: &mut ConnectionManager,
        email: Email,
        code: OtpCode,
        request_id: Option<String>,
    ) -> Result<IssuedTokens, ApiError> {
        let check = otp::verify(
            redis,
            &self.settings.otp_secret,
            email.as_str(),
            code.as_str(),
            self.settings.otp_max_attempts,
        )
        .await
        .map_err(redis_down)?;
        match check {
            OtpCheck::Missing => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "OTP_NOT_FOUND",
                    "no pending code for this e-mail; request a new one",
                ));
            }
            OtpCheck::Wrong { remaining } => {
                if remaining == 0 {
                    // The code is dead: let the user ask for a new one at once.
                    let _ =
                        throttle::reset(redis, &format!("otp:cooldown:{}", email.as_str())).await;
                }
                let message = if remaining == 0 {
                    "wrong code; it is now invalid, request a new one"
                } else {
                    "wrong code"
                };
                return Err(
                    ApiError::new(StatusCode::UNAUTHORIZED, "OTP_INVALID", message)
                        .with_details(json!({ "field": "otp", "remaining_attempts": remaining })),
                );
            }
            OtpCheck::Valid => {}
        }
        let txn = db.begin().await?;
        let user = users::by_email(&txn, email.as_str())
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "OTP_NOT_FOUND",
                    "no pending code for this e-mail",
                )
            })?;
        if users::mark_verified(&txn, user.id).await? {
            let event = EventEnvelope::new(
                AccountWelcome {
                    user_id: user.id,
                    email: user.email.clone(),
                    name: user.name.clone(),
                },
                request_id,
            );
            outbox::enqueue(&txn, &user.id.to_string(), &event).await?;
        }
        let tokens = self
            .start_session(
                &txn,
                User {
                    is_verified: true,
                    ..user
                },
            )
            .await?;
        txn.commit().await?;
        let _ = throttle::reset(redis, &format!("otp:cooldown:{}", email.as_str())).await;
        Ok(tokens)
    }

    /// Password login with throttling shared by every instance.
    pub async fn login(
        &self,
        db: &DatabaseConnection,
        redis: &mut ConnectionManager,
        email: Email,
        password: String,
        ip: Option<IpAddr>,
    ) -> Result<IssuedTokens, ApiError> {
        let account_key = login_failures_key(email.as_str());
        let ip_key = format!("login:fail:ip:{}", ip_key(ip));
        let window = self.settings.login_window;
        let (fails, left) = throttle::peek(redis, &account_key)
            .await
            .map_err(redis_down)?;
        if fails >= u64::from(self.settings.login_max_failures) {
            return Err(too_many(
                "TOO_MANY_LOGIN_ATTEMPTS",
                "too many failed logins for this account; try later",
                left,
            ));
        }
        let (ip_fails, ip_left) = throttle::peek(redis, &ip_key).await.map_err(redis_down)?;
        if ip_fails >= u64::from(self.settings.login_max_failures_per_ip) {
            return Err(too_many(
                "TOO_MANY_LOGIN_ATTEMPTS",
                "too many failed logins from this address; try later",
                ip_left,
            ));
        }

        let user = users::by_email(db, email.as_str()).await?;
        let too_long = password.len() > password::MAX_PASSWORD_BYTES;
        let hash = user
            .as_ref()
            .map_or_else(|| self.dummy_hash.clone(), |u| u.password_hash.clone());
        // Unknown e-mail or not: one bcrypt verify either way.
        let matches = self
            .hasher
            .verify(password.clone(), hash)
            .await
            .map_err(ApiError::internal)?
            && !too_long;
        let user = match user {
            Some(user) if matches => user,
            _ => {
                throttle::hit(redis, &account_key, window)
                    .await
                    .map_err(redis_down)?;
                throttle::hit(redis, &ip_key, window)
                    .await
                    .map_err(redis_down)?;
                tracing::info!(email = %mask_email(email.as_str()), "login failed");
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "INVALID_CREDENTIALS",
                    "invalid e-mail or password",
                ));
            }
        };
        throttle::reset(redis, &account_key)
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

    /// A new session (refresh-token family) for `user`.
    async fn start_session(
        &self,
        txn: &impl sea_orm::ConnectionTrait,
        user: User,
    ) -> Result<IssuedTokens, ApiError> {
        self.tokens_in_family(txn, user, Uuid::now_v7()).await
    }

    async fn tokens_in_family(
        &self,
        txn: &impl sea_orm::ConnectionTrait,
        user: User,
        family: Uuid,
    ) -> Result<IssuedTokens, ApiError> {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.unwrap_err().fill_bytes(&mut raw);
        let refresh_token = hex::encode(raw);
        let expires_at = Utc::now()
            + chrono::Duration::from_std(self.settings.refresh_ttl)
                .unwrap_or(chrono::Duration::days(30));
        users::insert_refresh(
            txn,
            user.id,
            family,
            hash_refresh(&refresh_token),
            expires_at,
        )
        .await?;
        let (access_token, _) = self
            .keys
            .issue(user.id, &user.role, family)
            .map_err(ApiError::internal)?;
        Ok(IssuedTokens {
            access_token,
            refresh_token,
            expires_in: self.keys.ttl().as_secs(),
            user,
        })
    }

    /// Rotates a refresh token; a used or revoked one revokes its whole family.
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
        if row.expires_at < Utc::now() {
            return Err(invalid());
        }
        users::mark_refresh_used(&txn, row.id).await?;
        let user = users::by_id(&txn, row.user_id).await?.ok_or_else(invalid)?;
        let tokens = self.tokens_in_family(&txn, user, row.family_id).await?;
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
            .arg(format!("revoked:sid:{sid}"))
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
        redis::cmd("EXISTS")
            .arg(format!("revoked:sid:{sid}"))
            .query_async(redis)
            .await
            .map_err(redis_down)
    }
}
