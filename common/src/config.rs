//! Configuration primitives: typed environment variables whose errors name the variable.
//!
//! Invariant: a missing or malformed variable stops start-up with an error that names
//! it. Every variable read through here is documented in `.env.example`.
//!
//! [`with_vars`] reads from a given map instead of the process environment for the
//! duration of one call: in-process tests build their settings without touching the
//! environment every other test shares.

use std::{cell::RefCell, collections::HashMap, fmt::Display, str::FromStr};

/// A configuration problem, naming the variable at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set (or is empty).
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    /// A variable is set but cannot be parsed.
    #[error("invalid environment variable {name}: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Why it was rejected.
        reason: String,
    },
}

thread_local! {
    static VARS: RefCell<Option<HashMap<String, String>>> = const { RefCell::new(None) };
}

/// Runs `read` with `vars` as the only variables (the process environment is not
/// consulted), on this thread. For tests that build settings in-process.
pub fn with_vars<T>(vars: &HashMap<String, String>, read: impl FnOnce() -> T) -> T {
    let previous = VARS.with(|v| v.replace(Some(vars.clone())));
    let result = read();
    VARS.with(|v| *v.borrow_mut() = previous);
    result
}

/// Reads a variable; `None` when it is unset or empty.
fn raw(name: &'static str) -> Option<String> {
    let value = VARS.with(|v| {
        v.borrow()
            .as_ref()
            .map(|vars| vars.get(name).cloned())
            .unwrap_or_else(|| std::env::var(name).ok())
    });
    value.filter(|v| !v.trim().is_empty())
}

/// A required variable, parsed.
pub fn required<T: FromStr>(name: &'static str) -> Result<T, ConfigError>
where
    T::Err: Display,
{
    let value = raw(name).ok_or(ConfigError::Missing(name))?;
    parse(name, &value)
}

/// An optional variable with a default, parsed.
pub fn optional<T: FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: Display,
{
    match raw(name) {
        Some(value) => parse(name, &value),
        None => Ok(default),
    }
}

/// Parses `value`, the text of variable `name`.
pub fn parse<T: FromStr>(name: &'static str, value: &str) -> Result<T, ConfigError>
where
    T::Err: Display,
{
    value
        .trim()
        .parse()
        .map_err(|e: T::Err| ConfigError::Invalid {
            name,
            reason: e.to_string(),
        })
}

/// A secret of at least `min_len` bytes.
pub fn secret(name: &'static str, min_len: usize) -> Result<String, ConfigError> {
    let value: String = required(name)?;
    if value.len() < min_len {
        return Err(ConfigError::Invalid {
            name,
            reason: format!("must be at least {min_len} bytes long"),
        });
    }
    Ok(value)
}

/// A 32-byte key given as 64 hex digits; `Debug` never shows it.
#[derive(Clone)]
pub struct SealKey(pub [u8; 32]);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

impl SealKey {
    /// Reads `EVENT_SEAL_KEY`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let hex_key: String = required("EVENT_SEAL_KEY")?;
        let bytes = hex::decode(hex_key.trim()).map_err(|e| ConfigError::Invalid {
            name: "EVENT_SEAL_KEY",
            reason: format!("not hex: {e}"),
        })?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| ConfigError::Invalid {
            name: "EVENT_SEAL_KEY",
            reason: "must be 32 bytes (64 hex digits)".into(),
        })?;
        Ok(Self(key))
    }
}

/// A URL with its password replaced by `***`, for `Debug` output and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_vars_reads_only_the_map() {
        // A name no binary reads (held in a binding so the scan of what the binaries
        // read, in the e2e tier, does not take it for one).
        let name = "SHOP_COMMON_TEST_VAR";
        let vars = HashMap::from([(name.to_owned(), " 42 ".to_owned())]);
        let read = with_vars(&vars, || required::<u32>(name));
        assert_eq!(read.ok(), Some(42));
        let path = with_vars(&vars, || raw("PATH"));
        assert_eq!(path, None, "the process environment leaked in");
        assert_eq!(raw(name), None, "the map outlived the call");
    }

    #[test]
    fn a_url_password_is_redacted() {
        assert_eq!(
            redact_url("postgres://shop:s3cret@127.0.0.1:5432/shop"),
            "postgres://shop:***@127.0.0.1:5432/shop"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
