//! The auth context every use case runs in, and what they hand back.
//!
//! The use cases are methods of [`Auth`], one concern per module: `registration`,
//! `verification`, `login`, `credentials` (password reset and change), `sessions`
//! (issuing, rotation, logout, revocation) and `authz` (roles and the token version
//! every instance checks). Each owns its transaction and returns a domain outcome or
//! an [`AuthError`](super::error::AuthError): none of them knows HTTP, whose one
//! mapping is in `error.rs` (`extract.rs` and `client_ip.rs` are the HTTP side).
//!
//! Limits (all in Redis, shared by every instance, each decided in one Lua script,
//! see `throttle.rs`): logins per account+address, per address and, past the same
//! count, a doubling delay per account for addresses that never logged in to it; code
//! sends per address+sender with a cooldown, and per sender; wrong codes per sender.
//! Sessions follow the server: a password change or reset, `api create-admin` and a
//! role change bump the user's token version, revoke every refresh token and publish
//! the new version to Redis, so every instance refuses older access tokens at once.

use redis::aio::ConnectionManager;

use super::{jwt::TokenKeys, throttle::LoginLimits, users::User};
use crate::{
    addresses::model::PendingAddress,
    configuration::{AuthSettings, SealKey},
    domain::{Email, NewPassword, PersonName},
    password::{self, Hasher, Policy},
};

/// Everything the auth use cases need, built once per instance.
pub struct Auth {
    /// Settings.
    pub settings: AuthSettings,
    /// Token keys.
    pub keys: TokenKeys,
    /// Bounded bcrypt.
    pub hasher: Hasher,
    /// A hash verified against when the e-mail is unknown, so timing tells nothing.
    pub(super) dummy_hash: String,
    /// The key codes are sealed with in the e-mail events.
    pub(super) seal_key: SealKey,
}

/// A validated registration.
pub struct Registration {
    /// The address.
    pub email: Email,
    /// The display name.
    pub name: PersonName,
    /// The password.
    pub password: NewPassword,
    /// The address given with it (the legacy route only): the account's first
    /// address once verified.
    pub address: Option<PendingAddress>,
}

/// Tokens handed to a client (its `Debug` hides both tokens).
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

impl std::fmt::Debug for IssuedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedTokens")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("user", &self.user)
            .finish()
    }
}

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

/// Runs a read-only Redis command, and once more if the connection dropped under it
/// (Redis restarted, or killed the client): the manager reconnects on that failure,
/// and a read is safe to repeat. Without it the first request after a restart fails.
pub(super) async fn read<T: redis::FromRedisValue>(
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

    /// The login limits (also those of a password change).
    pub(super) fn login_limits(&self) -> LoginLimits {
        LoginLimits {
            per_pair: u64::from(self.settings.login_max_failures),
            per_ip: u64::from(self.settings.login_max_failures_per_ip),
            per_account: u64::from(self.settings.login_max_failures),
            window: self.settings.login_window,
            base_delay: self.settings.login_delay_base,
            max_delay: self.settings.login_delay_max,
        }
    }
}
