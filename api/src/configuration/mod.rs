//! Typed configuration read from environment variables only.
//!
//! Invariant: a missing or malformed variable stops start-up with an error that names
//! it. Every variable read here is documented in `.env.example`.

use std::{net::IpAddr, time::Duration};

pub use shop_common::config::{
    ConfigError, SealKey, optional, parse, redact_url, required, secret, with_vars,
};

/// CORS policy: which browser origins may call the API, and whether they may send
/// credentials. Never `*`: an explicit list only.
#[derive(Debug, Clone)]
pub struct CorsSettings {
    /// Exact origins such as `http://localhost:3000`.
    pub allowed_origins: Vec<String>,
    /// Whether `Access-Control-Allow-Credentials: true` is sent.
    pub allow_credentials: bool,
}

impl CorsSettings {
    fn from_env() -> Result<Self, ConfigError> {
        let list: String = optional("CORS_ALLOWED_ORIGINS", "http://localhost:3000".to_owned())?;
        let mut allowed_origins = Vec::new();
        for origin in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            if origin == "*" {
                return Err(ConfigError::Invalid {
                    name: "CORS_ALLOWED_ORIGINS",
                    reason: "`*` is not allowed: list the frontend origins".into(),
                });
            }
            if !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    name: "CORS_ALLOWED_ORIGINS",
                    reason: format!("`{origin}` is not an http(s) origin"),
                });
            }
            allowed_origins.push(origin.trim_end_matches('/').to_owned());
        }
        Ok(Self {
            allowed_origins,
            allow_credentials: optional("CORS_ALLOW_CREDENTIALS", true)?,
        })
    }
}

/// Everything one API instance needs to run. `Debug` hides the database password;
/// the auth secrets and the seal key redact themselves.
#[derive(Clone)]
pub struct Settings {
    /// Address to bind.
    pub host: IpAddr,
    /// Port to bind; `0` picks a free one (tests).
    pub port: u16,
    /// Name of this instance, reported by `/stats/instance`.
    pub instance_id: String,
    /// PostgreSQL URL.
    pub database_url: String,
    /// Pool size per instance.
    pub database_max_connections: u32,
    /// Redis URL.
    pub redis_url: String,
    /// Kafka bootstrap servers, comma separated.
    pub kafka_brokers: String,
    /// CORS policy.
    pub cors: CorsSettings,
    /// Largest request body of the upload and bulk-import routes, in bytes.
    pub max_body_bytes: usize,
    /// Largest request body of every other route (JSON), in bytes.
    pub max_json_body_bytes: usize,
    /// How long in-flight requests get to finish after SIGTERM.
    pub shutdown_timeout: Duration,
    /// How long `/health/ready` answers 503 before the listener closes, so a load
    /// balancer stops sending new requests first.
    pub shutdown_drain: Duration,
    /// Publish attempts the broker refuses (with the broker reachable) before an
    /// outbox row is parked.
    pub outbox_max_attempts: i32,
    /// Authentication and its limits.
    pub auth: AuthSettings,
    /// Lifetime of catalogue cache entries (plus up to 25% jitter).
    pub catalogue_cache_ttl: Duration,
    /// Listings stored per minute over every instance (bounds the cache's size).
    pub catalogue_listing_stores_per_minute: u64,
    /// How far behind a committed order the stock a cached listing shows may be.
    pub catalogue_stock_staleness: Duration,
    /// Which requests an instance writes a log line for.
    pub request_log: RequestLogSettings,
    /// Most bytes of product images each instance keeps in memory (`0`: none).
    pub image_cache_bytes: u64,
    /// Most units of one product in one cart.
    pub max_quantity_per_product: i32,
    /// Most reviews one user may submit in an hour, over every instance.
    pub reviews_max_per_hour: u64,
    /// Key sealing secrets carried inside events (the OTP code), shared with the
    /// email consumer.
    pub event_seal_key: SealKey,
    /// What the retention jobs delete, and how often they run.
    pub retention: RetentionSettings,
    /// Orders after placement: payment, expiry, addresses.
    pub orders: OrderSettings,
}

/// Orders after placement (`api::orders::lifecycle`, `api::payments`, addresses).
#[derive(Clone)]
pub struct OrderSettings {
    /// An order placed through `POST /api/orders` that is not paid within this is
    /// cancelled by the expiry job and its stock given back; `None`
    /// (`ORDER_PAYMENT_TIMEOUT_MINUTES=0`) when orders are never expired.
    pub payment_timeout: Option<Duration>,
    /// How often each instance looks for expired orders (the conditional update makes
    /// one cancellation of each, whatever the number of instances).
    pub expiry_tick: Duration,
    /// A pickup-only shop (`SHOP_PICKUP_ONLY=true`) places orders without a shipping
    /// address; otherwise an order needs one.
    pub pickup_only: bool,
    /// The country of an address the legacy registration gives as free text.
    pub default_country: String,
    /// The Stripe webhook endpoint's signing secret (`whsec_...`); without it the
    /// Stripe webhook answers 404 (no provider configured).
    pub stripe_webhook_secret: Option<String>,
    /// How far a webhook's signed timestamp may be from now.
    pub stripe_tolerance: Duration,
    /// Stripe's API base URL (payment intents are created there).
    pub stripe_api_base: String,
    /// The Stripe secret API key (`sk_...`); without it no payment can be started at
    /// Stripe.
    pub stripe_secret_key: Option<String>,
}

impl std::fmt::Debug for OrderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderSettings")
            .field("payment_timeout", &self.payment_timeout)
            .field("expiry_tick", &self.expiry_tick)
            .field("pickup_only", &self.pickup_only)
            .field("default_country", &self.default_country)
            .field(
                "stripe_webhook_secret",
                &self.stripe_webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("stripe_tolerance", &self.stripe_tolerance)
            .field("stripe_api_base", &self.stripe_api_base)
            .field(
                "stripe_secret_key",
                &self.stripe_secret_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl OrderSettings {
    /// Reads `ORDER_*`, `SHOP_PICKUP_ONLY`, `SHOP_DEFAULT_COUNTRY` and `STRIPE_*`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let minutes: u64 = optional("ORDER_PAYMENT_TIMEOUT_MINUTES", 15)?;
        let tick: u64 = optional("ORDER_EXPIRY_TICK_SECONDS", 15)?;
        if tick == 0 {
            return Err(ConfigError::Invalid {
                name: "ORDER_EXPIRY_TICK_SECONDS",
                reason: "must be at least 1".into(),
            });
        }
        let default_country: String = optional("SHOP_DEFAULT_COUNTRY", "US".to_owned())?;
        if default_country.len() != 2 || !default_country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ConfigError::Invalid {
                name: "SHOP_DEFAULT_COUNTRY",
                reason: "must be an ISO 3166 alpha-2 code such as US".into(),
            });
        }
        let secret = |name: &'static str| -> Result<Option<String>, ConfigError> {
            let value: String = optional(name, String::new())?;
            Ok(Some(value).filter(|v| !v.is_empty()))
        };
        Ok(Self {
            payment_timeout: (minutes > 0).then(|| Duration::from_secs(minutes * 60)),
            expiry_tick: Duration::from_secs(tick),
            pickup_only: optional("SHOP_PICKUP_ONLY", false)?,
            default_country,
            stripe_webhook_secret: secret("STRIPE_WEBHOOK_SECRET")?,
            stripe_tolerance: Duration::from_secs(optional(
                "STRIPE_WEBHOOK_TOLERANCE_SECONDS",
                300,
            )?),
            stripe_api_base: optional("STRIPE_API_BASE", "https://api.stripe.com".to_owned())?,
            stripe_secret_key: secret("STRIPE_SECRET_KEY")?,
        })
    }
}

/// Which requests get a line in the instance's log (nginx's access log has every
/// one): errors always, slow ones, and a sample of the rest.
#[derive(Debug, Clone)]
pub struct RequestLogSettings {
    /// A request that took at least this long is logged (`warn`).
    pub slow: Duration,
    /// Share of the other requests logged, `0` to `1` (`1`: every request).
    pub sample_rate: f64,
}

impl RequestLogSettings {
    /// Reads `LOG_SLOW_REQUEST_MS` and `LOG_REQUEST_SAMPLE_RATE`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let sample_rate: f64 = optional("LOG_REQUEST_SAMPLE_RATE", 0.0)?;
        if !(0.0..=1.0).contains(&sample_rate) {
            return Err(ConfigError::Invalid {
                name: "LOG_REQUEST_SAMPLE_RATE",
                reason: "must be between 0 and 1".into(),
            });
        }
        Ok(Self {
            slow: Duration::from_millis(optional("LOG_SLOW_REQUEST_MS", 500)?),
            sample_rate,
        })
    }
}

/// The retention jobs (`api::jobs`): how often each runs (once per period over every
/// instance) and how long each kind of row is kept.
#[derive(Debug, Clone)]
pub struct RetentionSettings {
    /// The period of every retention job.
    pub interval: Duration,
    /// Published outbox rows are kept this many days after their publication.
    pub outbox_days: u32,
    /// `processed_events` rows are kept this many days (never fewer than
    /// `outbox_days`: an event the outbox can still republish must still be deduped).
    pub processed_events_days: u32,
    /// Replayed dead letters are kept this many days after their replay.
    pub dead_letters_days: u32,
    /// The jobs' own history (`scheduled_job_runs`) is kept this many days.
    pub job_runs_days: u32,
}

impl RetentionSettings {
    /// Reads the `RETENTION_*` variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        let interval: u64 = optional("RETENTION_INTERVAL_SECONDS", 3600)?;
        if interval == 0 {
            return Err(ConfigError::Invalid {
                name: "RETENTION_INTERVAL_SECONDS",
                reason: "must be at least 1".into(),
            });
        }
        let days = |name: &'static str, default: u32| -> Result<u32, ConfigError> {
            let value: u32 = optional(name, default)?;
            if !(1..=36_500).contains(&value) {
                return Err(ConfigError::Invalid {
                    name,
                    reason: "must be between 1 and 36500 days".into(),
                });
            }
            Ok(value)
        };
        let settings = Self {
            interval: Duration::from_secs(interval),
            outbox_days: days("RETENTION_OUTBOX_DAYS", 7)?,
            processed_events_days: days("RETENTION_PROCESSED_EVENTS_DAYS", 14)?,
            dead_letters_days: days("RETENTION_DEAD_LETTERS_DAYS", 30)?,
            job_runs_days: days("RETENTION_JOB_RUNS_DAYS", 30)?,
        };
        settings.check()?;
        Ok(settings)
    }

    /// The rules between the windows.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.processed_events_days < self.outbox_days {
            return Err(ConfigError::Invalid {
                name: "RETENTION_PROCESSED_EVENTS_DAYS",
                reason: format!(
                    "is {} but must be at least RETENTION_OUTBOX_DAYS ({}): an event the \
                     outbox still holds can be published again (a replay, a relay crash \
                     before its commit), and the consumers can only skip it while they \
                     remember having processed it",
                    self.processed_events_days, self.outbox_days
                ),
            });
        }
        Ok(())
    }
}

/// Tokens, OTPs, passwords and throttling.
#[derive(Clone)]
pub struct AuthSettings {
    /// HMAC key of access tokens (HS256).
    pub jwt_secret: String,
    /// `iss` of access tokens.
    pub jwt_issuer: String,
    /// `aud` of access tokens.
    pub jwt_audience: String,
    /// Lifetime of an access token.
    pub access_ttl: Duration,
    /// Lifetime of a refresh token (sliding: each rotation starts it again).
    pub refresh_ttl: Duration,
    /// Longest a session lives from its login, however often it is refreshed.
    pub refresh_max_age: Duration,
    /// A refresh token presented again within this long after its rotation is taken
    /// for a second tab racing the first (refused, session kept), not for theft.
    pub refresh_reuse_grace: Duration,
    /// Shortest new password, in characters.
    pub password_min_length: usize,
    /// Wrong codes per client address per hour, over every account.
    pub otp_verify_max_failures_per_ip: u32,
    /// Wrong codes per account (per purpose) per hour, from every address.
    pub otp_verify_max_failures_per_account: u32,
    /// The first delay on an account past `login_max_failures`; it doubles per failure.
    pub login_delay_base: Duration,
    /// The longest such delay.
    pub login_delay_max: Duration,
    /// How long an address that logged in to an account stays its usual one.
    pub login_known_address_ttl: Duration,
    /// Server secret of the OTP HMAC.
    pub otp_secret: String,
    /// Lifetime of an OTP.
    pub otp_ttl: Duration,
    /// Wrong tries before a code dies.
    pub otp_max_attempts: u32,
    /// Wait between two codes for one address.
    pub otp_cooldown: Duration,
    /// Codes per address per hour.
    pub otp_max_per_hour_per_email: u32,
    /// Codes per client IP per hour.
    pub otp_max_per_hour_per_ip: u32,
    /// Failed logins per account and address within the window before 429; also the
    /// account's failures after which guesses from unknown addresses are slowed down.
    pub login_max_failures: u32,
    /// Failed logins per client IP within the window before 429.
    pub login_max_failures_per_ip: u32,
    /// The throttling window.
    pub login_window: Duration,
    /// bcrypt cost of new hashes.
    pub bcrypt_cost: u32,
    /// bcrypt hashes running at once per instance.
    pub bcrypt_max_concurrency: usize,
    /// Peers whose `X-Real-IP` names the client (the load balancer).
    pub trusted_proxies: Vec<IpAddr>,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("access_ttl", &self.access_ttl)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .finish_non_exhaustive()
    }
}

impl AuthSettings {
    /// Reads the auth settings.
    pub fn from_env() -> Result<Self, ConfigError> {
        let bcrypt_cost: u32 = optional("BCRYPT_COST", 11)?;
        if !(4..=31).contains(&bcrypt_cost) {
            return Err(ConfigError::Invalid {
                name: "BCRYPT_COST",
                reason: "must be between 4 and 31".into(),
            });
        }
        let proxies: String = optional("TRUSTED_PROXIES", "127.0.0.1,::1".to_owned())?;
        let mut trusted_proxies = Vec::new();
        for p in proxies.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            trusted_proxies.push(parse::<IpAddr>("TRUSTED_PROXIES", p)?);
        }
        Ok(Self {
            jwt_secret: secret("JWT_SECRET", 32)?,
            jwt_issuer: optional("JWT_ISSUER", "shop-api".to_owned())?,
            jwt_audience: optional("JWT_AUDIENCE", "shop-clients".to_owned())?,
            access_ttl: Duration::from_secs(optional("ACCESS_TOKEN_TTL_SECONDS", 900)?),
            refresh_ttl: Duration::from_secs(
                optional::<u64>("REFRESH_TOKEN_TTL_DAYS", 30)? * 86_400,
            ),
            refresh_max_age: Duration::from_secs(
                optional::<u64>("REFRESH_SESSION_MAX_DAYS", 90)? * 86_400,
            ),
            refresh_reuse_grace: Duration::from_secs(optional("REFRESH_REUSE_GRACE_SECONDS", 5)?),
            password_min_length: optional("PASSWORD_MIN_LENGTH", 10)?,
            otp_verify_max_failures_per_ip: optional("OTP_VERIFY_MAX_FAILURES_PER_IP", 30)?,
            otp_verify_max_failures_per_account: optional(
                "OTP_VERIFY_MAX_FAILURES_PER_ACCOUNT",
                20,
            )?,
            login_delay_base: Duration::from_millis(optional("LOGIN_DELAY_BASE_MS", 1000)?),
            login_delay_max: Duration::from_secs(optional("LOGIN_DELAY_MAX_SECONDS", 300)?),
            login_known_address_ttl: Duration::from_secs(
                optional::<u64>("LOGIN_KNOWN_ADDRESS_DAYS", 30)? * 86_400,
            ),
            otp_secret: secret("OTP_HMAC_SECRET", 32)?,
            otp_ttl: Duration::from_secs(optional("OTP_TTL_SECONDS", 600)?),
            otp_max_attempts: optional("OTP_MAX_ATTEMPTS", 5)?,
            otp_cooldown: Duration::from_secs(optional("OTP_RESEND_COOLDOWN_SECONDS", 60)?),
            otp_max_per_hour_per_email: optional("OTP_MAX_PER_HOUR_PER_EMAIL", 5)?,
            otp_max_per_hour_per_ip: optional("OTP_MAX_PER_HOUR_PER_IP", 30)?,
            login_max_failures: optional("LOGIN_MAX_FAILURES", 5)?,
            login_max_failures_per_ip: optional("LOGIN_MAX_FAILURES_PER_IP", 50)?,
            login_window: Duration::from_secs(optional("LOGIN_FAILURE_WINDOW_SECONDS", 900)?),
            bcrypt_cost,
            bcrypt_max_concurrency: optional("BCRYPT_MAX_CONCURRENCY", 2)?,
            trusted_proxies,
        })
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("instance_id", &self.instance_id)
            .field("database_url", &redact_url(&self.database_url))
            .field("database_max_connections", &self.database_max_connections)
            .field("redis_url", &redact_url(&self.redis_url))
            .field("kafka_brokers", &self.kafka_brokers)
            .field("cors", &self.cors)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_json_body_bytes", &self.max_json_body_bytes)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("shutdown_drain", &self.shutdown_drain)
            .field("outbox_max_attempts", &self.outbox_max_attempts)
            .field("auth", &self.auth)
            .field("catalogue_cache_ttl", &self.catalogue_cache_ttl)
            .field(
                "catalogue_listing_stores_per_minute",
                &self.catalogue_listing_stores_per_minute,
            )
            .field("catalogue_stock_staleness", &self.catalogue_stock_staleness)
            .field("request_log", &self.request_log)
            .field("image_cache_bytes", &self.image_cache_bytes)
            .field("max_quantity_per_product", &self.max_quantity_per_product)
            .field("reviews_max_per_hour", &self.reviews_max_per_hour)
            .field("event_seal_key", &self.event_seal_key)
            .field("retention", &self.retention)
            .finish()
    }
}

impl Settings {
    /// Reads the settings from `vars` only (in-process tests), never the environment.
    pub fn from_vars(
        vars: &std::collections::HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        with_vars(vars, Self::from_env)
    }

    /// Reads the settings from the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let port: u16 = optional("PORT", 5000)?;
        Ok(Self {
            host: optional("HOST", IpAddr::from([127, 0, 0, 1]))?,
            port,
            instance_id: optional("INSTANCE_ID", format!("api-{port}"))?,
            database_url: required("DATABASE_URL")?,
            database_max_connections: optional("DATABASE_MAX_CONNECTIONS", 10)?,
            redis_url: required("REDIS_URL")?,
            kafka_brokers: required("KAFKA_BROKERS")?,
            cors: CorsSettings::from_env()?,
            max_body_bytes: optional("MAX_BODY_BYTES", 26_214_400)?,
            max_json_body_bytes: optional("MAX_JSON_BODY_BYTES", 65_536)?,
            shutdown_timeout: Duration::from_secs(optional("SHUTDOWN_TIMEOUT_SECONDS", 30)?),
            shutdown_drain: Duration::from_millis(optional("SHUTDOWN_DRAIN_MS", 1000)?),
            outbox_max_attempts: optional::<i32>("OUTBOX_MAX_ATTEMPTS", 6)?.max(1),
            auth: AuthSettings::from_env()?,
            catalogue_cache_ttl: Duration::from_secs(optional("CATALOGUE_CACHE_TTL_SECONDS", 60)?),
            catalogue_listing_stores_per_minute: optional(
                "CATALOGUE_LISTING_STORES_PER_MINUTE",
                2000,
            )?,
            catalogue_stock_staleness: Duration::from_millis(optional(
                "CATALOGUE_STOCK_STALENESS_MS",
                1000,
            )?),
            request_log: RequestLogSettings::from_env()?,
            image_cache_bytes: optional("IMAGE_CACHE_BYTES", 16 * 1024 * 1024)?,
            max_quantity_per_product: optional("MAX_QUANTITY_PER_PRODUCT", 10)?,
            reviews_max_per_hour: optional::<u64>("REVIEWS_MAX_PER_HOUR", 10)?.max(1),
            event_seal_key: SealKey::from_env()?,
            retention: RetentionSettings::from_env()?,
            orders: OrderSettings::from_env()?,
        })
    }
}

#[cfg(test)]
mod tests;
