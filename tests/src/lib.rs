//! Helpers of the end-to-end tests. They drive the running stack (started by
//! `scripts/stack.sh up`) through nginx and directly per instance.

use std::time::Duration;

use serde_json::Value;

/// nginx, the public entry point.
pub fn nginx_url() -> String {
    std::env::var("SHOP_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into())
}

/// Each API instance, directly.
pub fn instance_urls() -> Vec<String> {
    std::env::var("SHOP_INSTANCE_PORTS")
        .unwrap_or_else(|_| "5000,5001,5002,5003".into())
        .split(',')
        .map(|p| format!("http://127.0.0.1:{}", p.trim()))
        .collect()
}

/// The mail catcher's HTTP API.
pub fn maildev_url() -> String {
    std::env::var("MAILDEV_URL").unwrap_or_else(|_| "http://127.0.0.1:1080".into())
}

/// An HTTP client whose requests come from a loopback address of its own
/// (127.x.y.z), as a distinct person's would. The API's per-IP limits (OTP sends per
/// hour, failed logins per 15 minutes) then count per client, never per machine: a
/// test neither spends another's budget nor inherits what an earlier run (the
/// schemathesis fuzz, which logs in with made-up passwords from 127.0.0.1) left in
/// Redis. Tests about a per-IP limit keep one client for the whole test.
#[allow(
    clippy::expect_used,
    reason = "a default client would silently send from 127.0.0.1; no test should run on it"
)]
pub fn client() -> reqwest::Client {
    use rand::Rng;
    let mut rng = rand::rng();
    let ip = std::net::Ipv4Addr::new(
        127,
        rng.random_range(1..=254),
        rng.random_range(0..=255),
        rng.random_range(2..=254),
    );
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .local_address(std::net::IpAddr::V4(ip))
        .build()
        .expect("an HTTP client")
}

pub use shop_common::testing::Reply;

/// `GET url`.
pub async fn get(url: &str) -> anyhow::Result<Reply> {
    Reply::read(client().get(url).send().await?).await
}

/// The password of every customer `customer_token` and `new_customer` make.
pub const CUSTOMER_PASSWORD: &str = "customer password";

/// A fresh address no other test uses.
pub fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// The e-mails the mail catcher holds for `to`, oldest first.
pub async fn mails_to(to: &str) -> anyhow::Result<Vec<Value>> {
    let all = get(&format!("{}/email", maildev_url())).await?;
    let mails = all.json.as_array().cloned().unwrap_or_default();
    Ok(mails
        .into_iter()
        .filter(|m| {
            m["to"]
                .as_array()
                .is_some_and(|to_list| to_list.iter().any(|t| t["address"].as_str() == Some(to)))
        })
        .collect())
}

/// Waits until `to` has more than `seen` e-mails with `subject`; returns the newest.
pub async fn wait_for_mail(to: &str, subject: &str, seen: usize) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mails: Vec<Value> = mails_to(to)
            .await?
            .into_iter()
            .filter(|m| m["subject"].as_str() == Some(subject))
            .collect();
        if mails.len() > seen {
            return mails
                .last()
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("no mail"));
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no '{subject}' e-mail for {to} within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The number of e-mails with `subject` that `to` has received.
pub async fn mail_count(to: &str, subject: &str) -> anyhow::Result<usize> {
    Ok(mails_to(to)
        .await?
        .iter()
        .filter(|m| m["subject"].as_str() == Some(subject))
        .count())
}

/// The shop's name as the consumers put it in subjects (`SHOP_NAME`, default `Shop`).
pub fn shop_name() -> String {
    std::env::var("SHOP_NAME")
        .ok()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "Shop".into())
}

/// The link of order `order_id` in its confirmation (`SHOP_ORDERS_URL/<id>`, as the
/// consumers build it).
pub fn order_url(order_id: &str) -> String {
    let base = std::env::var("SHOP_ORDERS_URL")
        .ok()
        .map(|u| u.trim().trim_end_matches('/').to_owned())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "http://localhost:3000/orders".into());
    format!("{base}/{order_id}")
}

/// The subject of the confirmation of the order numbered `number`.
pub fn order_subject(number: i64) -> String {
    format!("Your {} order #{number} is confirmed", shop_name())
}

/// The confirmation subject of the order a `POST /api/orders` reply placed (by its
/// `data.number`); fails if the reply has no number.
pub fn order_subject_of(reply: &Reply) -> anyhow::Result<String> {
    let number = reply.json["data"]["number"]
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("no order number in: {}", reply.text))?;
    Ok(order_subject(number))
}

/// The confirmation subject of order `order_id`, its number read from PostgreSQL (for
/// the legacy route, whose answer carries only the id).
pub async fn order_subject_by_id(order_id: &str) -> anyhow::Result<String> {
    let db = database().await?;
    let number = scalar_i64(
        &db,
        "SELECT number FROM orders WHERE id = $1::uuid",
        order_id,
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("no order {order_id}"))?;
    Ok(order_subject(number))
}

/// Waits for the `seen + 1`-th OTP e-mail to `to` and returns its code.
pub async fn wait_for_code(to: &str, seen: usize) -> anyhow::Result<String> {
    let mail = wait_for_mail(to, "Your verification code", seen).await?;
    let text = mail["text"].as_str().unwrap_or_default();
    let re = regex::Regex::new(r"code is (\d{6})")?;
    re.captures(text)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_owned())
        .ok_or_else(|| anyhow::anyhow!("no code in: {text}"))
}

/// `POST url` with a JSON body from `client`.
pub async fn post_json(client: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<Reply> {
    Reply::read(client.post(url).json(body).send().await?).await
}

/// Registers, reads the code from the mail catcher, verifies and adds a default
/// address (orders need one); returns the tokens (`data` of the verify answer).
pub async fn register_verified(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<Value> {
    let reply = post_json(
        client,
        &format!("{base}/api/auth/register"),
        &serde_json::json!({ "email": email, "password": password, "name": "Test User" }),
    )
    .await?;
    anyhow::ensure!(
        reply.status == 202,
        "register: {} {}",
        reply.status,
        reply.text
    );
    let token = reply.json["data"]["registration_token"].clone();
    let code = wait_for_code(email, 0).await?;
    let reply = post_json(
        client,
        &format!("{base}/api/auth/verify-otp"),
        &serde_json::json!({ "email": email, "registration_token": token, "otp": code }),
    )
    .await?;
    anyhow::ensure!(
        reply.status == 200,
        "verify: {} {}",
        reply.status,
        reply.text
    );
    let tokens = reply.json["data"].clone();
    add_address(
        client,
        base,
        tokens["access_token"].as_str().unwrap_or_default(),
    )
    .await?;
    Ok(tokens)
}

/// Adds a valid address to the book of `token`'s user (their default if it is the
/// first); returns the address (`data` of the 201).
pub async fn add_address(
    client: &reqwest::Client,
    base: &str,
    token: &str,
) -> anyhow::Result<Value> {
    let reply = Reply::read(
        client
            .post(format!("{base}/api/me/addresses"))
            .bearer_auth(token)
            .json(&serde_json::json!({
                "name": "Test User",
                "line1": "1 Test Street",
                "city": "Testville",
                "postal_code": "12345",
                "country": "US",
            }))
            .send()
            .await?,
    )
    .await?;
    anyhow::ensure!(
        reply.status == 201,
        "add address: {} {}",
        reply.status,
        reply.text
    );
    Ok(reply.json["data"].clone())
}

/// `GET url` with a Bearer token.
pub async fn get_auth(client: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<Reply> {
    Reply::read(client.get(url).bearer_auth(token).send().await?).await
}

/// An admin access token (the account the stack creates from `ADMIN_EMAIL`).
pub async fn admin_token(client: &reqwest::Client) -> anyhow::Result<String> {
    let reply = post_json(
        client,
        &format!("{}/api/auth/login", nginx_url()),
        &serde_json::json!({
            "email": std::env::var("ADMIN_EMAIL")?,
            "password": std::env::var("ADMIN_PASSWORD")?,
        }),
    )
    .await?;
    anyhow::ensure!(reply.status == 200, "admin login: {}", reply.text);
    Ok(reply.json["data"]["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// A customer access token for a fresh verified account.
pub async fn customer_token() -> anyhow::Result<String> {
    let tokens = register_verified(
        &client(),
        &nginx_url(),
        &unique_email("customer"),
        CUSTOMER_PASSWORD,
    )
    .await?;
    Ok(tokens["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// A 1×1 PNG followed by `salt` (still a PNG to any reader), so each test's image
/// has its own bytes and ETag.
pub fn png(salt: &str) -> Vec<u8> {
    let mut bytes = vec![
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F,
        0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00,
        0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];
    bytes.extend_from_slice(salt.as_bytes());
    bytes
}

/// Sends `req` and reads the reply.
pub async fn send(req: reqwest::RequestBuilder) -> anyhow::Result<Reply> {
    Reply::read(req.send().await?).await
}

/// Creates a product through `base` as admin; returns its JSON.
pub async fn create_product(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
    stock: i64,
    price_cents: i64,
) -> anyhow::Result<Value> {
    let reply = send(
        client
            .post(format!("{base}/api/admin/products"))
            .bearer_auth(token)
            .json(&serde_json::json!({
                "name": name,
                "description": "made by an end-to-end test",
                "price_cents": price_cents,
                "category": "STAPLES",
                "stock": stock,
            })),
    )
    .await?;
    anyhow::ensure!(reply.status == 201, "create product: {}", reply.text);
    Ok(reply.json["data"].clone())
}

/// Whether the product listing at `base` filtered by `q` contains `id`.
pub async fn listing_has(base: &str, q: &str, id: &str) -> anyhow::Result<Option<Value>> {
    let reply = get(&format!("{base}/api/products?q={q}&page_size=100")).await?;
    anyhow::ensure!(reply.status == 200, "listing: {}", reply.text);
    Ok(reply.json["data"]
        .as_array()
        .and_then(|items| items.iter().find(|p| p["id"].as_str() == Some(id)).cloned()))
}

/// A verified customer with their own client IP: `(client, access token, e-mail)`.
pub async fn new_customer(tag: &str) -> anyhow::Result<(reqwest::Client, String, String)> {
    let client = client();
    let email = unique_email(tag);
    let tokens = register_verified(&client, &nginx_url(), &email, CUSTOMER_PASSWORD).await?;
    let token = tokens["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok((client, token, email))
}

/// A PostgreSQL connection to the stack's database, for checks the API does not expose.
pub async fn database() -> anyhow::Result<sea_orm::DatabaseConnection> {
    Ok(sea_orm::Database::connect(std::env::var("DATABASE_URL")?).await?)
}

/// Runs `sql` with text parameters `$1…` (checks and set-ups the API does not expose).
pub async fn execute(
    db: &sea_orm::DatabaseConnection,
    sql: &str,
    params: &[&str],
) -> anyhow::Result<u64> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let values: Vec<sea_orm::Value> = params.iter().map(|p| (*p).into()).collect();
    Ok(db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?
        .rows_affected())
}

/// The first column of the first row of `sql` (one text parameter `$1`) as an i64.
pub async fn scalar_i64(
    db: &sea_orm::DatabaseConnection,
    sql: &str,
    param: &str,
) -> anyhow::Result<Option<i64>> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [param.into()],
        ))
        .await?;
    Ok(row.map(|r| r.try_get_by_index::<i64>(0)).transpose()?)
}

/// A CORS preflight for `POST path` with `Authorization` from `origin`, through nginx.
pub async fn preflight_post(path: &str, origin: &str) -> anyhow::Result<Reply> {
    send(
        client()
            .request(reqwest::Method::OPTIONS, format!("{}{path}", nginx_url()))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            ),
    )
    .await
}

/// The repository's root (tests read its files and run its scripts).
pub fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}

/// Runs `scripts/stack.sh ARGS` to the end; fails unless it succeeded. It runs the
/// binaries the test run was built with: a nested `cargo build` inside `cargo test`
/// would see another environment and rebuild the workspace (minutes) for nothing.
pub async fn stack(args: &[&str]) -> anyhow::Result<()> {
    let status = tokio::process::Command::new("bash")
        .arg(repo().join("scripts/stack.sh"))
        .env("SHOP_SKIP_BUILD", "1")
        .args(args)
        .current_dir(repo())
        .stdin(std::process::Stdio::null())
        .status()
        .await?;
    anyhow::ensure!(status.success(), "stack.sh {args:?} failed: {status}");
    Ok(())
}

/// The pid of the stack's process `name` (`.stack/pids/{name}.pid`).
pub fn pid_of(name: &str) -> anyhow::Result<i32> {
    let path = repo().join(".stack/pids").join(format!("{name}.pid"));
    Ok(std::fs::read_to_string(&path)?.trim().parse()?)
}

/// Sends `kill -{signal}` to the stack's process `name`.
pub fn signal(name: &str, signal: &str) -> anyhow::Result<()> {
    let pid = pid_of(name)?;
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()?;
    anyhow::ensure!(status.success(), "kill -{signal} {name}");
    Ok(())
}

/// Whether process `pid` still runs: it exists and is not a zombie whose every thread
/// has ended (a process whose main thread returned while others still shut down
/// also shows `Z`, with more than one task).
fn running(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let zombie = stat
        .rsplit_once(") ")
        .is_some_and(|(_, rest)| rest.starts_with('Z'));
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count());
    !zombie || tasks > 1
}

/// Sends `signal` to the stack's process `name` and waits (30 s at most) until it has
/// ended.
pub async fn stop(name: &str, signal_name: &str) -> anyhow::Result<()> {
    let pid = pid_of(name)?;
    signal(name, signal_name)?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while running(pid) {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{name} survived SIG{signal_name}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Runs the release `api` binary with `args` and extra `env` to the end; fails unless it
/// succeeded. Returns all it wrote to stdout (JSON log lines and what it printed).
pub async fn api_output(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<String> {
    let output = tokio::process::Command::new(repo().join("target/release/api"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .await?;
    let stdout = String::from_utf8(output.stdout)?;
    anyhow::ensure!(
        output.status.success(),
        "api {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(stdout)
}

/// [`api_output`]'s last line (log lines, in JSON, come first).
pub async fn api_command(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<String> {
    let stdout = api_output(args, env).await?;
    Ok(stdout.lines().last().unwrap_or_default().trim().to_owned())
}

/// Starts the release binary `bin` in the background with extra `env`, output
/// discarded; it is killed when the handle drops.
pub fn spawn_release_bin(
    bin: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<tokio::process::Child> {
    Ok(
        tokio::process::Command::new(repo().join("target/release").join(bin))
            .args(args)
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?,
    )
}

/// An extra API instance outside nginx, named `id`, with `env` over the stack's
/// configuration (a broken dependency, say), once it answers `/health/live`: the
/// process (killed when dropped) and its base URL.
pub async fn spawn_api_instance(
    id: &str,
    env: &[(&str, &str)],
) -> anyhow::Result<(tokio::process::Child, String)> {
    let port = free_port()?.to_string();
    let mut vars = vec![("PORT", port.as_str()), ("INSTANCE_ID", id)];
    vars.extend_from_slice(env);
    let child = spawn_release_bin("api", &["serve"], &vars)?;
    let base = format!("http://127.0.0.1:{port}");
    wait_until_ok(&format!("{base}/health/live"), Duration::from_secs(30), id).await?;
    Ok((child, base))
}

/// A local TCP port nothing listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Polls `GET url` until it answers 200; fails naming `what` after `timeout`.
pub async fn wait_until_ok(url: &str, timeout: Duration, what: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    while get(url).await.map(|r| r.status).ok() != Some(200) {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{what}: no 200 from {url} within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// `POST base/api/cart/items` as `token`.
pub async fn add_to_cart(
    c: &reqwest::Client,
    base: &str,
    token: &str,
    product: &str,
    quantity: i64,
) -> anyhow::Result<Reply> {
    send(
        c.post(format!("{base}/api/cart/items"))
            .bearer_auth(token)
            .json(&serde_json::json!({"product_id": product, "quantity": quantity})),
    )
    .await
}

/// `POST base/api/orders` (no body, no key) as `token`.
pub async fn place_order(c: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<Reply> {
    send(c.post(format!("{base}/api/orders")).bearer_auth(token)).await
}

/// How far the stock a cached product shows may lag a committed order:
/// `CATALOGUE_STOCK_STALENESS_MS` of the stack's environment (1 s by default).
pub fn stock_staleness() -> std::time::Duration {
    std::time::Duration::from_millis(
        std::env::var("CATALOGUE_STOCK_STALENESS_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000),
    )
}

/// Waits until `url`'s `pointer` shows `expected` stock; fails if a read that began
/// over [`stock_staleness`] after the call (after the orders it should show were
/// answered) still shows something else.
pub async fn assert_stock_at(url: &str, pointer: &str, expected: i64) -> anyhow::Result<()> {
    let called = std::time::Instant::now();
    let bound = stock_staleness();
    loop {
        let began = std::time::Instant::now();
        let reply = get(url).await?;
        anyhow::ensure!(reply.status == 200, "{}", reply.text);
        let shown = reply
            .json
            .pointer(pointer)
            .and_then(serde_json::Value::as_i64);
        if shown == Some(expected) {
            return Ok(());
        }
        anyhow::ensure!(
            began < called + bound,
            "{url} shows stock {shown:?}, not {expected}, over {bound:?} after the orders"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Fails unless product `id` shows `expected` stock within the staleness bound.
pub async fn assert_stock(id: &str, expected: i64) -> anyhow::Result<()> {
    assert_stock_at(
        &format!("{}/api/products/{id}", nginx_url()),
        "/data/stock",
        expected,
    )
    .await
}

/// The value of metric `name` (its first series) on the `/metrics` of the process at
/// `base` (an API instance, or `http://127.0.0.1:<port>` of a consumer).
pub async fn metric_at(base: &str, name: &str) -> anyhow::Result<u64> {
    let metrics = get(&format!("{base}/metrics")).await?;
    metrics
        .text
        .lines()
        .find(|l| l.split(['{', ' ']).next() == Some(name))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
        .ok_or_else(|| anyhow::anyhow!("no {name} in {}", metrics.text))
}
