//! Configuration of a consumer process, from the environment (see `.env.example`).

use std::{net::IpAddr, time::Duration};

use api::configuration::{ConfigError, optional, required};

/// Settings shared by every consumer binary.
#[derive(Debug, Clone)]
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
        })
    }
}
