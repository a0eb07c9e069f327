//! Fixed-window counters in Redis, shared by every instance.
//!
//! A window starts at the first hit and lasts `window`; `Retry-After` is the time
//! left in it. Used for login failures, OTP sends (per address and sender, per sender
//! per hour), failed code verifications and the resend cooldown.
//!
//! Invariant: every limit is decided where it is counted, in one Lua script: an
//! attempt is *reserved* (counted) before the password or code is judged, and given
//! back only when the outcome was a success. A burst of concurrent requests over every
//! instance therefore gets exactly the number of judged attempts one request at a
//! time would, never one per request in flight.

use std::{
    net::{IpAddr, Ipv6Addr},
    time::Duration,
};

use redis::{Script, aio::ConnectionManager};

use super::keys;

/// Adds one hit and returns `(count, seconds left in the window)`.
const HIT_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
";

/// Counts a hit on `key`; returns the count and the time left in its window.
pub async fn hit(
    redis: &mut ConnectionManager,
    key: &str,
    window: Duration,
) -> redis::RedisResult<(u64, Duration)> {
    let (count, ttl_ms): (u64, i64) = Script::new(HIT_SCRIPT)
        .key(key)
        .arg(window.as_millis() as u64)
        .invoke_async(redis)
        .await?;
    Ok((count, Duration::from_millis(ttl_ms.max(0) as u64)))
}

/// The current count of `key` and the time left in its window.
pub async fn peek(redis: &mut ConnectionManager, key: &str) -> redis::RedisResult<(u64, Duration)> {
    let (count, ttl_ms): (Option<u64>, i64) =
        redis::pipe().get(key).pttl(key).query_async(redis).await?;
    Ok((
        count.unwrap_or(0),
        Duration::from_millis(ttl_ms.max(0) as u64),
    ))
}

/// Forgets `key` (a successful login resets the account's failures).
pub async fn reset(redis: &mut ConnectionManager, key: &str) -> redis::RedisResult<()> {
    redis::cmd("DEL").arg(key).query_async(redis).await
}

/// Takes a cooldown on `key` for `period`; `Err(left)` when one is running.
pub async fn cooldown(
    redis: &mut ConnectionManager,
    key: &str,
    period: Duration,
) -> redis::RedisResult<Result<(), Duration>> {
    let set: Option<String> = redis::cmd("SET")
        .arg(key)
        .arg(1)
        .arg("NX")
        .arg("PX")
        .arg(period.as_millis() as u64)
        .query_async(redis)
        .await?;
    if set.is_some() {
        return Ok(Ok(()));
    }
    let ttl: i64 = redis::cmd("PTTL").arg(key).query_async(redis).await?;
    Ok(Err(Duration::from_millis(ttl.max(1) as u64)))
}

/// The bucket a client address is limited in: an IPv4 address, or the /64 of an IPv6
/// one (one subscriber usually holds a whole /64, so per-/128 buckets would give an
/// attacker 2^64 of them). Unknown peers share one bucket.
pub fn ip_bucket(ip: Option<IpAddr>) -> String {
    match ip {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        },
        None => "unknown".to_owned(),
    }
}

/// Reserves one attempt on every key at once, or none: `Ok(())` when each key was
/// below its limit (each is then counted), `Err((index, left))` naming the first key at
/// its limit and the time left in its window.
const RESERVE_SCRIPT: &str = r"
for i = 1, #KEYS do
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  if n >= tonumber(ARGV[i + 1]) then
    local t = redis.call('PTTL', KEYS[i])
    if t < 0 then t = tonumber(ARGV[1]) end
    return {i, t}
  end
end
for i = 1, #KEYS do
  local n = redis.call('INCR', KEYS[i])
  if n == 1 or redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
end
return {0, 0}
";

/// Reserves one attempt on each of `keys` (with their `limits`) in `window`.
pub async fn reserve(
    redis: &mut ConnectionManager,
    keys: &[&str],
    limits: &[u64],
    window: Duration,
) -> redis::RedisResult<Result<(), (usize, Duration)>> {
    let reserve = Script::new(RESERVE_SCRIPT);
    let mut script = reserve.prepare_invoke();
    for key in keys {
        script.key(*key);
    }
    script.arg(window.as_millis() as u64);
    for limit in limits {
        script.arg(*limit);
    }
    let (index, ttl_ms): (usize, i64) = script.invoke_async(redis).await?;
    Ok(if index == 0 {
        Ok(())
    } else {
        Err((index - 1, Duration::from_millis(ttl_ms.max(1) as u64)))
    })
}

/// Gives back one reserved attempt on each key (the attempt succeeded).
const RELEASE_SCRIPT: &str = r"
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
";

/// Gives back the attempt [`reserve`] counted on `keys`.
pub async fn release(redis: &mut ConnectionManager, keys: &[&str]) -> redis::RedisResult<()> {
    let release = Script::new(RELEASE_SCRIPT);
    let mut script = release.prepare_invoke();
    for key in keys {
        script.key(*key);
    }
    let _: i64 = script.invoke_async(redis).await?;
    Ok(())
}

/// The keys of one login attempt.
pub struct LoginKeys {
    /// Failures of this account from this address.
    pub pair: String,
    /// Failures from this address, over every account.
    pub ip: String,
    /// Failures of this account, from every address.
    pub account: String,
    /// When the next judged attempt on this account may run (ms since the epoch).
    pub next: String,
    /// Set when this address logged in to this account before (its owner's usual one).
    pub known: String,
}

impl LoginKeys {
    /// The keys for `email` from `bucket` (see [`ip_bucket`]).
    pub fn new(email: &str, bucket: &str) -> Self {
        Self {
            pair: keys::login_fail_pair(email, bucket),
            ip: keys::login_fail_ip(bucket),
            account: keys::login_fail_account(email),
            next: keys::login_next(email),
            known: keys::login_known(email, bucket),
        }
    }
}

/// Why a login attempt may not be judged now.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginRefusal {
    /// This address failed too often on this account.
    Pair(Duration),
    /// This address failed too often over all accounts.
    Address(Duration),
    /// The account is under attack: the next guess from an unknown address must wait.
    Slowed(Duration),
}

/// The login limits.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failures per account and address in the window.
    pub per_pair: u64,
    /// Failures per address in the window.
    pub per_ip: u64,
    /// Failures per account before guesses from unknown addresses are slowed down.
    pub per_account: u64,
    /// The window.
    pub window: Duration,
    /// The first delay once `per_account` is reached; it doubles with each failure.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

/// Reserves a login attempt (see the module invariant), or refuses it. Beyond
/// `per_account` failures, each judged guess from an address that never logged in to
/// the account pushes the next one out by a doubling delay: guessing slows to a crawl,
/// while the owner from their usual address is never delayed.
const LOGIN_SCRIPT: &str = r"
local window = tonumber(ARGV[1])
local function left(k)
  local t = redis.call('PTTL', k)
  if t < 0 then return window end
  return t
end
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[2]) then return {1, left(KEYS[1])} end
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[3]) then return {2, left(KEYS[2])} end
local acct = tonumber(redis.call('GET', KEYS[3]) or '0')
local limit = tonumber(ARGV[4])
if acct >= limit and redis.call('EXISTS', KEYS[5]) == 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local nxt = tonumber(redis.call('GET', KEYS[4]) or '0')
  if now < nxt then return {3, nxt - now} end
  local delay = math.min(tonumber(ARGV[5]) * (2 ^ (acct - limit)), tonumber(ARGV[6]))
  redis.call('SET', KEYS[4], string.format('%d', now + delay), 'PX', window)
end
for i = 1, 3 do
  local n = redis.call('INCR', KEYS[i])
  if n == 1 or redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], window) end
end
return {0, 0}
";

/// Reserves one login attempt under `limits`.
pub async fn reserve_login(
    redis: &mut ConnectionManager,
    keys: &LoginKeys,
    limits: &LoginLimits,
) -> redis::RedisResult<Result<(), LoginRefusal>> {
    let (verdict, ms): (u8, i64) = Script::new(LOGIN_SCRIPT)
        .key(&keys.pair)
        .key(&keys.ip)
        .key(&keys.account)
        .key(&keys.next)
        .key(&keys.known)
        .arg(limits.window.as_millis() as u64)
        .arg(limits.per_pair)
        .arg(limits.per_ip)
        .arg(limits.per_account)
        .arg(limits.base_delay.as_millis() as u64)
        .arg(limits.max_delay.as_millis() as u64)
        .invoke_async(redis)
        .await?;
    let left = Duration::from_millis(ms.max(1) as u64);
    Ok(match verdict {
        0 => Ok(()),
        1 => Err(LoginRefusal::Pair(left)),
        2 => Err(LoginRefusal::Address(left)),
        _ => Err(LoginRefusal::Slowed(left)),
    })
}

/// After a correct password: the reserved attempt is given back, this address's
/// failures on the account are forgotten and, with `remember`, the address becomes a
/// known one for that long.
pub async fn login_succeeded(
    redis: &mut ConnectionManager,
    keys: &LoginKeys,
    remember: Option<Duration>,
) -> redis::RedisResult<()> {
    release(redis, &[&keys.ip, &keys.account]).await?;
    let mut pipe = redis::pipe();
    pipe.del(&keys.pair).ignore();
    if let Some(remember) = remember {
        pipe.cmd("SET")
            .arg(&keys.known)
            .arg(1)
            .arg("PX")
            .arg(remember.as_millis() as u64)
            .ignore();
    }
    pipe.query_async(redis).await
}

/// Forgets every failure counted against the account `email` and every address
/// known as its owner's (its password was just set by someone who may set it).
pub async fn forget_account_failures(
    redis: &mut ConnectionManager,
    email: &str,
) -> redis::RedisResult<()> {
    let escaped: String = email
        .chars()
        .flat_map(|c| {
            let esc = matches!(c, '*' | '?' | '[' | ']' | '\\').then_some('\\');
            esc.into_iter().chain(std::iter::once(c))
        })
        .collect();
    for pattern in [
        keys::login_fail_pair_pattern(&escaped),
        keys::login_known_pattern(&escaped),
    ] {
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(redis)
                .await?;
            if !keys.is_empty() {
                let _: () = redis::cmd("DEL").arg(&keys).query_async(redis).await?;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    let _: () = redis::cmd("DEL")
        .arg(keys::login_fail_account(email))
        .arg(keys::login_next(email))
        .query_async(redis)
        .await?;
    Ok(())
}

/// Seconds for `Retry-After`, rounded up, at least 1.
pub fn retry_after_secs(left: Duration) -> u64 {
    left.as_millis().div_ceil(1000).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::{ip_bucket, retry_after_secs};
    use std::time::Duration;

    #[test]
    fn ipv6_clients_share_a_bucket_per_64_and_ipv4_ones_per_address() {
        let a = "2001:db8:1:2:aaaa::1".parse().ok();
        let b = "2001:db8:1:2:ffff:1:2:3".parse().ok();
        let c = "2001:db8:1:3::1".parse().ok();
        assert_eq!(ip_bucket(a), ip_bucket(b));
        assert_ne!(ip_bucket(a), ip_bucket(c));
        assert_eq!(ip_bucket("10.1.2.3".parse().ok()), "10.1.2.3");
        assert_eq!(ip_bucket("::ffff:10.1.2.3".parse().ok()), "10.1.2.3");
        assert_eq!(ip_bucket(None), "unknown");
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::from_millis(0)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(60)), 60);
    }
}
