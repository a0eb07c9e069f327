//! Scratch data for the in-process test tiers of the API and the consumers (feature
//! `testing`; no binary enables it). Only PostgreSQL and Redis need to be reachable:
//! `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`, a role
//! that may create databases) and `TEST_REDIS_URL` (default `redis://127.0.0.1:6379`).
//!
//! - [`TestDatabase`]: a database of its own per test, made from the migrations and
//!   dropped (`WITH (FORCE)`) when the test ends, however it ends.
//! - [`RedisLease`]: a Redis database index of its own per test. Indexes 2 to 15 are
//!   leased (0 and 1 are the developer's and CI's stacks): a test takes a free one
//!   with `SET NX` of a lease key, empties it, and empties it again when it ends.

use std::time::Duration;

use serde_json::Value;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database};

/// The first and last Redis database index tests may lease.
const REDIS_DBS: std::ops::RangeInclusive<u32> = 2..=15;
const LEASE_KEY: &str = "shop-test-lease";

fn admin_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The Redis server, without a database index (one given is dropped: the lease
/// picks the index).
fn redis_base_url() -> String {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest)),
        None => url,
    }
}

/// `url` (a server URL ending in a database name) with the database `name`.
fn with_database(url: &str, name: &str) -> String {
    let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
    format!("{base}/{name}")
}

/// A Redis database index held for one test; emptied and released on drop.
pub struct RedisLease {
    url: String,
}

impl RedisLease {
    /// Takes a free database index (waiting up to 2 minutes for one), emptied.
    pub async fn take() -> anyhow::Result<Self> {
        let client = redis::Client::open(redis_base_url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let owner = uuid::Uuid::new_v4().to_string();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            for index in REDIS_DBS {
                redis::cmd("SELECT")
                    .arg(index)
                    .query_async::<()>(&mut conn)
                    .await?;
                let taken: Option<String> = redis::cmd("SET")
                    .arg(LEASE_KEY)
                    .arg(&owner)
                    .arg("NX")
                    .arg("EX")
                    .arg(1800)
                    .query_async(&mut conn)
                    .await?;
                if taken.is_some() {
                    // Whatever an earlier, killed test left behind goes; the lease stays.
                    redis::Script::new(
                        "for _, k in ipairs(redis.call('KEYS', '*')) do \
                           if k ~= ARGV[1] then redis.call('DEL', k) end end",
                    )
                    .arg(LEASE_KEY)
                    .invoke_async::<()>(&mut conn)
                    .await?;
                    return Ok(Self {
                        url: format!("{}/{index}", redis_base_url()),
                    });
                }
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "no free Redis database among {REDIS_DBS:?} within 120 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl RedisLease {
    /// `redis://…/<index>` of the leased database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for RedisLease {
    fn drop(&mut self) {
        // Synchronous on purpose: drop cannot await, and the next test must find the
        // database free and empty.
        if let Ok(mut conn) =
            redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        {
            let _ = redis::cmd("FLUSHDB").exec(&mut conn);
        }
    }
}

/// A PostgreSQL database of one test, made from the migrations; dropped on drop.
pub struct TestDatabase {
    name: String,
}

impl TestDatabase {
    /// A new database with every migration applied; returns it and its URL.
    pub async fn create() -> anyhow::Result<(Self, String)> {
        let name = format!("shop_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(admin_database_url()).await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        admin.close().await?;
        let url = with_database(&admin_database_url(), &name);
        let db = Database::connect(url.as_str()).await?;
        Migrator::up(&db, None).await?;
        db.close().await?;
        Ok((Self { name }, url))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // A runtime of its own on a thread of its own: drop may run inside (or
        // outside) the test's runtime, which cannot be blocked on.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let admin = Database::connect(admin_database_url()).await?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await?;
                anyhow::Ok(())
            })
        })
        .join();
    }
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body as JSON (`Null` when it is not JSON).
    pub json: Value,
    /// Body as text.
    pub text: String,
}

impl Reply {
    /// Reads `resp` to the end.
    pub async fn read(resp: reqwest::Response) -> anyhow::Result<Self> {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Self {
            status,
            headers,
            json,
            text,
        })
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `data.id` of a success envelope, as text (empty when there is none).
    pub fn data_id(&self) -> String {
        self.json["data"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Asserts the one error shape with `status` and `code`.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "status of {}", self.text);
        assert_eq!(
            self.json["success"],
            Value::Bool(false),
            "success in {}",
            self.text
        );
        assert_eq!(self.json["error"], code, "error code in {}", self.text);
        assert_eq!(
            self.json["statusCode"], status,
            "statusCode in {}",
            self.text
        );
        assert!(
            self.json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "message in {}",
            self.text
        );
        assert!(self.json["details"].is_object(), "details in {}", self.text);
    }
}
