//! The auth and input rules under attack, against the real stack: concurrent bursts
//! spread over the four instances, strangers racing owners, browsers' `Origin`
//! headers, clients that hang up, inputs at and past every limit.

use std::time::Duration;

use e2e::{
    Reply, add_to_cart, admin_token, client, create_product, get_auth, instance_urls, mails_to,
    new_customer, nginx_url, post_json, register_verified, send, unique_email, wait_for_code,
    wait_for_mail,
};
use futures_util::future::join_all;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";
const ORIGIN: &str = "http://localhost:3000";

fn url(base: &str, path: &str) -> String {
    format!("{base}{path}")
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// `POST /api/auth/login` through instance `i % 4`.
async fn login(
    c: &reqwest::Client,
    i: usize,
    email: &str,
    password: &str,
) -> anyhow::Result<Reply> {
    let bases = instance_urls();
    post_json(
        c,
        &url(&bases[i % bases.len()], "/api/auth/login"),
        &json!({"email": email, "password": password}),
    )
    .await
}

#[tokio::test]
async fn fifty_concurrent_wrong_passwords_over_four_instances_judge_at_most_the_limit()
-> anyhow::Result<()> {
    let limit = env_u64("LOGIN_MAX_FAILURES", 5) as usize;
    let attacker = client();
    let email = unique_email("burst");
    register_verified(&client(), &nginx_url(), &email, PASSWORD).await?;
    let replies =
        join_all((0..50).map(|i| login(&attacker, i, &email, "wrong password 123"))).await;
    let (mut judged, mut refused) = (0, 0);
    for reply in replies {
        let reply = reply?;
        match reply.status {
            401 => judged += 1,
            429 => {
                reply.assert_error(429, "TOO_MANY_LOGIN_ATTEMPTS");
                assert!(reply.header("retry-after").is_some(), "{}", reply.text);
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    assert_eq!(
        judged, limit,
        "every attempt is reserved before it is judged"
    );
    assert_eq!(judged + refused, 50);
    // The right password from that address now waits too.
    login(&attacker, 0, &email, PASSWORD)
        .await?
        .assert_error(429, "TOO_MANY_LOGIN_ATTEMPTS");
    Ok(())
}

#[tokio::test]
async fn strangers_guessing_from_many_addresses_neither_lock_the_owner_out_nor_guess_freely()
-> anyhow::Result<()> {
    let limit = env_u64("LOGIN_MAX_FAILURES", 5) as usize;
    let owner = client();
    let email = unique_email("owner");
    register_verified(&owner, &nginx_url(), &email, PASSWORD).await?;
    assert_eq!(login(&owner, 1, &email, PASSWORD).await?.status, 200);

    // 30 strangers, each from an address of its own, all at once.
    let strangers: Vec<reqwest::Client> = (0..30).map(|_| client()).collect();
    let replies = join_all(
        strangers
            .iter()
            .enumerate()
            .map(|(i, c)| login(c, i, &email, "a wrong guess 42")),
    )
    .await;
    let judged = replies
        .into_iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status == 401))
        .count();
    // Past the limit each judged guess from an unknown address must wait a doubling
    // delay: a burst gets at most one more.
    assert!(judged <= limit + 1, "{judged} guesses judged");

    // The owner, from their usual address, logs in at once on every instance.
    for i in 0..4 {
        let reply = login(&owner, i, &email, PASSWORD).await?;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }

    // From a fresh address the owner proves the inbox with a reset code instead.
    let fresh = client();
    let seen = e2e::mail_count(&email, "Your password reset code").await?;
    let asked = post_json(
        &fresh,
        &url(&nginx_url(), "/api/auth/password/forgot"),
        &json!({"email": email}),
    )
    .await?;
    assert_eq!(asked.status, 202, "{}", asked.text);
    let mail = wait_for_mail(&email, "Your password reset code", seen).await?;
    let code = regex::Regex::new(r"code is (\d{6})")?
        .captures(mail["text"].as_str().unwrap_or_default())
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let reset = post_json(
        &fresh,
        &url(&instance_urls()[2], "/api/auth/password/reset"),
        &json!({"email": email, "otp": code, "new_password": "a brand new passphrase"}),
    )
    .await?;
    assert_eq!(reset.status, 200, "{}", reset.text);
    let reply = login(&fresh, 3, &email, "a brand new passphrase").await?;
    assert_eq!(reply.status, 200, "{}", reply.text);
    Ok(())
}

/// Asserts that `email` logs in with `owner_password` and not with `stranger_password`.
async fn only_the_owners_password_works(
    email: &str,
    owner_password: &str,
    stranger_password: &str,
) -> anyhow::Result<()> {
    assert_eq!(
        login(&client(), 1, email, owner_password).await?.status,
        200
    );
    login(&client(), 2, email, stranger_password)
        .await?
        .assert_error(401, "INVALID_CREDENTIALS");
    Ok(())
}

/// Registers `email` with `password` through instance `i`; returns the attempt token.
async fn register(
    c: &reqwest::Client,
    i: usize,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let bases = instance_urls();
    let reply = post_json(
        c,
        &url(&bases[i % bases.len()], "/api/auth/register"),
        &json!({"email": email, "password": password, "name": "Someone"}),
    )
    .await?;
    anyhow::ensure!(reply.status == 202, "register: {}", reply.text);
    Ok(text(&reply.json["data"]["registration_token"]))
}

async fn verify(
    c: &reqwest::Client,
    i: usize,
    email: &str,
    token: &str,
    code: &str,
) -> anyhow::Result<Reply> {
    let bases = instance_urls();
    post_json(
        c,
        &url(&bases[i % bases.len()], "/api/auth/verify-otp"),
        &json!({"email": email, "registration_token": token, "otp": code}),
    )
    .await
}

#[tokio::test]
async fn a_stranger_registering_the_address_after_the_owner_cannot_take_the_account()
-> anyhow::Result<()> {
    let (owner, stranger) = (client(), client());
    let email = unique_email("hijack-after");
    let owner_token = register(&owner, 0, &email, PASSWORD).await?;
    let owner_code = wait_for_code(&email, 0).await?;
    let stranger_token = register(&stranger, 1, &email, "the stranger's password").await?;
    let stranger_code = wait_for_code(&email, 1).await?;

    // The owner types the newest mail's code into their own registration: refused.
    verify(&owner, 2, &email, &owner_token, &stranger_code)
        .await?
        .assert_error(401, "OTP_INVALID");
    // The stranger does not have the owner's code.
    verify(&stranger, 3, &email, &stranger_token, &owner_code)
        .await?
        .assert_error(401, "OTP_INVALID");
    let ok = verify(&owner, 3, &email, &owner_token, &owner_code).await?;
    assert_eq!(ok.status, 200, "{}", ok.text);
    // Verified: the stranger's own code can no longer apply their password.
    verify(&stranger, 0, &email, &stranger_token, &stranger_code)
        .await?
        .assert_error(400, "OTP_NOT_FOUND");
    only_the_owners_password_works(&email, PASSWORD, "the stranger's password").await
}

#[tokio::test]
async fn a_stranger_registering_the_address_before_the_owner_cannot_take_the_account()
-> anyhow::Result<()> {
    let (owner, stranger) = (client(), client());
    let email = unique_email("hijack-before");
    register(&stranger, 0, &email, "the stranger's password").await?;
    wait_for_code(&email, 0).await?;
    // The stranger's attempt does not keep the owner from registering.
    let owner_token = register(&owner, 1, &email, PASSWORD).await?;
    let owner_code = wait_for_code(&email, 1).await?;
    let ok = verify(&owner, 2, &email, &owner_token, &owner_code).await?;
    assert_eq!(ok.status, 200, "{}", ok.text);
    only_the_owners_password_works(&email, PASSWORD, "the stranger's password").await
}

#[tokio::test]
async fn on_the_legacy_route_a_second_registrant_leaves_no_password_of_theirs_active()
-> anyhow::Result<()> {
    let (owner, stranger) = (client(), client());
    let email = unique_email("hijack-legacy");
    let base = nginx_url();
    for (c, password) in [(&owner, PASSWORD), (&stranger, "the stranger's password")] {
        let reply = post_json(
            c,
            &url(&base, "/api/userRegister"),
            &json!({"name": "X", "email": email, "password": password}),
        )
        .await?;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    // The owner reads the newest mail (the stranger's code) and enters it.
    let newest = wait_for_code(&email, 1).await?;
    let verified = post_json(
        &owner,
        &url(&base, "/api/verify-otp"),
        &json!({"email": email, "otp": newest}),
    )
    .await?;
    assert_eq!(verified.status, 200, "{}", verified.text);
    assert!(text(&verified.json["token"]).starts_with("Bearer "));
    // Signed in, but neither registrant's password is active.
    login(&client(), 0, &email, "the stranger's password")
        .await?
        .assert_error(401, "INVALID_CREDENTIALS");
    login(&client(), 1, &email, PASSWORD)
        .await?
        .assert_error(401, "INVALID_CREDENTIALS");
    Ok(())
}

#[tokio::test]
async fn strangers_asking_for_codes_from_many_addresses_do_not_block_the_owners_sign_up()
-> anyhow::Result<()> {
    let email = unique_email("blocked");
    let strangers: Vec<reqwest::Client> = (0..8).map(|_| client()).collect();
    for reply in join_all(
        strangers
            .iter()
            .enumerate()
            .map(|(i, c)| register(c, i, &email, "some stranger password")),
    )
    .await
    {
        reply?;
    }
    let owner = client();
    let token = register(&owner, 2, &email, PASSWORD).await?;
    // The owner's code is the one mailed after the strangers' eight.
    let code = wait_for_code(&email, 8).await?;
    let ok = verify(&owner, 3, &email, &token, &code).await?;
    assert_eq!(ok.status, 200, "{}", ok.text);
    Ok(())
}

#[tokio::test]
async fn twenty_simultaneous_registrations_from_one_address_send_one_code() -> anyhow::Result<()> {
    let c = client();
    let email = unique_email("code-burst");
    let replies = join_all((0..20).map(|i| {
        let c = c.clone();
        let email = email.clone();
        async move {
            post_json(
                &c,
                &url(&instance_urls()[i % 4], "/api/auth/register"),
                &json!({"email": email, "password": PASSWORD, "name": "B"}),
            )
            .await
        }
    }))
    .await;
    let accepted = replies
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status == 202))
        .count();
    assert_eq!(accepted, 1);
    wait_for_code(&email, 0).await?;
    assert_eq!(e2e::mail_count(&email, "Your verification code").await?, 1);
    Ok(())
}

#[tokio::test]
async fn wrong_codes_from_one_address_over_many_accounts_are_limited() -> anyhow::Result<()> {
    let limit = env_u64("OTP_VERIFY_MAX_FAILURES_PER_IP", 30) as usize;
    let guesser = client();
    let replies = join_all((0..limit + 10).map(|i| {
        let guesser = guesser.clone();
        async move {
            post_json(
                &guesser,
                &url(&instance_urls()[i % 4], "/api/verify-otp"),
                &json!({"email": unique_email("guess"), "otp": "123456"}),
            )
            .await
        }
    }))
    .await;
    let limited = replies
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status == 429))
        .count();
    assert_eq!(limited, 10, "exactly the guesses past {limit} are refused");
    Ok(())
}

#[tokio::test]
async fn wrong_reset_codes_from_many_addresses_are_capped_per_account() -> anyhow::Result<()> {
    let cap = env_u64("OTP_VERIFY_MAX_FAILURES_PER_ACCOUNT", 20) as usize;
    let email = unique_email("reset-guess");
    register_verified(&client(), &nginx_url(), &email, PASSWORD).await?;
    let mut judged = 0;
    let mut refused = 0;
    // Each round a fresh address asks for a new code (which must not refill the
    // account's budget), then fresh addresses guess it.
    for _ in 0..(cap / 5 + 1) {
        let asked = post_json(
            &client(),
            &url(&nginx_url(), "/api/auth/password/forgot"),
            &json!({"email": email}),
        )
        .await?;
        assert_eq!(asked.status, 202, "{}", asked.text);
        for i in 0..5 {
            let reply = post_json(
                &client(),
                &url(&instance_urls()[i % 4], "/api/auth/password/reset"),
                &json!({"email": email, "otp": "000000", "new_password": "an attacker's passphrase"}),
            )
            .await?;
            match reply.status {
                401 => judged += 1,
                429 => refused += 1,
                _ => reply.assert_error(400, "OTP_NOT_FOUND"),
            }
        }
    }
    assert!(judged <= cap, "{judged} wrong codes judged, cap {cap}");
    assert!(refused >= 1, "the cap never answered 429");
    Ok(())
}

#[tokio::test]
async fn common_short_and_blank_passwords_are_refused_naming_the_rule() -> anyhow::Result<()> {
    let c = client();
    for (password, rule) in [
        ("password", "at least"),
        ("12345678", "at least"),
        ("        ", "whitespace"),
        ("          ", "whitespace"),
        ("basketball", "common"),
        ("1234567890", "common"),
        ("qwertyuiop", "common"),
    ] {
        let reply = post_json(
            &c,
            &url(&nginx_url(), "/api/auth/register"),
            &json!({"email": unique_email("weak"), "password": password, "name": "W"}),
        )
        .await?;
        reply.assert_error(400, "VALIDATION_ERROR");
        assert_eq!(reply.json["details"]["field"], "password");
        assert!(
            text(&reply.json["message"]).contains(rule),
            "{password:?}: {}",
            reply.text
        );
    }
    Ok(())
}

/// The `shop_bcrypt_running_max` gauge of one instance.
async fn bcrypt_high_water(base: &str) -> anyhow::Result<i64> {
    let metrics = e2e::get(&url(base, "/metrics")).await?.text;
    metrics
        .lines()
        .find(|l| l.starts_with("shop_bcrypt_running_max"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no shop_bcrypt_running_max on {base}"))
}

#[tokio::test]
async fn clients_that_hang_up_mid_login_never_run_more_bcrypts_than_the_bound() -> anyhow::Result<()>
{
    let bound = env_u64("BCRYPT_MAX_CONCURRENCY", 2) as i64;
    let impatient: Vec<reqwest::Client> = (0..50)
        .map(|_| {
            reqwest::Client::builder()
                .timeout(Duration::from_millis(30))
                .local_address(std::net::IpAddr::V4(std::net::Ipv4Addr::new(
                    127,
                    rand::random_range(1..=254),
                    rand::random_range(0..=255),
                    rand::random_range(2..=254),
                )))
                .build()
        })
        .collect::<Result<_, _>>()?;
    let _ = join_all(impatient.iter().enumerate().map(|(i, c)| {
        let base = instance_urls()[i % 4].clone();
        async move {
            c.post(url(&base, "/api/auth/login"))
                .json(&json!({"email": unique_email("hangup"), "password": "whatever it is"}))
                .send()
                .await
        }
    }))
    .await;
    // Let every bcrypt started by the burst finish before reading the high-water mark.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for base in instance_urls() {
        let high = bcrypt_high_water(&base).await?;
        assert!(
            high <= bound,
            "{base}: {high} bcrypts at once, bound {bound}"
        );
    }
    Ok(())
}

/// The SHA-256 of `bytes`, hex: how the API hashes a request body for its key.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Sends the head of `POST path` announcing `length` body bytes and `first` of them,
/// then reads the answer: a server that refuses a body must answer before it is sent
/// whole (a client would otherwise see only a broken pipe).
async fn post_announcing(
    base: &str,
    path: &str,
    length: Option<usize>,
    first: &[u8],
) -> anyhow::Result<Reply> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let framing = match length {
        Some(n) => format!("content-length: {n}\r\n"),
        None => "transfer-encoding: chunked\r\n".to_owned(),
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\norigin: {ORIGIN}\r\ncontent-type: application/json\r\n{framing}connection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    if length.is_some() {
        stream.write_all(first).await?;
    } else {
        // Chunks of 16 KiB until the server stops reading.
        for _ in 0..64 {
            let chunk = format!("{:x}\r\n", 16 * 1024);
            if stream.write_all(chunk.as_bytes()).await.is_err()
                || stream.write_all(&[b' '; 16 * 1024]).await.is_err()
                || stream.write_all(b"\r\n").await.is_err()
            {
                break;
            }
        }
    }
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    let headers = reqwest::header::HeaderMap::new();
    Ok(Reply {
        status,
        headers,
        json: serde_json::from_str(&body).unwrap_or(Value::Null),
        text: format!("{text:.400}"),
    })
}

#[tokio::test]
async fn a_one_mib_body_on_login_cart_and_order_gets_413_in_the_error_shape() -> anyhow::Result<()>
{
    let c = client();
    let mib = 1 << 20;
    // Through nginx, sent whole.
    for path in [
        "/api/auth/login",
        "/api/cart/items",
        "/api/orders",
        "/api/userLogin",
    ] {
        let reply = send(
            c.post(url(&nginx_url(), path))
                .header("content-type", "application/json")
                .header("origin", ORIGIN)
                .body(vec![b' '; mib]),
        )
        .await?;
        reply.assert_error(413, "PAYLOAD_TOO_LARGE");
        assert_eq!(reply.json["details"]["limit_bytes"], 65_536, "{path}");
    }
    // At each instance, answered before the body is read: by its declared length, or
    // by counting a chunked one.
    for base in instance_urls() {
        for path in ["/api/auth/login", "/api/cart/items", "/api/orders"] {
            let reply = post_announcing(&base, path, Some(mib), &[b' '; 1024]).await?;
            reply.assert_error(413, "PAYLOAD_TOO_LARGE");
            assert_eq!(reply.json["details"]["limit_bytes"], 65_536, "{base}{path}");
        }
        let chunked = post_announcing(&base, "/api/auth/login", None, &[]).await?;
        chunked.assert_error(413, "PAYLOAD_TOO_LARGE");
    }
    // The bulk import still takes a large body (here refused only for want of a token).
    let big = send(
        c.post(url(&nginx_url(), "/api/admin/products/bulk"))
            .header("content-type", "text/csv")
            .body(vec![b'a'; mib]),
    )
    .await?;
    big.assert_error(401, "UNAUTHORIZED");
    Ok(())
}

#[tokio::test]
async fn browser_requests_get_every_error_in_the_one_json_shape() -> anyhow::Result<()> {
    let c = client();
    let (_, customer, _) = new_customer("browser").await?;
    for base in [nginx_url(), instance_urls()[1].clone()] {
        let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
            (c.get(url(&base, "/api/auth/me")), 401, "UNAUTHORIZED"),
            (
                c.get(url(&base, "/api/auth/me")).bearer_auth("not-a-token"),
                401,
                "UNAUTHORIZED",
            ),
            (
                c.get(url(&base, "/api/admin/stats")).bearer_auth(&customer),
                403,
                "FORBIDDEN",
            ),
            (c.get(url(&base, "/api/no-such-route")), 404, "NOT_FOUND"),
            (
                c.delete(url(&base, "/api/auth/login")),
                405,
                "METHOD_NOT_ALLOWED",
            ),
            (
                c.post(url(&base, "/api/auth/login"))
                    .header("content-type", "text/plain")
                    .body("hello"),
                415,
                "UNSUPPORTED_MEDIA_TYPE",
            ),
            (
                c.get(url(&base, "/api/products?page=101&page_size=100")),
                422,
                "PAGE_TOO_DEEP",
            ),
        ];
        for (req, status, code) in cases {
            let reply = send(req.header("origin", ORIGIN)).await?;
            reply.assert_error(status, code);
            assert!(
                reply
                    .header("content-type")
                    .is_some_and(|t| t.starts_with("application/json")),
                "{base}: {}",
                reply.text
            );
            assert_eq!(reply.header("access-control-allow-origin"), Some(ORIGIN));
        }
        // An origin outside the list is refused, in the same shape.
        let other = send(
            c.get(url(&base, "/api/auth/me"))
                .header("origin", "https://evil.example"),
        )
        .await?;
        assert!(other.status >= 400, "{}", other.text);
        assert_eq!(other.json["success"], false, "{}", other.text);
        assert!(other.header("access-control-allow-origin").is_none());
    }
    Ok(())
}

#[tokio::test]
async fn nginx_answers_its_own_errors_in_the_json_shape_and_never_redirects_to_the_clients_host()
-> anyhow::Result<()> {
    let c = client();
    let base = nginx_url();
    let trace = send(c.request(reqwest::Method::TRACE, url(&base, "/api/products"))).await?;
    trace.assert_error(405, "METHOD_NOT_ALLOWED");
    let long_uri = send(c.get(url(&base, &format!("/api/{}", "a".repeat(10_000))))).await?;
    assert!(matches!(long_uri.status, 414 | 400), "{}", long_uri.status);
    assert_eq!(long_uri.json["success"], false, "{}", long_uri.text);
    let big_header = send(
        c.get(url(&base, "/api/products"))
            .header("x-big", "a".repeat(9_000)),
    )
    .await?;
    assert!(big_header.status >= 400, "{}", big_header.status);
    assert_eq!(big_header.json["success"], false, "{}", big_header.text);
    for path in ["/api", "/products", "/stats", "/health", "/docs"] {
        let reply = send(c.get(url(&base, path)).header("host", "evil.example")).await?;
        let location = reply.header("location").unwrap_or_default();
        assert!(!location.contains("evil.example"), "{path} → {location}");
        if reply.status >= 400 {
            assert_eq!(reply.json["success"], false, "{path}: {}", reply.text);
        }
    }
    Ok(())
}

#[tokio::test]
async fn readiness_needs_postgres_and_redis_reports_kafka_and_tells_no_internals()
-> anyhow::Result<()> {
    let dead = e2e::free_port()?.to_string();
    let (_broker_down, base) = e2e::spawn_api_instance(
        "ready-no-kafka",
        &[("KAFKA_BROKERS", &format!("127.0.0.1:{dead}"))],
    )
    .await?;
    let ready = e2e::get(&url(&base, "/health/ready")).await?;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.json["data"]["checks"]["kafka"], "down");
    assert_eq!(ready.json["data"]["checks"]["postgres"], "ok");

    let (_redis_down, base) = e2e::spawn_api_instance(
        "ready-no-redis",
        &[("REDIS_URL", &format!("redis://127.0.0.1:{dead}/0"))],
    )
    .await?;
    let not_ready = e2e::get(&url(&base, "/health/ready")).await?;
    not_ready.assert_error(503, "NOT_READY");
    assert_eq!(not_ready.json["details"]["checks"]["redis"], "down");
    assert!(
        !not_ready.text.contains(&dead) && !not_ready.text.to_lowercase().contains("refused"),
        "internals in {}",
        not_ready.text
    );
    Ok(())
}

#[tokio::test]
async fn twenty_concurrent_retries_of_an_abandoned_key_make_exactly_one_order() -> anyhow::Result<()>
{
    let admin = admin_token(&client()).await?;
    let (c, token, email) = new_customer("fence").await?;
    let product = create_product(&c, &nginx_url(), &admin, "Fenced", 50, 700).await?;
    let id = text(&product["id"]);
    assert_eq!(
        add_to_cart(&c, &nginx_url(), &token, &id, 1).await?.status,
        200
    );
    // A key an instance claimed and then died holding, long enough ago to be taken over.
    let db = e2e::database().await?;
    let key = format!("abandoned-{}", uuid::Uuid::new_v4().simple());
    e2e::execute(
        &db,
        "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at)
             SELECT id, $2, $3, now() - interval '5 minutes' FROM users WHERE email = $1",
        // The hash of the body a retry sends (no note): `null`.
        &[&email, &key, &sha256_hex(b"null")],
    )
    .await?;
    let replies = join_all((0..20).map(|i| {
        let (c, token, key) = (c.clone(), token.clone(), key.clone());
        async move {
            send(
                c.post(url(&instance_urls()[i % 4], "/api/orders"))
                    .bearer_auth(token)
                    .header("idempotency-key", key),
            )
            .await
        }
    }))
    .await;
    let mut ids = std::collections::HashSet::new();
    for reply in replies {
        let reply = reply?;
        match reply.status {
            201 => {
                ids.insert(reply.data_id());
            }
            409 => assert_eq!(
                reply.json["error"], "IDEMPOTENCY_IN_PROGRESS",
                "{}",
                reply.text
            ),
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    assert_eq!(ids.len(), 1, "every 201 is the one order: {ids:?}");
    let orders = e2e::scalar_i64(
        &db,
        "SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id WHERE u.email = $1",
        &email,
    )
    .await?;
    assert_eq!(orders, Some(1));
    Ok(())
}

#[tokio::test]
async fn a_non_ascii_idempotency_key_is_refused_like_any_bad_key() -> anyhow::Result<()> {
    let (c, token, _) = new_customer("ascii-key").await?;
    let value = reqwest::header::HeaderValue::from_bytes("caf\u{e9}".as_bytes())?;
    let reply = send(
        c.post(url(&nginx_url(), "/api/orders"))
            .bearer_auth(&token)
            .header("idempotency-key", value),
    )
    .await?;
    reply.assert_error(400, "VALIDATION_ERROR");
    assert_eq!(reply.json["details"]["field"], "Idempotency-Key");
    Ok(())
}

#[tokio::test]
async fn a_cart_holds_one_currency_and_made_up_currencies_are_refused() -> anyhow::Result<()> {
    let admin = admin_token(&client()).await?;
    let c = client();
    let mut ids = Vec::new();
    for (currency, status) in [("USD", 201), ("EUR", 201), ("ZZZ", 400), ("QQQ", 400)] {
        let reply = send(
            c.post(url(&nginx_url(), "/api/admin/products"))
                .bearer_auth(&admin)
                .json(&json!({
                    "name": format!("Priced in {currency}"),
                    "description": "currency test",
                    "price_cents": 500,
                    "currency": currency,
                    "category": "STAPLES",
                    "stock": 5,
                })),
        )
        .await?;
        assert_eq!(reply.status, status, "{currency}: {}", reply.text);
        if status == 400 {
            assert_eq!(reply.json["details"]["field"], "currency", "{}", reply.text);
        } else {
            ids.push(reply.data_id());
        }
    }
    let (c, token, _) = new_customer("currency").await?;
    assert_eq!(
        add_to_cart(&c, &nginx_url(), &token, &ids[0], 1)
            .await?
            .status,
        200
    );
    let mixed = add_to_cart(&c, &nginx_url(), &token, &ids[1], 1).await?;
    mixed.assert_error(409, "CART_CURRENCY_MISMATCH");
    assert!(
        text(&mixed.json["message"]).contains("EUR"),
        "{}",
        mixed.text
    );
    // Archived at the end so no other test's listing holds them.
    for id in &ids {
        send(
            c.delete(url(&nginx_url(), &format!("/api/admin/products/{id}")))
                .bearer_auth(&admin),
        )
        .await?;
    }
    Ok(())
}

#[tokio::test]
async fn stock_never_leaves_its_bounds_and_deep_pages_are_refused() -> anyhow::Result<()> {
    let admin = admin_token(&client()).await?;
    let c = client();
    let product = create_product(&c, &nginx_url(), &admin, "Bounded stock", 0, 100).await?;
    let id = text(&product["id"]);
    let db = e2e::database().await?;
    e2e::execute(
        &db,
        "UPDATE products SET stock = 999500000 WHERE id = $1::uuid",
        &[&id],
    )
    .await?;
    let adjust = |delta: i64| {
        send(
            c.post(url(
                &nginx_url(),
                &format!("/api/admin/products/{id}/stock"),
            ))
            .bearer_auth(&admin)
            .json(&json!({"delta": delta, "reason": "bounds test"})),
        )
    };
    adjust(1_000_000).await?.assert_error(422, "STOCK_LIMIT");
    assert_eq!(adjust(500_000).await?.status, 200);
    adjust(1).await?.assert_error(422, "STOCK_LIMIT");
    let deep = e2e::get(&url(&nginx_url(), "/api/products?page=101&page_size=100")).await?;
    deep.assert_error(422, "PAGE_TOO_DEEP");
    let deepest = e2e::get(&url(&nginx_url(), "/api/products?page=100&page_size=100")).await?;
    assert_eq!(deepest.status, 200, "{}", deepest.text);
    send(
        c.delete(url(&nginx_url(), &format!("/api/admin/products/{id}")))
            .bearer_auth(&admin),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn clients_minting_listing_keys_cannot_fill_redis() -> anyhow::Result<()> {
    // Deep pages are never cached.
    for _ in 0..2 {
        let deep = e2e::get(&url(&nginx_url(), "/api/products?page=6")).await?;
        assert_eq!(deep.status, 200, "{}", deep.text);
        assert_eq!(deep.header("x-cache"), Some("BYPASS"));
    }
    // Every other listing store draws on one budget per minute over all instances:
    // with a budget of 3, at most 3 of 10 fresh searches are stored, however many
    // other stores this minute already made.
    let (_instance, base) = e2e::spawn_api_instance(
        "api-listing-budget",
        &[("CATALOGUE_LISTING_STORES_PER_MINUTE", "3")],
    )
    .await?;
    let searches: Vec<String> = (0..10)
        .map(|_| format!("/api/products?q=budget{}", uuid::Uuid::new_v4().simple()))
        .collect();
    for path in &searches {
        let first = e2e::get(&url(&base, path)).await?;
        assert_eq!(first.header("x-cache"), Some("MISS"), "{}", first.text);
    }
    let mut hits = 0;
    for path in &searches {
        if e2e::get(&url(&base, path)).await?.header("x-cache") == Some("HIT") {
            hits += 1;
        }
    }
    assert!(hits <= 3, "{hits} of 10 searches were stored, budget 3");
    // Search is normalised: case and spacing make no new key. (Other tests write to the
    // catalogue meanwhile, bumping its generation: retry until both reads share one.)
    let mut normalised = false;
    for _ in 0..20 {
        let q = format!("norm{}", uuid::Uuid::new_v4().simple());
        e2e::get(&url(&nginx_url(), &format!("/api/products?q={q}"))).await?;
        let again = e2e::get(&url(
            &nginx_url(),
            &format!("/api/products?q=%20%20{}%20", q.to_uppercase()),
        ))
        .await?;
        if again.header("x-cache") == Some("HIT") {
            normalised = true;
            break;
        }
    }
    assert!(
        normalised,
        "a re-spelt search never hit the first one's entry"
    );
    Ok(())
}

#[tokio::test]
async fn made_up_methods_and_paths_add_no_metric_series() -> anyhow::Result<()> {
    let base = instance_urls()[0].clone();
    let c = client();
    for i in 0..20 {
        let method =
            reqwest::Method::from_bytes(format!("X{}", uuid::Uuid::new_v4().simple()).as_bytes())?;
        send(c.request(method, url(&base, &format!("/api/random-{i}")))).await?;
    }
    let metrics = e2e::get(&url(&base, "/metrics")).await?.text;
    let re = regex::Regex::new(r#"method="([^"]*)""#)?;
    let methods: std::collections::HashSet<String> = re
        .captures_iter(&metrics)
        .filter_map(|c| c.get(1).map(|m| m.as_str().to_owned()))
        .collect();
    for m in &methods {
        assert!(
            [
                "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"
            ]
            .contains(&m.as_str()),
            "method label {m}"
        );
    }
    assert!(!metrics.contains("random-"), "a raw path became a label");
    Ok(())
}

#[tokio::test]
async fn images_of_archived_products_are_gone_for_customers() -> anyhow::Result<()> {
    let admin = admin_token(&client()).await?;
    let c = client();
    let form = reqwest::multipart::Form::new()
        .text("name", "Archived with image")
        .text("description", "image test")
        .text("price_cents", "300")
        .text("category", "STAPLES")
        .text("stock", "3")
        .part(
            "images",
            reqwest::multipart::Part::bytes(e2e::png(&uuid::Uuid::new_v4().to_string()))
                .file_name("a.png")
                .mime_str("image/png")?,
        );
    let up = send(
        c.post(url(&nginx_url(), "/api/admin/products/upload"))
            .bearer_auth(&admin)
            .multipart(form),
    )
    .await?;
    assert_eq!(up.status, 201, "{}", up.text);
    let image_url = text(&up.json["data"]["images"][0]["url"]);
    let id = up.data_id();
    assert_eq!(e2e::get(&url(&nginx_url(), &image_url)).await?.status, 200);
    send(
        c.delete(url(&nginx_url(), &format!("/api/admin/products/{id}")))
            .bearer_auth(&admin),
    )
    .await?;
    e2e::get(&url(&nginx_url(), &image_url))
        .await?
        .assert_error(404, "NOT_FOUND");
    Ok(())
}

#[tokio::test]
async fn the_code_mail_never_carries_what_the_registrant_typed() -> anyhow::Result<()> {
    let email = unique_email("phish");
    let reply = post_json(
        &client(),
        &url(&nginx_url(), "/api/auth/register"),
        &json!({"email": email, "password": PASSWORD, "name": "Win a prize at https://evil.example now"}),
    )
    .await?;
    assert_eq!(reply.status, 202);
    wait_for_code(&email, 0).await?;
    let mails = mails_to(&email).await?;
    let raw = serde_json::to_string(&mails)?;
    assert!(!raw.contains("evil.example"), "{raw}");
    assert!(!raw.contains("prize"), "{raw}");
    Ok(())
}

async fn me(c: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<u16> {
    Ok(get_auth(c, &url(base, "/api/auth/me"), token).await?.status)
}

#[tokio::test]
async fn changing_the_password_ends_every_other_session_on_every_instance() -> anyhow::Result<()> {
    let c = client();
    let email = unique_email("change");
    register_verified(&c, &nginx_url(), &email, PASSWORD).await?;
    let other = login(&client(), 1, &email, PASSWORD).await?;
    let other_access = text(&other.json["data"]["access_token"]);
    let other_refresh = text(&other.json["data"]["refresh_token"]);
    let mine = login(&c, 2, &email, PASSWORD).await?;
    let changed = send(
        c.post(url(&instance_urls()[3], "/api/auth/password/change"))
            .bearer_auth(text(&mine.json["data"]["access_token"]))
            .json(
                &json!({"current_password": PASSWORD, "new_password": "another long passphrase"}),
            ),
    )
    .await?;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let fresh = text(&changed.json["data"]["access_token"]);
    for base in instance_urls() {
        assert_eq!(me(&c, &base, &other_access).await?, 401, "{base}");
        assert_eq!(
            me(&c, &base, &text(&mine.json["data"]["access_token"])).await?,
            401
        );
        assert_eq!(me(&c, &base, &fresh).await?, 200, "{base}");
    }
    let refresh = post_json(
        &c,
        &url(&nginx_url(), "/api/auth/refresh"),
        &json!({"refresh_token": other_refresh}),
    )
    .await?;
    assert_eq!(refresh.status, 401, "{}", refresh.text);
    login(&client(), 0, &email, PASSWORD)
        .await?
        .assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(
        login(&client(), 0, &email, "another long passphrase")
            .await?
            .status,
        200
    );
    // A wrong current password changes nothing.
    let wrong = send(
        c.post(url(&nginx_url(), "/api/auth/password/change"))
            .bearer_auth(&fresh)
            .json(&json!({"current_password": "not it at all", "new_password": "yet another passphrase"})),
    )
    .await?;
    wrong.assert_error(401, "INVALID_CREDENTIALS");
    Ok(())
}

#[tokio::test]
async fn a_promotion_by_create_admin_ends_the_sessions_issued_before_it() -> anyhow::Result<()> {
    let c = client();
    let email = unique_email("promoted");
    let tokens = register_verified(&c, &nginx_url(), &email, PASSWORD).await?;
    let before = text(&tokens["access_token"]);
    assert_eq!(me(&c, &instance_urls()[0], &before).await?, 200);
    e2e::api_command(
        &["create-admin"],
        &[
            ("ADMIN_EMAIL", &email),
            ("ADMIN_PASSWORD", "a promoted admin passphrase"),
        ],
    )
    .await?;
    for base in instance_urls() {
        assert_eq!(me(&c, &base, &before).await?, 401, "{base}");
    }
    let admin = login(&client(), 1, &email, "a promoted admin passphrase").await?;
    assert_eq!(
        admin.json["data"]["user"]["role"], "admin",
        "{}",
        admin.text
    );
    let stats = get_auth(
        &c,
        &url(&nginx_url(), "/api/admin/stats"),
        &text(&admin.json["data"]["access_token"]),
    )
    .await?;
    assert_eq!(stats.status, 200, "{}", stats.text);
    Ok(())
}

#[tokio::test]
async fn twelve_tabs_refreshing_at_once_get_one_rotation_and_keep_the_session() -> anyhow::Result<()>
{
    let c = client();
    let tokens = register_verified(&c, &nginx_url(), &unique_email("tabs"), PASSWORD).await?;
    let refresh = text(&tokens["refresh_token"]);
    let replies = join_all((0..12).map(|i| {
        let (c, refresh) = (c.clone(), refresh.clone());
        async move {
            post_json(
                &c,
                &url(&instance_urls()[i % 4], "/api/auth/refresh"),
                &json!({"refresh_token": refresh}),
            )
            .await
        }
    }))
    .await;
    let mut winners = Vec::new();
    for reply in replies {
        let reply = reply?;
        if reply.status == 200 {
            winners.push(reply);
        } else {
            reply.assert_error(401, "REFRESH_TOKEN_ROTATED");
        }
    }
    assert_eq!(winners.len(), 1);
    let access = text(&winners[0].json["data"]["access_token"]);
    assert_eq!(me(&c, &nginx_url(), &access).await?, 200);
    Ok(())
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_however_often_it_is_refreshed()
-> anyhow::Result<()> {
    let c = client();
    let email = unique_email("absolute");
    let tokens = register_verified(&c, &nginx_url(), &email, PASSWORD).await?;
    let db = e2e::database().await?;
    e2e::execute(
        &db,
        "UPDATE refresh_tokens SET session_started_at = now() - interval '400 days'
             WHERE user_id = (SELECT id FROM users WHERE email = $1)",
        &[&email],
    )
    .await?;
    let reply = post_json(
        &c,
        &url(&nginx_url(), "/api/auth/refresh"),
        &json!({"refresh_token": tokens["refresh_token"]}),
    )
    .await?;
    reply.assert_error(401, "INVALID_REFRESH_TOKEN");
    Ok(())
}

#[tokio::test]
async fn a_demoted_admin_loses_the_admin_routes_at_the_next_request_on_every_instance()
-> anyhow::Result<()> {
    let c = client();
    let email = unique_email("demoted");
    e2e::api_command(
        &["create-admin"],
        &[
            ("ADMIN_EMAIL", &email),
            ("ADMIN_PASSWORD", "a soon demoted passphrase"),
        ],
    )
    .await?;
    let second = login(&client(), 0, &email, "a soon demoted passphrase").await?;
    let token = text(&second.json["data"]["access_token"]);
    let id = text(&second.json["data"]["user"]["id"]);
    let stats = |base: String, token: String| {
        let c = c.clone();
        async move { get_auth(&c, &url(&base, "/api/admin/stats"), &token).await }
    };
    for base in instance_urls() {
        assert_eq!(stats(base, token.clone()).await?.status, 200);
    }
    let admin = admin_token(&client()).await?;
    let demoted = send(
        c.put(url(&nginx_url(), &format!("/api/admin/users/{id}/role")))
            .bearer_auth(&admin)
            .json(&json!({"role": "customer"})),
    )
    .await?;
    assert_eq!(demoted.status, 200, "{}", demoted.text);
    assert_eq!(demoted.json["data"]["role"], "customer");
    for base in instance_urls() {
        let reply = stats(base.clone(), token.clone()).await?;
        assert!(matches!(reply.status, 401 | 403), "{base}: {}", reply.text);
    }
    // Logging in again gives a customer's session; no admin can change their own role.
    let again = login(&client(), 2, &email, "a soon demoted passphrase").await?;
    assert_eq!(again.json["data"]["user"]["role"], "customer");
    let me = get_auth(&c, &url(&nginx_url(), "/api/auth/me"), &admin).await?;
    let own = send(
        c.put(url(
            &nginx_url(),
            &format!("/api/admin/users/{}/role", text(&me.json["data"]["id"])),
        ))
        .bearer_auth(&admin)
        .json(&json!({"role": "customer"})),
    )
    .await?;
    own.assert_error(409, "OWN_ROLE");
    Ok(())
}

#[tokio::test]
async fn a_cart_holds_at_most_a_hundred_products_even_when_added_at_once() -> anyhow::Result<()> {
    let admin = admin_token(&client()).await?;
    let c = client();
    let tag = format!("Cartcap {}", uuid::Uuid::new_v4().simple());
    let mut csv = String::from("name,description,price_cents,category,stock\n");
    for i in 0..101 {
        csv.push_str(&format!("{tag} {i},cart cap,100,STAPLES,5\n"));
    }
    let imported = send(
        c.post(url(&nginx_url(), "/api/admin/products/bulk"))
            .bearer_auth(&admin)
            .header("content-type", "text/csv")
            .body(csv),
    )
    .await?;
    assert_eq!(imported.status, 200, "{}", imported.text);
    assert_eq!(imported.json["data"]["created"], 101, "{}", imported.text);
    let db = e2e::database().await?;
    let ids: Vec<String> = {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        db.query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id::text AS id FROM products WHERE name LIKE $1",
            [format!("{tag}%").into()],
        ))
        .await?
        .iter()
        .filter_map(|r| r.try_get::<String>("", "id").ok())
        .collect()
    };
    assert_eq!(ids.len(), 101);
    let (buyer, token, _) = new_customer("cartcap").await?;
    let replies = join_all(ids.iter().enumerate().map(|(i, id)| {
        let (buyer, token, id) = (buyer.clone(), token.clone(), id.clone());
        async move { add_to_cart(&buyer, &instance_urls()[i % 4], &token, &id, 1).await }
    }))
    .await;
    let mut added = 0;
    for reply in replies {
        let reply = reply?;
        if reply.status == 200 {
            added += 1;
        } else {
            reply.assert_error(409, "CART_FULL");
        }
    }
    assert_eq!(added, 100);
    let cart = get_auth(&buyer, &url(&nginx_url(), "/api/cart"), &token).await?;
    assert_eq!(
        cart.json["data"]["items"].as_array().map(Vec::len),
        Some(100)
    );
    // Archived again, through SQL and then one product through the API, whose cache
    // invalidation covers every listing that held any of them.
    e2e::execute(
        &db,
        "UPDATE products SET status = 'archived' WHERE name LIKE $1 AND id::text <> $2",
        &[&format!("{tag}%"), &ids[0]],
    )
    .await?;
    send(
        c.delete(url(
            &nginx_url(),
            &format!("/api/admin/products/{}", ids[0]),
        ))
        .bearer_auth(&admin),
    )
    .await?;
    Ok(())
}
