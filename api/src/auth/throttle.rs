//! Fixed-window counters in Redis, shared by every instance.
//!
//! A window starts at the first hit and lasts `window`; `Retry-After` is the time
//! left in it. Used for login failures (per account and per client IP), OTP sends
//! (per address and per IP per hour) and the resend cooldown.

use std::time::Duration;

use redis::{Script, aio::ConnectionManager};

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

/// Seconds for `Retry-After`, rounded up, at least 1.
pub fn retry_after_secs(left: Duration) -> u64 {
    left.as_millis().div_ceil(1000).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::retry_after_secs;
    use std::time::Duration;

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::from_millis(0)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(60)), 60);
    }
}
