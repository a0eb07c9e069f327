//! Cache-aside for catalogue reads, coherent across instances.
//!
//! Invariants:
//! - every cached value is stamped with the catalogue generation it was read under,
//!   the stock version it was read under and the time its read began (stored as
//!   `<generation>:<stock version>:<unix ms>:<JSON>`); a reader fetches the current
//!   generation, the current stock version and the value in one `MGET`;
//! - admin writes (create, update, archive, stock adjustments) bump the generation
//!   (`INCR products:generation`), which invalidates every listing at once, including
//!   the seed's keys `all_products`, `products_with_images` and `total_products`
//!   (which are also deleted, as the seed did). A write invalidates after its commit
//!   and before it answers, so no instance serves a listing older than a write an
//!   admin was told succeeded; a reader that loaded before the write stamps its value
//!   with the old generation, so it is never served;
//! - orders only move stock, and do not invalidate: they bump the stock version
//!   (`INCR products:stock_version`). A value read under an older stock version is
//!   still served until it is `stock_staleness` old (1 s by default), so the stock a
//!   listing shows is at most that far behind a committed order: a read that began
//!   after the order committed shows it. Once such a value is half that old, the first
//!   reader to take the loading lock reloads it while the others keep being served,
//!   so under a steady stream of orders each hot key is read from PostgreSQL about
//!   twice per `stock_staleness`, whatever the order rate. (Invalidating on every
//!   order, as before, let orders faster than a listing query keep every reader
//!   missing: a hit ratio of 0.32 beside four buyers.)
//! - on a cold key, one reader across all instances takes a short Redis lock and loads;
//!   the others wait for its value (single flight), falling back to the database after
//!   a bound;
//! - Redis down: reads go to PostgreSQL (`X-Cache: BYPASS`), slower but correct.
//!
//! Listings cache the whole response body, so a hit sends the stored bytes as they
//! are: no JSON is parsed or written on the hottest path of the shop.
//!
//! Bounded by construction: some keys come from values a client chose freely (a
//! search, a price, a product id that may not exist), so anyone could mint them.
//! Stores under such open keys draw on one budget shared by every instance (`CATALOGUE_LISTING_STORES_PER_MINUTE`, a counter per minute in
//! Redis); past it the value is served from PostgreSQL and not stored. Entries live
//! at most 1.25 × the TTL, so at most about twice the budget of open keys exist at any
//! time, each at most [`MAX_ENTRY_BYTES`]. Keys of a closed set (the seed's keys, the
//! first pages of a category, stock filter, sort and common page size) never draw on
//! it, so spending the budget cannot switch off the shop's hot listings. No Redis eviction policy is needed for it,
//! and none is wanted: the same Redis holds rate-limit counters and OTPs, which an
//! eviction policy would drop.

use std::{future::Future, time::Duration};

use bytes::Bytes;
use prometheus::{IntCounter, IntCounterVec, Opts};
use rand::Rng;
use redis::aio::ConnectionManager;
use serde::{Serialize, de::DeserializeOwned};

use super::error::CatalogueError;
use crate::metrics::Metrics;

/// The generation counter.
pub const GENERATION_KEY: &str = "products:generation";
/// All active products (the seed's key).
pub const ALL_PRODUCTS: &str = "all_products";
/// Active products with images (the seed's key).
pub const PRODUCTS_WITH_IMAGES: &str = "products_with_images";
/// Number of active products (the seed's key).
pub const TOTAL_PRODUCTS: &str = "total_products";
/// The stock version: bumped by every order.
pub const STOCK_VERSION_KEY: &str = "products:stock_version";

/// How long a waiting reader polls for the value another reader is loading.
const FLIGHT_WAIT: Duration = Duration::from_secs(3);
/// How long the loading lock lives if its holder dies.
const LOCK_TTL_MS: u64 = 5000;
/// Larger values are served but never stored.
pub const MAX_ENTRY_BYTES: usize = 1 << 20;

/// Stores a value only while this minute's listing budget lasts. Replacing a value
/// that is still there (a reload) adds no key, so it is free: under orders the hot
/// open keys (product pages, searches) reload twice a second and must not spend the
/// budget that bounds how many keys exist.
const BUDGETED_STORE_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return 1
end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], 120000) end
if n > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
";

/// Where a response came from (the `X-Cache` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Served from Redis.
    Hit,
    /// Loaded from PostgreSQL and cached.
    Miss,
    /// Redis unavailable: served from PostgreSQL.
    Bypass,
}

impl CacheOutcome {
    /// Header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "HIT",
            Self::Miss => "MISS",
            Self::Bypass => "BYPASS",
        }
    }
}

/// What a stored value was read under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    generation: i64,
    stock_version: i64,
    /// Unix time in ms at which its read began.
    read_at_ms: i64,
}

/// How a stored value may be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freshness {
    /// Serve it.
    Fresh,
    /// Serve it, and have one reader reload it (the stock moved; it is over half the
    /// staleness bound old).
    Refresh,
    /// Never serve it: another generation, or the stock moved and it is past the bound.
    Stale,
}

impl Stamp {
    fn freshness(&self, current: (i64, i64), now_ms: i64, staleness: Duration) -> Freshness {
        let (generation, stock_version) = current;
        if self.generation != generation {
            return Freshness::Stale;
        }
        if self.stock_version == stock_version {
            return Freshness::Fresh;
        }
        // A value read "in the future" (clocks of two instances apart) counts as new.
        let age = u64::try_from(now_ms.saturating_sub(self.read_at_ms)).unwrap_or(0);
        let bound = staleness.as_millis() as u64;
        if age >= bound {
            Freshness::Stale
        } else if age >= bound / 2 {
            Freshness::Refresh
        } else {
            Freshness::Fresh
        }
    }
}

/// Marks the stored format. An older release reads a value up to its first colon as
/// its generation: `v3|7` is no number, so during a rolling deploy it takes this
/// format for a miss instead of serving `7:...` as the body. `v3`: products carry
/// `draft`/`published` statuses, text categories and ratings, which `v2` readers
/// cannot parse (and the reverse), so the two releases never share an entry.
const FORMAT: &[u8] = b"v3|";

/// `v3|generation:stock_version:read_at_ms:json` as stored.
fn stamp(at: Stamp, json: &[u8]) -> Vec<u8> {
    let head = format!(
        "v3|{}:{}:{}:",
        at.generation, at.stock_version, at.read_at_ms
    );
    let mut stored = Vec::with_capacity(head.len() + json.len());
    stored.extend_from_slice(head.as_bytes());
    stored.extend_from_slice(json);
    stored
}

/// The stamp and JSON of a stored value. Anything else, including a value written in
/// another format (an older release's `generation:json`), is `None`: a miss.
fn unstamp(stored: Vec<u8>) -> Option<(Stamp, Bytes)> {
    if !stored.starts_with(FORMAT) {
        return None;
    }
    let mut fields = [0i64; 3];
    let mut start = FORMAT.len();
    for field in &mut fields {
        let colon = stored[start..].iter().take(21).position(|&b| b == b':')?;
        *field = std::str::from_utf8(&stored[start..start + colon])
            .ok()?
            .parse()
            .ok()?;
        start += colon + 1;
    }
    let [generation, stock_version, read_at_ms] = fields;
    let json = Bytes::from(stored).slice(start..);
    Some((
        Stamp {
            generation,
            stock_version,
            read_at_ms,
        },
        json,
    ))
}

/// What one lookup saw: the current generation and stock version, and the stored
/// value with its freshness.
struct Seen {
    current: (i64, i64),
    /// Redis's clock (ms), the one clock every instance shares: values are stamped
    /// and judged by it, so instances' clocks apart cannot stretch the bound.
    now_ms: i64,
    value: Option<(Freshness, Bytes)>,
}

/// Releases a loading lock only if it still holds this reader's token.
const RELEASE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// The loading lock of one key, held by this reader. Released when dropped, also
/// when the request is cancelled mid-load (a client gone), so other readers never
/// wait out its TTL; and only if it is still ours, so a load slower than the TTL
/// cannot release the next holder's lock.
struct LoadLock {
    redis: ConnectionManager,
    key: String,
    token: String,
}

impl LoadLock {
    fn key(key: &str) -> String {
        format!("lock:{key}")
    }

    /// The lock of `key`, if no one else holds it.
    async fn take(redis: &ConnectionManager, key: &str) -> Option<Self> {
        let token = format!("{:016x}", rand::rng().random::<u64>());
        let key = Self::key(key);
        let mut conn = redis.clone();
        let taken: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(LOCK_TTL_MS)
            .query_async(&mut conn)
            .await
            .unwrap_or(None);
        taken.map(|_| Self {
            redis: redis.clone(),
            key,
            token,
        })
    }
}

impl Drop for LoadLock {
    fn drop(&mut self) {
        let (mut conn, key, token) = (
            self.redis.clone(),
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.token),
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let released: redis::RedisResult<i64> = redis::Script::new(RELEASE_SCRIPT)
                    .key(key)
                    .arg(token)
                    .invoke_async(&mut conn)
                    .await;
                if let Err(e) = released {
                    tracing::debug!(error = %e, "releasing a loading lock failed; it expires");
                }
            });
        }
    }
}

/// The catalogue cache of one instance.
#[derive(Clone)]
pub struct CatalogueCache {
    redis: ConnectionManager,
    ttl: Duration,
    listing_budget: u64,
    stock_staleness: Duration,
    results: IntCounterVec,
    db_loads: IntCounter,
}

impl CatalogueCache {
    /// A cache over `redis` with entries living `ttl` plus jitter, storing at most
    /// `listing_budget` listings a minute over every instance, and showing stock at
    /// most `stock_staleness` behind a committed order.
    pub fn new(
        redis: ConnectionManager,
        ttl: Duration,
        listing_budget: u64,
        stock_staleness: Duration,
        metrics: &Metrics,
    ) -> Result<Self, prometheus::Error> {
        let results = IntCounterVec::new(
            Opts::new(
                "cache_requests_total",
                "Catalogue cache lookups by result (hit, miss, bypass)",
            ),
            &["result"],
        )?;
        let db_loads = IntCounter::new(
            "catalogue_db_loads_total",
            "Catalogue reads that went to PostgreSQL",
        )?;
        metrics.register(Box::new(results.clone()))?;
        metrics.register(Box::new(db_loads.clone()))?;
        Ok(Self {
            redis,
            ttl,
            listing_budget,
            stock_staleness,
            results,
            db_loads,
        })
    }

    fn record(&self, outcome: CacheOutcome) {
        self.results
            .with_label_values(&[&outcome.as_str().to_lowercase()])
            .inc();
    }

    /// Reads the generation, the stock version, `key` and Redis's clock in one round
    /// trip.
    async fn lookup(&self, key: &str) -> redis::RedisResult<Seen> {
        let mut conn = self.redis.clone();
        type Values = (Option<i64>, Option<i64>, Option<Vec<u8>>);
        let ((generation, stock_version, stored), (secs, micros)): (Values, (i64, i64)) =
            redis::pipe()
                .cmd("MGET")
                .arg(GENERATION_KEY)
                .arg(STOCK_VERSION_KEY)
                .arg(key)
                .cmd("TIME")
                .query_async(&mut conn)
                .await?;
        let current = (generation.unwrap_or(0), stock_version.unwrap_or(0));
        let now_ms = secs * 1000 + micros / 1000;
        let value = stored
            .and_then(unstamp)
            .map(|(at, json)| (at.freshness(current, now_ms, self.stock_staleness), json));
        Ok(Seen {
            current,
            now_ms,
            value,
        })
    }

    /// A usable value from `seen`, if it holds one.
    fn usable(seen: Seen) -> Option<Bytes> {
        match seen.value {
            Some((Freshness::Fresh | Freshness::Refresh, json)) => Some(json),
            _ => None,
        }
    }

    /// The value under `key` as serde JSON, loading it with `load` on a miss. For keys
    /// of a closed set.
    pub async fn get_or_load<T, F, Fut>(
        &self,
        key: &str,
        load: F,
    ) -> Result<(T, CacheOutcome), CatalogueError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, sea_orm::DbErr>>,
    {
        self.value_or_load(key, load, false).await
    }

    /// As [`Self::get_or_load`], for a key a client chose freely: the store draws on
    /// the budget.
    pub async fn get_or_load_open<T, F, Fut>(
        &self,
        key: &str,
        load: F,
    ) -> Result<(T, CacheOutcome), CatalogueError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, sea_orm::DbErr>>,
    {
        self.value_or_load(key, load, true).await
    }

    async fn value_or_load<T, F, Fut>(
        &self,
        key: &str,
        load: F,
        budgeted: bool,
    ) -> Result<(T, CacheOutcome), CatalogueError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, sea_orm::DbErr>>,
    {
        let load_json = || async move {
            let value = load().await?;
            serde_json::to_vec(&value).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))
        };
        let (json, outcome) = self.get_or_load_inner(key, load_json, budgeted).await?;
        let value =
            serde_json::from_slice(&json).map_err(|e| CatalogueError::Invariant(e.to_string()))?;
        Ok((value, outcome))
    }

    /// The JSON bytes under `key`, loading them with `load` on a miss. A hit returns
    /// the stored bytes without parsing them. For keys of a closed set.
    pub async fn get_or_load_json<F, Fut>(
        &self,
        key: &str,
        load: F,
    ) -> Result<(Bytes, CacheOutcome), CatalogueError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<u8>, sea_orm::DbErr>>,
    {
        self.get_or_load_inner(key, load, false).await
    }

    /// As [`Self::get_or_load_json`], for a key a client chose freely (`open`): the
    /// store then draws on the budget (module docs).
    pub async fn get_or_load_listing<F, Fut>(
        &self,
        key: &str,
        open: bool,
        load: F,
    ) -> Result<(Bytes, CacheOutcome), CatalogueError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<u8>, sea_orm::DbErr>>,
    {
        self.get_or_load_inner(key, load, open).await
    }

    async fn get_or_load_inner<F, Fut>(
        &self,
        key: &str,
        load: F,
        budgeted: bool,
    ) -> Result<(Bytes, CacheOutcome), CatalogueError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<u8>, sea_orm::DbErr>>,
    {
        let seen = match self.lookup(key).await {
            Ok(seen) => seen,
            Err(e) => {
                tracing::warn!(error = %e, "cache unavailable; reading PostgreSQL");
                self.record(CacheOutcome::Bypass);
                self.db_loads.inc();
                return Ok((Bytes::from(load().await?), CacheOutcome::Bypass));
            }
        };
        let mut seen = seen;
        let lock = match seen.value.take() {
            Some((Freshness::Fresh, value)) => {
                self.record(CacheOutcome::Hit);
                return Ok((value, CacheOutcome::Hit));
            }
            Some((Freshness::Refresh, value)) => {
                // Still within the bound: only the reader that takes the lock reloads;
                // everyone else is served at once.
                let Some(lock) = LoadLock::take(&self.redis, key).await else {
                    self.record(CacheOutcome::Hit);
                    return Ok((value, CacheOutcome::Hit));
                };
                // Another reader may have reloaded and unlocked since our lookup.
                match self.lookup(key).await {
                    Ok(again) => match again.value {
                        Some((Freshness::Fresh, fresh)) => {
                            self.record(CacheOutcome::Hit);
                            return Ok((fresh, CacheOutcome::Hit));
                        }
                        _ => seen = again,
                    },
                    Err(_) => {
                        self.record(CacheOutcome::Hit);
                        return Ok((value, CacheOutcome::Hit));
                    }
                }
                Some(lock)
            }
            Some((Freshness::Stale, _)) | None => {
                if let Some(lock) = LoadLock::take(&self.redis, key).await {
                    // Between our miss and our lock, another reader may have loaded,
                    // stored and unlocked: check again before querying.
                    if let Ok(again) = self.lookup(key).await {
                        match again.value {
                            Some((Freshness::Fresh | Freshness::Refresh, value)) => {
                                self.record(CacheOutcome::Hit);
                                return Ok((value, CacheOutcome::Hit));
                            }
                            _ => seen = again,
                        }
                    }
                    Some(lock)
                } else {
                    // Someone else is loading: wait for their value rather than add a
                    // query; once their lock is gone without a value (it was not
                    // stored), stop waiting.
                    let mut conn = self.redis.clone();
                    let lock_key = LoadLock::key(key);
                    let deadline = tokio::time::Instant::now() + FLIGHT_WAIT;
                    while tokio::time::Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(15)).await;
                        if let Ok(Some(value)) = self.lookup(key).await.map(Self::usable) {
                            self.record(CacheOutcome::Hit);
                            return Ok((value, CacheOutcome::Hit));
                        }
                        let locked: redis::RedisResult<bool> = redis::cmd("EXISTS")
                            .arg(&lock_key)
                            .query_async(&mut conn)
                            .await;
                        if matches!(locked, Ok(false)) {
                            break;
                        }
                    }
                    None
                }
            }
        };

        // Stamped with what the last lookup saw, before the read begins: whatever the
        // read shows was committed by then.
        let at = Stamp {
            generation: seen.current.0,
            stock_version: seen.current.1,
            read_at_ms: seen.now_ms,
        };
        self.db_loads.inc();
        let value = load().await;
        if let Ok(json) = &value {
            self.store(key, at, json, budgeted).await;
        }
        drop(lock);
        self.record(CacheOutcome::Miss);
        Ok((Bytes::from(value?), CacheOutcome::Miss))
    }

    async fn store(&self, key: &str, at: Stamp, json: &[u8], budgeted: bool) {
        if json.len() > MAX_ENTRY_BYTES {
            return;
        }
        let jitter = rand::rng().random_range(0..=self.ttl.as_millis() as u64 / 4);
        let ttl_ms = self.ttl.as_millis() as u64 + jitter;
        let mut conn = self.redis.clone();
        let stored: redis::RedisResult<()> = if budgeted {
            let minute = chrono::Utc::now().timestamp() / 60;
            redis::Script::new(BUDGETED_STORE_SCRIPT)
                .key(format!("products:list:budget:{minute}"))
                .key(key)
                .arg(self.listing_budget)
                .arg(stamp(at, json))
                .arg(ttl_ms.max(1))
                .invoke_async::<i64>(&mut conn)
                .await
                .map(|_| ())
        } else {
            redis::cmd("SET")
                .arg(key)
                .arg(stamp(at, json))
                .arg("PX")
                .arg(ttl_ms.max(1))
                .query_async(&mut conn)
                .await
        };
        if let Err(e) = stored {
            tracing::warn!(error = %e, key, "caching failed");
        }
    }

    /// Invalidates every catalogue entry on every instance. Called after a write
    /// commits and before it answers. A failure is logged: PostgreSQL already holds
    /// the change, and entries expire within their TTL.
    pub async fn invalidate(&self) {
        let mut conn = self.redis.clone();
        let result: redis::RedisResult<()> = redis::pipe()
            .atomic()
            .incr(GENERATION_KEY, 1)
            .ignore()
            .del(&[ALL_PRODUCTS, PRODUCTS_WITH_IMAGES, TOTAL_PRODUCTS])
            .ignore()
            .query_async(&mut conn)
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "catalogue cache invalidation failed; entries expire within their TTL");
        }
    }

    /// Records that orders moved stock: cached values read before it are served only
    /// until they are the staleness bound old (module docs). Called after the order
    /// commits and before it answers. A failure is logged: the values then live
    /// until their TTL or the next admin write.
    pub async fn stock_moved(&self) {
        let mut conn = self.redis.clone();
        // In a task of its own: a request cancelled after its order committed (the
        // client gone) still bumps the version.
        let bump = tokio::spawn(async move {
            let result: redis::RedisResult<i64> = redis::cmd("INCR")
                .arg(STOCK_VERSION_KEY)
                .query_async(&mut conn)
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "recording a stock move in the cache failed; listings may show older stock until their TTL");
            }
        });
        let _ = bump.await;
    }
}

/// The cache key of a filtered listing.
pub fn listing_key<Q: Serialize>(query: &Q) -> String {
    use sha2::{Digest, Sha256};
    let canonical = serde_json::to_vec(query).unwrap_or_default();
    format!(
        "products:list:{}",
        &hex::encode(Sha256::digest(canonical))[..32]
    )
}

#[cfg(test)]
mod tests;
