//! One-time codes in Redis, stored only as an HMAC.
//!
//! Key `otp:{scope}:{email}` is a hash `{mac, tries}` with the OTP's TTL; the scope
//! (`reset` for password resets) is part of the MAC, so a code of one purpose never
//! passes for another. Registration codes are bound to their attempt instead
//! (`attempts.rs`) and use [`mac`] and [`generate_code`] from here. A verification
//! atomically counts the try (Lua) before comparing; the comparison is constant-time
//! (`Mac::verify_slice`); a match deletes the key only if it still holds the same code
//! (single use, even with two instances racing); the last allowed wrong try deletes it
//! (dead code: a new one must be requested).

use hmac::{Hmac, Mac};
use rand::{Rng, TryRngCore};
use redis::{Script, aio::ConnectionManager};
use sha2::Sha256;

use super::keys;

type HmacSha256 = Hmac<Sha256>;

/// The result of a verification.
#[derive(Debug, PartialEq, Eq)]
pub enum OtpCheck {
    /// The code was right and is now consumed.
    Valid,
    /// Wrong code; `remaining` tries left (0: the code is dead).
    Wrong {
        /// Tries left on this code.
        remaining: u32,
    },
    /// No live code for this address (never sent, expired, used or dead).
    Missing,
}

/// A fresh 6-digit code from the operating system's CSPRNG.
pub fn generate_code() -> String {
    let n: u32 = rand::rngs::OsRng.unwrap_err().random_range(0..1_000_000);
    format!("{n:06}")
}

/// The keyed hash of `code` for `email` (which may carry a scope prefix).
pub(crate) fn mac(secret: &str, email: &str, code: &str) -> HmacSha256 {
    // HMAC accepts keys of any length.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(email.as_bytes());
    mac.update(b":");
    mac.update(code.as_bytes());
    mac
}

/// Stores a new `scope` code for `email`, replacing any live one.
pub async fn store(
    redis: &mut ConnectionManager,
    secret: &str,
    scope: &str,
    email: &str,
    code: &str,
    ttl_secs: u64,
) -> redis::RedisResult<()> {
    let scoped = format!("{scope}:{email}");
    let digest = hex::encode(mac(secret, &scoped, code).finalize().into_bytes());
    let key = keys::otp(scope, email);
    redis::pipe()
        .atomic()
        .del(&key)
        .hset_multiple(&key, &[("mac", digest.as_str()), ("tries", "0")])
        .expire(&key, ttl_secs as i64)
        .query_async(redis)
        .await
}

/// Counts a try and returns the stored MAC, or nothing when there is no live code.
const TRY_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local tries = redis.call('HINCRBY', KEYS[1], 'tries', 1)
return {redis.call('HGET', KEYS[1], 'mac'), tries}
";

/// Deletes the key only if it still holds this MAC.
const CONSUME_SCRIPT: &str = r"
if redis.call('HGET', KEYS[1], 'mac') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Checks the `scope` code `code` for `email`, allowing `max_attempts` tries per code.
pub async fn verify(
    redis: &mut ConnectionManager,
    secret: &str,
    scope: &str,
    email: &str,
    code: &str,
    max_attempts: u32,
) -> redis::RedisResult<OtpCheck> {
    let scoped = format!("{scope}:{email}");
    let key = keys::otp(scope, email);
    let stored: Option<(String, u32)> = Script::new(TRY_SCRIPT)
        .key(&key)
        .invoke_async(redis)
        .await?;
    let Some((stored_mac, tries)) = stored else {
        return Ok(OtpCheck::Missing);
    };
    if tries > max_attempts {
        let _: () = redis::cmd("DEL").arg(&key).query_async(redis).await?;
        return Ok(OtpCheck::Missing);
    }
    let matches = hex::decode(&stored_mac)
        .map(|bytes| mac(secret, &scoped, code).verify_slice(&bytes).is_ok())
        .unwrap_or(false);
    if matches {
        let deleted: i64 = Script::new(CONSUME_SCRIPT)
            .key(&key)
            .arg(&stored_mac)
            .invoke_async(redis)
            .await?;
        return Ok(if deleted == 1 {
            OtpCheck::Valid
        } else {
            OtpCheck::Missing
        });
    }
    let remaining = max_attempts.saturating_sub(tries);
    if remaining == 0 {
        let _: () = redis::cmd("DEL").arg(&key).query_async(redis).await?;
    }
    Ok(OtpCheck::Wrong { remaining })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..200 {
            let c = generate_code();
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn the_mac_depends_on_secret_email_and_code() {
        let a = mac("k", "a@x.io", "123456").finalize().into_bytes();
        assert_ne!(a, mac("k2", "a@x.io", "123456").finalize().into_bytes());
        assert_ne!(a, mac("k", "b@x.io", "123456").finalize().into_bytes());
        assert_ne!(a, mac("k", "a@x.io", "123457").finalize().into_bytes());
        assert!(mac("k", "a@x.io", "123456").verify_slice(&a).is_ok());
    }
}
