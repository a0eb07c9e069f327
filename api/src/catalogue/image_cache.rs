//! Image bytes kept in each instance's memory, so a loop of GETs of one image does not
//! turn PostgreSQL into a file server.
//!
//! Invariants:
//! - Only bytes are cached here, never whether a customer may see them: the route
//!   reads that per request from the catalogue cache (`products:image:{product}:{id}`,
//!   the image's SHA-256 if its product is active), which every admin write
//!   invalidates before it answers, so archiving a product hides its images on every
//!   instance as soon as the admin is answered, cached bytes or not.
//! - An image's bytes never change under its id (a new upload is a new id), and the
//!   cached copy is used only while its SHA-256 is the one PostgreSQL names.
//! - Bounded by the bytes it holds (`IMAGE_CACHE_BYTES`); the least useful entries go
//!   first (moka's TinyLFU). `0` caches nothing.
//! - Concurrent cold requests for one image in one instance cause one database read:
//!   the others wait for it (`try_get_with`). `shop_image_db_reads_total` counts the
//!   reads that went to PostgreSQL.
//! - A hit is served as [`Bytes`], a reference to the one cached copy: no per-request
//!   buffer.

use std::future::Future;

use bytes::Bytes;
use prometheus::IntCounter;
use uuid::Uuid;

use crate::{error::ApiError, metrics::Metrics};

/// Fixed cost counted per entry beside its bytes (key, content type, ETag, moka's
/// bookkeeping), so many tiny images cannot hold much more than the budget.
const ENTRY_OVERHEAD_BYTES: usize = 256;

/// One cached image.
#[derive(Debug, Clone)]
pub struct CachedImage {
    /// `image/jpeg`, `image/png` or `image/webp`.
    pub content_type: &'static str,
    /// The bytes: clones share them.
    pub bytes: Bytes,
    /// SHA-256 of the bytes, hex (the strong ETag without quotes).
    pub sha256: String,
}

impl CachedImage {
    /// The weight of this entry in the byte budget.
    fn weight(&self) -> u32 {
        u32::try_from(self.bytes.len() + self.sha256.len() + ENTRY_OVERHEAD_BYTES)
            .unwrap_or(u32::MAX)
    }
}

/// The content type served for a stored type: one of the three accepted ones.
pub fn served_content_type(stored: &str) -> &'static str {
    match stored {
        "image/png" => "image/png",
        "image/webp" => "image/webp",
        _ => "image/jpeg",
    }
}

/// The per-instance cache of image bytes.
#[derive(Clone)]
pub struct ImageCache {
    cache: moka::future::Cache<(Uuid, Uuid), CachedImage>,
    db_reads: IntCounter,
}

impl ImageCache {
    /// A cache holding at most `max_bytes`; registers `shop_image_db_reads_total`.
    pub fn new(max_bytes: u64, metrics: &Metrics) -> Result<Self, prometheus::Error> {
        let db_reads = IntCounter::new(
            "image_db_reads_total",
            "Image byte reads that went to PostgreSQL (cache misses)",
        )?;
        metrics.register(Box::new(db_reads.clone()))?;
        let cache = moka::future::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_key: &(Uuid, Uuid), image: &CachedImage| image.weight())
            .build();
        Ok(Self { cache, db_reads })
    }

    /// Image `image` of `product`, whose current SHA-256 is `sha256`: from memory, or
    /// read by `load` (one call at a time per image, however many requests wait).
    /// `None` when `load` finds no such image.
    pub async fn get_or_load<F, Fut>(
        &self,
        product: Uuid,
        image: Uuid,
        sha256: &str,
        load: F,
    ) -> Result<Option<CachedImage>, ApiError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<CachedImage>, ApiError>>,
    {
        let key = (product, image);
        // Twice at most: a cached copy whose hash is not the current one (which an
        // immutable image never has) is dropped and read again.
        for _ in 0..2 {
            let found = self
                .cache
                .try_get_with(key, async {
                    self.db_reads.inc();
                    match load().await {
                        Ok(Some(image)) => Ok(image),
                        Ok(None) => Err(None),
                        Err(e) => Err(Some(e)),
                    }
                })
                .await;
            match found {
                Ok(cached) if cached.sha256 == sha256 => return Ok(Some(cached)),
                Ok(_) => self.cache.invalidate(&key).await,
                Err(e) => {
                    return match e.as_ref() {
                        None => Ok(None),
                        Some(e) => Err(e.clone()),
                    };
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    fn image(sha256: &str, len: usize) -> CachedImage {
        CachedImage {
            content_type: "image/png",
            bytes: Bytes::from(vec![7u8; len]),
            sha256: sha256.to_owned(),
        }
    }

    fn cache(max_bytes: u64) -> ImageCache {
        let metrics = Metrics::new("test").map_err(|e| e.to_string());
        let metrics = metrics.unwrap_or_else(|e| panic!("{e}"));
        ImageCache::new(max_bytes, &metrics).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn concurrent_cold_reads_of_one_image_load_it_once_and_share_the_bytes() {
        let cache = cache(1 << 20);
        let loads = Arc::new(AtomicUsize::new(0));
        let (product, id) = (Uuid::now_v7(), Uuid::now_v7());
        let load = || {
            let loads = loads.clone();
            async move {
                loads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Ok(Some(image("abc", 1000)))
            }
        };
        let got = futures_util::future::join_all(
            (0..50).map(|_| cache.get_or_load(product, id, "abc", load)),
        )
        .await;
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(cache.db_reads.get(), 1);
        let first = got[0].clone().ok().flatten().map(|i| i.bytes);
        for g in got {
            let bytes = g.ok().flatten().map(|i| i.bytes);
            assert_eq!(
                bytes.as_ref().map(|b| b.as_ptr()),
                first.as_ref().map(|b| b.as_ptr()),
                "every request shares the one cached copy"
            );
        }
    }

    #[tokio::test]
    async fn a_missing_image_or_an_error_is_not_cached() {
        let cache = cache(1 << 20);
        let (product, id) = (Uuid::now_v7(), Uuid::now_v7());
        let none = cache
            .get_or_load(product, id, "abc", || async { Ok(None) })
            .await;
        assert!(matches!(none, Ok(None)));
        let failed = cache
            .get_or_load(product, id, "abc", || async {
                Err(ApiError::internal("boom"))
            })
            .await;
        assert_eq!(failed.err().map(|e| e.status.as_u16()), Some(500));
        let found = cache
            .get_or_load(product, id, "abc", || async { Ok(Some(image("abc", 10))) })
            .await;
        assert!(matches!(found, Ok(Some(_))));
        assert_eq!(cache.db_reads.get(), 3);
    }

    #[tokio::test]
    async fn a_copy_with_another_hash_is_read_again() {
        let cache = cache(1 << 20);
        let (product, id) = (Uuid::now_v7(), Uuid::now_v7());
        let old = cache
            .get_or_load(product, id, "old", || async { Ok(Some(image("old", 10))) })
            .await;
        assert!(matches!(old, Ok(Some(_))));
        let new = cache
            .get_or_load(product, id, "new", || async { Ok(Some(image("new", 10))) })
            .await;
        assert_eq!(new.ok().flatten().map(|i| i.sha256).as_deref(), Some("new"));
        assert_eq!(cache.db_reads.get(), 2);
    }

    #[tokio::test]
    async fn the_cache_holds_no_more_than_its_byte_budget() {
        let cache = cache(100_000);
        for _ in 0..20 {
            let _ = cache
                .get_or_load(Uuid::now_v7(), Uuid::now_v7(), "x", || async {
                    Ok(Some(image("x", 30_000)))
                })
                .await;
        }
        cache.cache.run_pending_tasks().await;
        assert!(
            cache.cache.weighted_size() <= 100_000,
            "{}",
            cache.cache.weighted_size()
        );
    }
}
