//! Password hashing with bcrypt, off the async threads and bounded.
//!
//! Invariants: bcrypt runs in `spawn_blocking` so it never stalls the reactor; at most
//! `max_concurrent` hashes run at once so a login storm queues instead of starving the
//! instance; passwords over 72 bytes are rejected (bcrypt would silently truncate).

use std::sync::Arc;

use tokio::sync::Semaphore;

/// bcrypt reads at most this many bytes.
pub const MAX_PASSWORD_BYTES: usize = 72;
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Why a password is not acceptable.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PasswordError {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    #[error("must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    /// More than [`MAX_PASSWORD_BYTES`] bytes.
    #[error("must be at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
}

/// Checks length rules before any hashing.
pub fn validate(password: &str) -> Result<(), PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// A bounded bcrypt worker.
#[derive(Clone)]
pub struct Hasher {
    cost: u32,
    permits: Arc<Semaphore>,
}

impl Hasher {
    /// A hasher at `cost` running at most `max_concurrent` hashes.
    pub fn new(cost: u32, max_concurrent: usize) -> Self {
        Self {
            cost,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
        }
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
        let _permit = self.permits.acquire().await?;
        tokio::task::spawn_blocking(job).await?
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
    fn passwords_outside_8_chars_to_72_bytes_are_rejected() {
        assert_eq!(validate("short"), Err(PasswordError::TooShort));
        assert_eq!(validate(&"a".repeat(73)), Err(PasswordError::TooLong));
        assert_eq!(validate(&"a".repeat(72)), Ok(()));
        assert_eq!(validate("eight888"), Ok(()));
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
}
