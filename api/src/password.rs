//! Password hashing with bcrypt, off the async threads and bounded; the policy for new
//! passwords.
//!
//! Invariants: bcrypt runs in `spawn_blocking` so it never stalls the reactor; at most
//! `max_concurrent` hashes run at once, and the permit is owned by the blocking job
//! itself, so a client that hangs up mid-login frees its permit only when its bcrypt
//! has finished (a loop of "send a login, hang up" cannot run more); passwords over 72
//! bytes are rejected (bcrypt would silently truncate).
//!
//! Policy (NIST SP 800-63B): at least [`min_chars`](Policy) characters (a setting, 10
//! by default), at most 72 bytes, not only whitespace, and not one of the 10,000 most
//! common passwords (`auth/common-passwords.txt`, compared case-insensitively).

use std::{
    collections::HashSet,
    sync::{
        Arc, LazyLock,
        atomic::{AtomicI64, Ordering},
    },
};

use prometheus::IntGauge;
use tokio::sync::Semaphore;

/// bcrypt reads at most this many bytes.
pub const MAX_PASSWORD_BYTES: usize = 72;
/// The default shortest password accepted (`PASSWORD_MIN_LENGTH`).
pub const DEFAULT_MIN_PASSWORD_CHARS: usize = 10;

static COMMON: LazyLock<HashSet<String>> = LazyLock::new(|| {
    include_str!("auth/common-passwords.txt")
        .lines()
        .map(|l| l.trim().to_lowercase())
        .filter(|l| !l.is_empty())
        .collect()
});

/// Why a password is not acceptable; each names the rule.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PasswordError {
    /// Fewer characters than the policy's minimum.
    #[error("must be at least {0} characters")]
    TooShort(usize),
    /// More than [`MAX_PASSWORD_BYTES`] bytes.
    #[error("must be at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    /// Nothing but spaces, tabs or line breaks.
    #[error("must not be only whitespace")]
    OnlyWhitespace,
    /// In the list of the 10,000 most common passwords.
    #[error("is one of the 10,000 most common passwords; choose another")]
    Common,
}

/// The rules a new password must meet.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Shortest password accepted, in characters.
    pub min_chars: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            min_chars: DEFAULT_MIN_PASSWORD_CHARS,
        }
    }
}

impl Policy {
    /// Checks `password` against every rule, before any hashing.
    pub fn validate(&self, password: &str) -> Result<(), PasswordError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::TooLong);
        }
        if password.chars().all(char::is_whitespace) && !password.is_empty() {
            return Err(PasswordError::OnlyWhitespace);
        }
        if password.chars().count() < self.min_chars {
            return Err(PasswordError::TooShort(self.min_chars));
        }
        if COMMON.contains(&password.trim().to_lowercase()) {
            return Err(PasswordError::Common);
        }
        Ok(())
    }
}

/// How many bcrypt jobs run right now, and the most that ever ran at once.
#[derive(Clone)]
pub struct HasherGauges {
    /// bcrypt jobs running now (`shop_bcrypt_running`).
    pub running: IntGauge,
    /// The high-water mark of `running` since start (`shop_bcrypt_running_max`).
    pub running_max: IntGauge,
}

impl HasherGauges {
    /// Unregistered gauges (register them with [`crate::metrics::Metrics::register`]).
    pub fn new() -> Result<Self, prometheus::Error> {
        Ok(Self {
            running: IntGauge::new("bcrypt_running", "bcrypt jobs running now")?,
            running_max: IntGauge::new(
                "bcrypt_running_max",
                "most bcrypt jobs that ever ran at once in this process",
            )?,
        })
    }
}

/// A bounded bcrypt worker.
#[derive(Clone)]
pub struct Hasher {
    cost: u32,
    permits: Arc<Semaphore>,
    running: Arc<AtomicI64>,
    gauges: Option<HasherGauges>,
}

impl Hasher {
    /// A hasher at `cost` running at most `max_concurrent` hashes.
    pub fn new(cost: u32, max_concurrent: usize) -> Self {
        Self {
            cost,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            running: Arc::new(AtomicI64::new(0)),
            gauges: None,
        }
    }

    /// Reports running jobs to `gauges`.
    #[must_use]
    pub fn with_gauges(mut self, gauges: HasherGauges) -> Self {
        self.gauges = Some(gauges);
        self
    }

    /// The configured cost.
    pub fn cost(&self) -> u32 {
        self.cost
    }

    /// Hashes `password` at the configured cost.
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let cost = self.cost;
        self.run(move || bcrypt::hash(password, cost).map_err(anyhow::Error::from))
            .await
    }

    /// Whether `password` matches `hash`.
    pub async fn verify(&self, password: String, hash: String) -> anyhow::Result<bool> {
        self.run(move || bcrypt::verify(password, &hash).map_err(anyhow::Error::from))
            .await
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        // The permit moves into the blocking job: dropping this future (the client hung
        // up) cannot release it while bcrypt still runs.
        let permit = self.permits.clone().acquire_owned().await?;
        let running = self.running.clone();
        let gauges = self.gauges.clone();
        tokio::task::spawn_blocking(move || {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            if let Some(g) = &gauges {
                g.running.set(now);
                if now > g.running_max.get() {
                    g.running_max.set(now);
                }
            }
            let out = job();
            let now = running.fetch_sub(1, Ordering::SeqCst) - 1;
            if let Some(g) = &gauges {
                g.running.set(now);
            }
            drop(permit);
            out
        })
        .await?
    }
}

/// The cost a stored hash was made with, if it is a bcrypt hash.
pub fn hash_cost(hash: &str) -> Option<u32> {
    hash.split('$').nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_checked_against_each_rule_by_name() {
        let p = Policy::default();
        assert_eq!(p.validate("short"), Err(PasswordError::TooShort(10)));
        assert_eq!(p.validate(&"a".repeat(73)), Err(PasswordError::TooLong));
        assert_eq!(p.validate("          "), Err(PasswordError::OnlyWhitespace));
        assert_eq!(p.validate("        "), Err(PasswordError::OnlyWhitespace));
        assert_eq!(p.validate("1234567890"), Err(PasswordError::Common));
        assert_eq!(p.validate("QwertyUiop"), Err(PasswordError::Common));
        assert_eq!(p.validate(" basketball "), Err(PasswordError::Common));
        assert_eq!(p.validate("correct horse battery"), Ok(()));
        assert_eq!(
            Policy { min_chars: 8 }.validate("password"),
            Err(PasswordError::Common)
        );
        assert_eq!(
            Policy { min_chars: 8 }.validate("12345678"),
            Err(PasswordError::Common)
        );
    }

    #[test]
    fn the_common_list_holds_ten_thousand_passwords() {
        assert!(COMMON.len() > 9_000, "{}", COMMON.len());
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_records_its_cost() -> anyhow::Result<()> {
        let hasher = Hasher::new(4, 2);
        let hash = hasher.hash("correct horse".into()).await?;
        assert_eq!(hash_cost(&hash), Some(4));
        assert!(hasher.verify("correct horse".into(), hash.clone()).await?);
        assert!(!hasher.verify("wrong horse".into(), hash).await?);
        Ok(())
    }

    #[tokio::test]
    async fn dropped_verifies_never_run_more_bcrypts_than_the_bound() -> anyhow::Result<()> {
        let gauges = HasherGauges::new()?;
        let hasher = Hasher::new(6, 2).with_gauges(gauges.clone());
        let hash = hasher.hash("x".into()).await?;
        for _ in 0..20 {
            let h = hasher.clone();
            let hash = hash.clone();
            // Started, then dropped while bcrypt runs: the way a hung-up client's is.
            let job = tokio::spawn(async move { h.verify("y".into(), hash).await });
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            job.abort();
        }
        hasher.verify("x".into(), hash).await?;
        assert!(
            gauges.running_max.get() <= 2,
            "{}",
            gauges.running_max.get()
        );
        Ok(())
    }
}
