//! Registration attempts in Redis: each code is bound to the attempt that asked for it.
//!
//! A registration stores an *attempt* under a random token returned to the
//! registrant's client: the MAC of its code, the bcrypt hash of the password chosen
//! with it, the display name and (legacy route) the address given with it. Verifying applies only that attempt's credentials:
//!
//! - On the canonical route the client proves its attempt with the token, so a
//!   stranger who registers the same address before or after the owner can neither
//!   verify (the code goes to the owner's inbox) nor have their password applied
//!   (the owner's client names the owner's attempt). A code is tried only against its
//!   own attempt: 5 tries each, and nobody without the token can spend them.
//! - The legacy route sends only the address and the code. The code is tried against
//!   every live attempt of the address (5 tries per code, and the account's hourly
//!   budget of wrong codes, shared by every instance). When exactly one attempt was
//!   ever made for the address (in [`HISTORY_SECS`]; a client registering again
//!   replaces its own), its credentials apply. When more were (someone else
//!   registered the address too, even one that has expired since), the inbox owner is
//!   verified and signed in, but *no* password is applied: the account gets a random
//!   one nobody knows, and the owner sets theirs with a password reset. Nobody else's
//!   password is ever left active.
//!
//! Keys (formatted in `keys.rs`): `reg:a:{email}:{token}` is a hash `{mac, hash, name, tries, address}` living as long
//! as the code; `reg:s:{email}` is the set of every attempt made for the address
//! (kept for [`HISTORY_SECS`] after the last, expired ones included: an attempt
//! that expired still counts as someone's); `reg:w:{email}` maps each sending client
//! to its attempt, so a client registering again replaces its own attempt instead of
//! adding one; `reg:l:{email}` counts code-only (legacy) tries.

use hmac::Mac;
use rand::{RngCore, TryRngCore};
use redis::{Script, aio::ConnectionManager};

use super::{keys, otp};
use crate::addresses::model::PendingAddress;

/// A fresh attempt token: 128 random bits, hex.
pub fn new_token() -> String {
    let mut raw = [0u8; 16];
    rand::rngs::OsRng.unwrap_err().fill_bytes(&mut raw);
    hex::encode(raw)
}

/// Whether `raw` has the shape of an attempt token (32 hex digits).
pub fn is_token(raw: &str) -> bool {
    raw.len() == 32 && raw.bytes().all(|b| b.is_ascii_hexdigit())
}

/// How long the record of an address's attempts outlives the last one.
pub const HISTORY_SECS: u64 = 7 * 86_400;

fn code_mac(secret: &str, email: &str, token: &str, code: &str) -> String {
    let scoped = format!("register:{email}:{}", token.to_ascii_lowercase());
    hex::encode(otp::mac(secret, &scoped, code).finalize().into_bytes())
}

fn matches(secret: &str, email: &str, token: &str, code: &str, stored: &str) -> bool {
    hex::decode(stored).is_ok_and(|bytes| {
        let scoped = format!("register:{email}:{}", token.to_ascii_lowercase());
        otp::mac(secret, &scoped, code).verify_slice(&bytes).is_ok()
    })
}

/// What an attempt carries.
pub struct Attempt {
    /// The bcrypt hash of the password chosen with it.
    pub password_hash: String,
    /// The display name given with it.
    pub name: String,
    /// The address a legacy registration gave with it (the account's first address
    /// once verified).
    pub address: Option<PendingAddress>,
}

/// The attempt's address as stored in its hash: JSON, or '' for none.
fn address_field(address: Option<&PendingAddress>) -> String {
    address
        .and_then(|a| serde_json::to_string(a).ok())
        .unwrap_or_default()
}

/// The attempt's address from its hash field ('' or absent, from an instance that
/// stored none, is none).
fn read_address(raw: &str) -> Option<PendingAddress> {
    if raw.is_empty() {
        return None;
    }
    serde_json::from_str(raw)
        .inspect_err(|e| tracing::warn!(error = %e, "unreadable address in a registration attempt"))
        .ok()
}

/// Stores a new attempt (or, with `ARGV[5] == '1'`, a new code for an existing one:
/// its credentials stay) for `email` with `code`, valid `ttl_secs`. A new attempt
/// resets the legacy tries: a new code gets its tries, as a resent one always did.
const STORE_SCRIPT: &str = r"
if ARGV[5] == '1' then
  if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
  redis.call('HSET', KEYS[1], 'mac', ARGV[1], 'tries', 0)
else
  local previous = redis.call('HGET', KEYS[4], ARGV[7])
  if previous and previous ~= ARGV[6] then
    redis.call('DEL', ARGV[9] .. previous)
    redis.call('SREM', KEYS[2], previous)
  end
  redis.call('HSET', KEYS[4], ARGV[7], ARGV[6])
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'mac', ARGV[1], 'hash', ARGV[2], 'name', ARGV[3], 'tries', 0, 'address', ARGV[10])
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('SADD', KEYS[2], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[8])
redis.call('EXPIRE', KEYS[4], ARGV[8])
redis.call('DEL', KEYS[3])
return 1
";

/// Stores a new attempt `token` for `email`, made by the client `sender` (its
/// previous attempt for the address, if any, is replaced).
#[allow(
    clippy::too_many_arguments,
    reason = "one call site, each argument named"
)]
pub async fn store(
    redis: &mut ConnectionManager,
    secret: &str,
    email: &str,
    token: &str,
    code: &str,
    attempt: &Attempt,
    ttl_secs: u64,
    sender: &str,
) -> redis::RedisResult<()> {
    let _: i64 = Script::new(STORE_SCRIPT)
        .key(keys::reg_attempt(email, token))
        .key(keys::reg_attempts(email))
        .key(keys::reg_legacy_tries(email))
        .key(keys::reg_senders(email))
        .arg(code_mac(secret, email, token, code))
        .arg(&attempt.password_hash)
        .arg(&attempt.name)
        .arg(ttl_secs)
        .arg("0")
        .arg(token.to_ascii_lowercase())
        .arg(sender)
        .arg(HISTORY_SECS)
        .arg(keys::reg_attempt_prefix(email))
        .arg(address_field(attempt.address.as_ref()))
        .invoke_async(redis)
        .await?;
    Ok(())
}

/// A new code for the live attempt `token`; `false` when it is not live.
pub async fn renew(
    redis: &mut ConnectionManager,
    secret: &str,
    email: &str,
    token: &str,
    code: &str,
    ttl_secs: u64,
) -> redis::RedisResult<bool> {
    let stored: i64 = Script::new(STORE_SCRIPT)
        .key(keys::reg_attempt(email, token))
        .key(keys::reg_attempts(email))
        .key(keys::reg_legacy_tries(email))
        .key(keys::reg_senders(email))
        .arg(code_mac(secret, email, token, code))
        .arg("")
        .arg("")
        .arg(ttl_secs)
        .arg("1")
        .arg(token.to_ascii_lowercase())
        .arg("")
        .arg(HISTORY_SECS)
        .arg(keys::reg_attempt_prefix(email))
        .invoke_async(redis)
        .await?;
    Ok(stored == 1)
}

/// Counts a try on one attempt and returns its MAC and the tries so far. A dead code
/// (its tries spent) has an empty MAC: the attempt stays, so a resent code can
/// revive it with its credentials.
const TRY_SCRIPT: &str = r"
local mac = redis.call('HGET', KEYS[1], 'mac')
if not mac or mac == '' then return false end
local tries = redis.call('HINCRBY', KEYS[1], 'tries', 1)
if tries > tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'mac', ''); return false end
return {mac, tries}
";

/// Kills the code of a live attempt (its last try was wrong); never creates a key.
const KILL_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'mac', '') end
return 0
";

/// Takes the attempt if it still holds this MAC: returns its hash, name and address
/// ('' when it has none).
const CONSUME_SCRIPT: &str = r"
if redis.call('HGET', KEYS[1], 'mac') ~= ARGV[1] then return false end
local out = {redis.call('HGET', KEYS[1], 'hash'), redis.call('HGET', KEYS[1], 'name'),
             redis.call('HGET', KEYS[1], 'address') or ''}
redis.call('DEL', KEYS[1])
return out
";

/// The outcome of checking a code.
pub enum Check {
    /// The code was right; the attempt is consumed. `sole` is false when other
    /// attempts of the address were live (legacy route only; always true otherwise).
    Valid {
        /// The attempt's credentials.
        attempt: Attempt,
        /// Whether it was the only live attempt.
        sole: bool,
    },
    /// Wrong code; tries left (0: it is dead now).
    Wrong {
        /// Tries left.
        remaining: u32,
    },
    /// No live attempt (never made, expired, used or dead).
    Missing,
}

async fn consume(
    redis: &mut ConnectionManager,
    key: &str,
    mac: &str,
) -> redis::RedisResult<Option<Attempt>> {
    let taken: Option<(String, String, String)> = Script::new(CONSUME_SCRIPT)
        .key(key)
        .arg(mac)
        .invoke_async(redis)
        .await?;
    Ok(taken.map(|(password_hash, name, address)| Attempt {
        password_hash,
        name,
        address: read_address(&address),
    }))
}

/// Checks `code` against the attempt `token` of `email`.
pub async fn verify(
    redis: &mut ConnectionManager,
    secret: &str,
    email: &str,
    token: &str,
    code: &str,
    max_tries: u32,
) -> redis::RedisResult<Check> {
    let key = keys::reg_attempt(email, token);
    let stored: Option<(String, u32)> = Script::new(TRY_SCRIPT)
        .key(&key)
        .arg(max_tries)
        .invoke_async(redis)
        .await?;
    let Some((mac, tries)) = stored else {
        return Ok(Check::Missing);
    };
    if matches(secret, email, token, code, &mac) {
        return Ok(match consume(redis, &key, &mac).await? {
            Some(attempt) => Check::Valid {
                attempt,
                sole: true,
            },
            None => Check::Missing,
        });
    }
    let remaining = max_tries.saturating_sub(tries);
    if remaining == 0 {
        let _: i64 = Script::new(KILL_SCRIPT)
            .key(&key)
            .invoke_async(redis)
            .await?;
    }
    Ok(Check::Wrong { remaining })
}

/// Counts a code-only try for the address and returns the tries, the number of
/// attempts ever made for it (expired ones included), and the live attempts' tokens
/// and MACs; nothing when no attempt is live or the address's tries are spent.
const LEGACY_TRY_SCRIPT: &str = r"
local tries = redis.call('INCR', KEYS[2])
if tries == 1 then redis.call('EXPIRE', KEYS[2], ARGV[3]) end
if tries > tonumber(ARGV[1]) then return false end
local members = redis.call('SMEMBERS', KEYS[1])
local out = {tries, #members}
for _, token in ipairs(members) do
  local mac = redis.call('HGET', ARGV[2] .. token, 'mac')
  if mac and mac ~= '' then
    table.insert(out, token)
    table.insert(out, mac)
  end
end
if #out == 2 then return false end
return out
";

/// Checks `code` against every live attempt of `email` (the legacy route).
pub async fn verify_code_only(
    redis: &mut ConnectionManager,
    secret: &str,
    email: &str,
    code: &str,
    max_tries: u32,
    ttl_secs: u64,
) -> redis::RedisResult<Check> {
    let stored: Option<Vec<String>> = Script::new(LEGACY_TRY_SCRIPT)
        .key(keys::reg_attempts(email))
        .key(keys::reg_legacy_tries(email))
        .arg(max_tries)
        .arg(keys::reg_attempt_prefix(email))
        .arg(ttl_secs)
        .invoke_async(redis)
        .await?;
    let Some(stored) = stored else {
        return Ok(Check::Missing);
    };
    let tries: u32 = stored
        .first()
        .and_then(|t| t.parse().ok())
        .unwrap_or(max_tries);
    let ever: usize = stored
        .get(1)
        .and_then(|t| t.parse().ok())
        .unwrap_or(usize::MAX);
    let live: Vec<(&String, &String)> = stored
        .get(2..)
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|pair| (&pair[0], &pair[1]))
        .collect();
    // Every live attempt is compared, so the time taken does not tell which matched.
    let mut found = None;
    for (token, mac) in &live {
        if matches(secret, email, token, code, mac) && found.is_none() {
            found = Some((keys::reg_attempt(email, token), (*mac).clone()));
        }
    }
    if let Some((key, mac)) = found {
        return Ok(match consume(redis, &key, &mac).await? {
            Some(attempt) => Check::Valid {
                attempt,
                sole: ever == 1,
            },
            None => Check::Missing,
        });
    }
    Ok(Check::Wrong {
        remaining: max_tries.saturating_sub(tries),
    })
}

/// Forgets every attempt of `email` (the address is verified now).
pub async fn forget(redis: &mut ConnectionManager, email: &str) -> redis::RedisResult<()> {
    let tokens: Vec<String> = redis::cmd("SMEMBERS")
        .arg(keys::reg_attempts(email))
        .query_async(redis)
        .await?;
    let mut keys: Vec<String> = tokens.iter().map(|t| keys::reg_attempt(email, t)).collect();
    keys.push(keys::reg_attempts(email));
    keys.push(keys::reg_legacy_tries(email));
    keys.push(keys::reg_senders(email));
    redis::cmd("DEL").arg(keys).query_async(redis).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_matches_only_its_own_attempt() {
        let mac = code_mac("k", "a@x.io", "ab", "123456");
        assert!(matches("k", "a@x.io", "ab", "123456", &mac));
        assert!(matches("k", "a@x.io", "AB", "123456", &mac));
        assert!(!matches("k", "a@x.io", "cd", "123456", &mac));
        assert!(!matches("k", "b@x.io", "ab", "123456", &mac));
        assert!(!matches("k", "a@x.io", "ab", "123457", &mac));
    }

    #[test]
    fn tokens_are_32_hex_digits() {
        let t = new_token();
        assert!(is_token(&t));
        assert_ne!(t, new_token());
        assert!(!is_token("xyz"));
    }
}
