//! Configuration of a consumer process, from the environment (see `.env.example`).

use std::{net::IpAddr, time::Duration};

use shop_common::config::{ConfigError, optional, required};

/// Settings shared by every consumer binary. Its `Debug` hides the database password.
#[derive(Clone)]
pub struct ConsumerSettings {
    /// PostgreSQL URL (processed events, ledgers).
    pub database_url: String,
    /// Kafka bootstrap servers.
    pub kafka_brokers: String,
    /// Address of the health/metrics listener.
    pub health_host: IpAddr,
    /// Port of the health/metrics listener.
    pub health_port: u16,
    /// Attempts before a failing message goes to the dead-letter topic.
    pub max_attempts: u32,
    /// First retry delay; doubles each attempt.
    pub initial_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Message keys of one partition's batch handled at the same time.
    pub concurrency: usize,
    /// The group session: how long the broker keeps a silent member's partitions.
    pub session_timeout: Duration,
}

impl std::fmt::Debug for ConsumerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerSettings")
            .field("database_url", &redact_url_password(&self.database_url))
            .field("kafka_brokers", &self.kafka_brokers)
            .field("health_host", &self.health_host)
            .field("health_port", &self.health_port)
            .field("max_attempts", &self.max_attempts)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("concurrency", &self.concurrency)
            .field("session_timeout", &self.session_timeout)
            .finish()
    }
}

/// `scheme://user:secret@host/…` as `scheme://user:<redacted>@host/…`.
pub fn redact_url_password(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    // The last `@` before the query: a password that should have been
    // percent-encoded (`/`, `@`) is still hidden whole.
    let before_query = url[start..]
        .find(['?', '#'])
        .map_or(url.len(), |i| start + i);
    let Some(at) = url[start..before_query].rfind('@').map(|i| start + i) else {
        return url.to_owned();
    };
    match url[start..at].find(':').map(|i| start + i) {
        Some(colon) => format!("{}<redacted>{}", &url[..=colon], &url[at..]),
        None => url.to_owned(),
    }
}

impl ConsumerSettings {
    /// Reads the settings; `port_var` names the health port variable of this consumer.
    pub fn from_env(port_var: &'static str, default_port: u16) -> Result<Self, ConfigError> {
        Ok(Self {
            database_url: required("DATABASE_URL")?,
            kafka_brokers: required("KAFKA_BROKERS")?,
            health_host: optional("HOST", IpAddr::from([127, 0, 0, 1]))?,
            health_port: optional(port_var, default_port)?,
            max_attempts: optional("CONSUMER_MAX_ATTEMPTS", 12)?,
            initial_backoff: Duration::from_millis(optional("CONSUMER_INITIAL_BACKOFF_MS", 500)?),
            max_backoff: Duration::from_millis(optional("CONSUMER_MAX_BACKOFF_MS", 30_000)?),
            concurrency: optional("CONSUMER_CONCURRENCY", 16)?,
            session_timeout: Duration::from_millis(optional(
                "CONSUMER_SESSION_TIMEOUT_MS",
                90_000,
            )?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debug_of_the_settings_hides_the_database_password() {
        let settings = ConsumerSettings {
            database_url: "postgres://shop:s3cr3t-pw@127.0.0.1:5432/shop".into(),
            kafka_brokers: "127.0.0.1:9092".into(),
            health_host: IpAddr::from([127, 0, 0, 1]),
            health_port: 9101,
            max_attempts: 12,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            concurrency: 16,
            session_timeout: Duration::from_secs(90),
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(
            shown.contains("postgres://shop:<redacted>@127.0.0.1:5432/shop"),
            "{shown}"
        );
        assert_eq!(
            redact_url_password("postgres://127.0.0.1/shop"),
            "postgres://127.0.0.1/shop"
        );
        assert_eq!(
            redact_url_password("postgres://u:p@s/s@h/db?x=@"),
            "postgres://u:<redacted>@h/db?x=@"
        );
    }
}
