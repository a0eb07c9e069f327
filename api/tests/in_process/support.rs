//! The in-process test tier's harness: every test gets its own API instance on port
//! 0, its own PostgreSQL database made from the migrations and its own Redis database
//! (`shop_common::testing`), and an in-memory recorder in place of Kafka.

use std::{collections::HashMap, sync::Arc, time::Duration};

use api::{
    configuration::{SealKey, Settings},
    events::{AccountOtp, EventEnvelope, TOPIC_ACCOUNT_EMAIL},
    outbox::{Recorded, RecordingPublisher},
    startup::Application,
};
use rand::Rng;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
pub use shop_common::testing::Reply;
use shop_common::testing::{RedisLease, TestDatabase};

/// One API instance of one test.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The test's own database.
    pub db: DatabaseConnection,
    /// What the outbox relay published.
    pub events: Arc<RecordingPublisher>,
    /// The settings the instance runs with.
    pub settings: Settings,
    /// An HTTP client (no redirects followed).
    pub http: reqwest::Client,
    admin: (String, String),
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    // Dropped last: the instance stops before its data goes.
    _redis: RedisLease,
    _database: TestDatabase,
}

fn random_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

impl TestApp {
    /// An instance with the default test configuration.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// An instance whose configuration has `overrides` over the test defaults.
    #[allow(clippy::expect_used, reason = "a test without its app cannot run")]
    pub async fn spawn_with(overrides: &[(&str, &str)]) -> Self {
        Self::try_spawn(overrides)
            .await
            .expect("an in-process API instance (PostgreSQL and Redis reachable?)")
    }

    async fn try_spawn(overrides: &[(&str, &str)]) -> anyhow::Result<Self> {
        let redis = RedisLease::take().await?;
        let (database, database_url) = TestDatabase::create().await?;
        let mut vars: HashMap<String, String> = [
            ("HOST", "127.0.0.1"),
            ("PORT", "0"),
            ("INSTANCE_ID", "in-process"),
            ("KAFKA_BROKERS", "127.0.0.1:1"),
            ("BCRYPT_COST", "4"),
            ("SHUTDOWN_DRAIN_MS", "0"),
            ("SHUTDOWN_TIMEOUT_SECONDS", "5"),
            ("CORS_ALLOWED_ORIGINS", "http://localhost:3000"),
            ("DATABASE_MAX_CONNECTIONS", "10"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        vars.insert("DATABASE_URL".into(), database_url.clone());
        vars.insert("REDIS_URL".into(), redis.url().to_owned());
        vars.insert("JWT_SECRET".into(), random_secret());
        vars.insert("OTP_HMAC_SECRET".into(), random_secret());
        vars.insert("EVENT_SEAL_KEY".into(), random_secret());
        for (k, v) in overrides {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        let settings = Settings::from_vars(&vars)?;
        let events = RecordingPublisher::new();
        let app = Application::build_with(settings.clone(), events.clone()).await?;
        let base = format!("http://{}", app.addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run(async {
            let _ = stopped.await;
        }));
        let db = Database::connect(database_url).await?;
        let admin = ("admin@shop.test".to_owned(), "admin password 1".to_owned());
        let hash = api::password::Hasher::new(4, 1)
            .hash(admin.1.clone())
            .await?;
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "INSERT INTO users (id, email, password_hash, name, role, is_verified)
             VALUES (gen_random_uuid(), $1, $2, 'Administrator', 'admin', TRUE)",
            [admin.0.clone().into(), hash.into()],
        ))
        .await?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            base,
            db,
            events,
            settings,
            http,
            admin,
            stop: Some(stop),
            server: Some(server),
            _redis: redis,
            _database: database,
        })
    }

    /// Another instance over the same database, Redis and recorder (its own port),
    /// as a second replica behind the balancer would be; it stops when
    /// dropped, and must be dropped before this app.
    pub async fn sibling(&self) -> anyhow::Result<Sibling> {
        let app = Application::build_with(self.settings.clone(), self.events.clone()).await?;
        let base = format!("http://{}", app.addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run(async {
            let _ = stopped.await;
        }));
        Ok(Sibling {
            base,
            _stop: stop,
            server,
        })
    }

    /// Three siblings, and the base URLs of all four instances (this app's first):
    /// the replicas behind the balancer.
    pub async fn four_instances(&self) -> anyhow::Result<([Sibling; 3], Vec<String>)> {
        let siblings = [
            self.sibling().await?,
            self.sibling().await?,
            self.sibling().await?,
        ];
        let mut bases = vec![self.base.clone()];
        bases.extend(siblings.iter().map(|s| s.base.clone()));
        Ok((siblings, bases))
    }

    /// The value of counter `name` (one series) on the `/metrics` of the instance at
    /// `base`; an error if the instance does not export it.
    pub async fn counter(&self, base: &str, name: &str) -> anyhow::Result<u64> {
        let metrics = self.send(self.http.get(format!("{base}/metrics"))).await?;
        metrics
            .text
            .lines()
            .find(|l| l.split(['{', ' ']).next() == Some(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| v as u64)
            .ok_or_else(|| anyhow::anyhow!("no {name} in {}", metrics.text))
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the instance gracefully and returns how `run` ended.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.server.take() {
            Some(server) => server.await?,
            None => Ok(()),
        }
    }

    /// The seal key of this instance (to open OTP codes in recorded events).
    pub fn seal_key(&self) -> &SealKey {
        &self.settings.event_seal_key
    }

    /// Waits for the relay to publish an event to `topic` about `key`-matching
    /// messages; returns the envelope as JSON.
    pub async fn published(&self, topic: &str, wanted: impl Fn(&Value) -> bool) -> Option<Value> {
        let found = self
            .events
            .wait_for(Duration::from_secs(10), |m: &Recorded| {
                m.topic == topic
                    && serde_json::from_str::<Value>(&m.payload)
                        .is_ok_and(|envelope| wanted(&envelope))
            })
            .await?;
        serde_json::from_str(&found.payload).ok()
    }

    /// The OTP code the `n`-th (from 0) account e-mail event to `email` carries.
    pub async fn otp_for(&self, email: &str, n: usize) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let codes: Vec<AccountOtp> = self
                .events
                .messages()
                .into_iter()
                .filter(|m| m.topic == TOPIC_ACCOUNT_EMAIL)
                .filter_map(|m| serde_json::from_str::<EventEnvelope<AccountOtp>>(&m.payload).ok())
                .map(|e| e.payload)
                .filter(|p| p.email == email)
                .collect();
            if let Some(otp) = codes.get(n) {
                return Ok(api::seal::open(self.seal_key(), &otp.sealed_code)?);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "no OTP event #{n} for {email} within 10 s"
            );
            let _ = self
                .events
                .wait_for(Duration::from_millis(200), |_| false)
                .await;
        }
    }

    /// Sends `req`, reads the reply whole.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Reply> {
        Reply::read(req.send().await?).await
    }

    /// `POST path` with a JSON body, optionally as `token`.
    pub async fn post(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> anyhow::Result<Reply> {
        let mut req = self.http.post(self.url(path)).json(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        self.send(req).await
    }

    /// `GET path`, optionally as `token`.
    pub async fn get(&self, path: &str, token: Option<&str>) -> anyhow::Result<Reply> {
        let mut req = self.http.get(self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        self.send(req).await
    }

    /// Registers `email`, opens the OTP from the recorded event, verifies and adds a
    /// default address (orders need one); returns the verify answer's `data` (the
    /// tokens).
    pub async fn register_verified(&self, email: &str, password: &str) -> anyhow::Result<Value> {
        let tokens = self.register_verified_bare(email, password).await?;
        self.add_address(tokens["access_token"].as_str().unwrap_or_default())
            .await?;
        Ok(tokens)
    }

    /// [`TestApp::register_verified`] without the address: an empty address book.
    pub async fn register_verified_bare(
        &self,
        email: &str,
        password: &str,
    ) -> anyhow::Result<Value> {
        let reply = self
            .post(
                "/api/auth/register",
                &json!({ "email": email, "password": password, "name": "Test User" }),
                None,
            )
            .await?;
        anyhow::ensure!(reply.status == 202, "register: {}", reply.text);
        let token = reply.json["data"]["registration_token"].clone();
        let code = self.otp_for(email, 0).await?;
        let reply = self
            .post(
                "/api/auth/verify-otp",
                &json!({ "email": email, "registration_token": token, "otp": code }),
                None,
            )
            .await?;
        anyhow::ensure!(reply.status == 200, "verify: {}", reply.text);
        Ok(reply.json["data"].clone())
    }

    /// Adds a valid address to the book of `token`'s user (their default if it is the
    /// first); returns the address (`data` of the 201).
    pub async fn add_address(&self, token: &str) -> anyhow::Result<Value> {
        let reply = self
            .post("/api/me/addresses", &valid_address(), Some(token))
            .await?;
        anyhow::ensure!(reply.status == 201, "add address: {}", reply.text);
        Ok(reply.json["data"].clone())
    }

    /// An access token of a fresh verified customer.
    pub async fn customer(&self) -> anyhow::Result<String> {
        let email = format!("c-{}@example.com", uuid::Uuid::new_v4().simple());
        let tokens = self.register_verified(&email, "customer password").await?;
        Ok(tokens["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// An access token of the test's admin.
    pub async fn admin(&self) -> anyhow::Result<String> {
        let reply = self
            .post(
                "/api/auth/login",
                &json!({ "email": self.admin.0, "password": self.admin.1 }),
                None,
            )
            .await?;
        anyhow::ensure!(reply.status == 200, "admin login: {}", reply.text);
        Ok(reply.json["data"]["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Creates a product as admin; returns its id.
    pub async fn product(
        &self,
        admin: &str,
        name: &str,
        stock: i64,
        price_cents: i64,
    ) -> anyhow::Result<String> {
        let reply = self
            .post(
                "/api/admin/products",
                &json!({
                    "name": name,
                    "description": "made by an in-process test",
                    "price_cents": price_cents,
                    "category": "STAPLES",
                    "stock": stock,
                }),
                Some(admin),
            )
            .await?;
        anyhow::ensure!(reply.status == 201, "create product: {}", reply.text);
        Ok(reply.json["data"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// The first column of every row `sql` answers, as text.
    pub async fn strings(&self, sql: &str) -> anyhow::Result<Vec<String>> {
        let rows = self
            .db
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                sql,
            ))
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get_by_index::<String>(0)?))
            .collect()
    }

    /// One integer the database answers to `sql`.
    pub async fn scalar(&self, sql: &str) -> anyhow::Result<i64> {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                sql,
            ))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no row from {sql}"))?;
        Ok(row.try_get_by_index::<i64>(0)?)
    }
}

/// An address every field of which is valid.
pub fn valid_address() -> Value {
    json!({
        "name": "Test User",
        "line1": "1 Test Street",
        "city": "Testville",
        "postal_code": "12345",
        "country": "US",
    })
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// A second instance of a [`TestApp`] (`TestApp::sibling`).
pub struct Sibling {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    _stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for Sibling {
    fn drop(&mut self) {
        self.server.abort();
    }
}
