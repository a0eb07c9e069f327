//! OTP registration and authentication across four instances, against the real
//! stack: Redis, PostgreSQL, Kafka (outbox → email consumer) and SMTP (MailDev).

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use e2e::{
    Reply, client, get_auth, instance_urls, mail_count, nginx_url, post_json, register_verified,
    unique_email, wait_for_code,
};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

fn url(base: &str, path: &str) -> String {
    format!("{base}{path}")
}

#[tokio::test]
async fn register_on_one_instance_verify_on_another_login_on_a_third_me_on_a_fourth()
-> anyhow::Result<()> {
    let i = instance_urls();
    let client = client();
    let email = unique_email("journey");
    let reg = post_json(
        &client,
        &url(&i[0], "/api/auth/register"),
        &json!({"email": email, "password": PASSWORD, "name": "Ada"}),
    )
    .await?;
    assert_eq!(reg.status, 202, "{}", reg.text);
    assert_eq!(reg.json["data"]["status"], "pending_verification");
    let token = reg.json["data"]["registration_token"].clone();

    let code = wait_for_code(&email, 0).await?;
    let verified = post_json(
        &client,
        &url(&i[1], "/api/auth/verify-otp"),
        &json!({"email": email, "registration_token": token, "otp": code}),
    )
    .await?;
    assert_eq!(verified.status, 200, "{}", verified.text);
    assert_eq!(verified.json["data"]["token_type"], "Bearer");
    assert_eq!(verified.json["data"]["user"]["role"], "customer");
    assert!(
        !verified.text.contains(&code),
        "the code must not come back"
    );

    let login = post_json(
        &client,
        &url(&i[2], "/api/auth/login"),
        &json!({"email": email, "password": PASSWORD}),
    )
    .await?;
    assert_eq!(login.status, 200, "{}", login.text);
    let token = login.json["data"]["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(login.json["data"]["expires_in"], 900);

    let me = get_auth(&client, &url(&i[3], "/api/auth/me"), &token).await?;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json["data"]["email"], email.as_str());
    assert_eq!(me.json["data"]["name"], "Ada");

    // A welcome mail follows the verification.
    e2e::wait_for_mail(&email, "Welcome to the shop", 0).await?;
    Ok(())
}

#[tokio::test]
async fn registering_a_taken_address_answers_the_same_and_makes_no_second_account()
-> anyhow::Result<()> {
    let client = client();
    let base = nginx_url();
    let email = unique_email("taken");
    register_verified(&client, &base, &email, PASSWORD).await?;
    let again = post_json(
        &client,
        &url(&base, "/api/auth/register"),
        &json!({"email": email, "password": "another password", "name": "Eve"}),
    )
    .await?;
    assert_eq!(again.status, 202, "{}", again.text);
    assert_eq!(again.json["data"]["status"], "pending_verification");
    // The original password still works; the intruder's does not.
    let ok = post_json(
        &client,
        &url(&base, "/api/auth/login"),
        &json!({"email": email, "password": PASSWORD}),
    )
    .await?;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let intruder = post_json(
        &client,
        &url(&base, "/api/auth/login"),
        &json!({"email": email, "password": "another password"}),
    )
    .await?;
    intruder.assert_error(401, "INVALID_CREDENTIALS");
    Ok(())
}

#[tokio::test]
async fn five_wrong_codes_kill_the_code_and_a_resent_code_works() -> anyhow::Result<()> {
    let i = instance_urls();
    let client = client();
    let email = unique_email("wrong-codes");
    let reg = post_json(
        &client,
        &url(&i[0], "/api/auth/register"),
        &json!({"email": email, "password": PASSWORD, "name": "Bo"}),
    )
    .await?;
    assert_eq!(reg.status, 202);
    let token = reg.json["data"]["registration_token"].clone();
    let code = wait_for_code(&email, 0).await?;
    let wrong = if code == "000000" { "111111" } else { "000000" };

    // The cooldown holds right after the first code.
    let early = post_json(
        &client,
        &url(&i[1], "/api/auth/resend-otp"),
        &json!({"email": email, "registration_token": token}),
    )
    .await?;
    early.assert_error(429, "OTP_COOLDOWN");
    assert!(
        early
            .header("retry-after")
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|s| s > 0)
    );

    for attempt in 1..=5u64 {
        let base = &i[(attempt as usize) % i.len()];
        let reply = post_json(
            &client,
            &url(base, "/api/auth/verify-otp"),
            &json!({"email": email, "registration_token": token, "otp": wrong}),
        )
        .await?;
        reply.assert_error(401, "OTP_INVALID");
        assert_eq!(reply.json["details"]["remaining_attempts"], 5 - attempt);
    }
    let dead = post_json(
        &client,
        &url(&i[2], "/api/auth/verify-otp"),
        &json!({"email": email, "registration_token": token, "otp": code}),
    )
    .await?;
    dead.assert_error(400, "OTP_NOT_FOUND");

    let resend = post_json(
        &client,
        &url(&i[3], "/api/auth/resend-otp"),
        &json!({"email": email, "registration_token": token}),
    )
    .await?;
    assert_eq!(resend.status, 202, "{}", resend.text);
    let again = post_json(
        &client,
        &url(&i[0], "/api/auth/resend-otp"),
        &json!({"email": email, "registration_token": token}),
    )
    .await?;
    again.assert_error(429, "OTP_COOLDOWN");

    let fresh = wait_for_code(&email, 1).await?;
    let ok = post_json(
        &client,
        &url(&i[1], "/api/auth/verify-otp"),
        &json!({"email": email, "registration_token": token, "otp": fresh}),
    )
    .await?;
    assert_eq!(ok.status, 200, "{}", ok.text);
    // Single use.
    let reuse = post_json(
        &client,
        &url(&i[2], "/api/auth/verify-otp"),
        &json!({"email": email, "registration_token": token, "otp": fresh}),
    )
    .await?;
    reuse.assert_error(400, "OTP_NOT_FOUND");
    Ok(())
}

#[tokio::test]
async fn six_wrong_passwords_in_a_row_get_429_with_retry_after_from_any_instance()
-> anyhow::Result<()> {
    let i = instance_urls();
    let client = client();
    let email = unique_email("throttle");
    register_verified(&client, &nginx_url(), &email, PASSWORD).await?;
    for attempt in 0..5 {
        let reply = post_json(
            &client,
            &url(&i[attempt % 4], "/api/auth/login"),
            &json!({"email": email, "password": "wrong password"}),
        )
        .await?;
        reply.assert_error(401, "INVALID_CREDENTIALS");
    }
    for base in &i {
        let reply = post_json(
            &client,
            &url(base, "/api/auth/login"),
            &json!({"email": email, "password": "wrong password"}),
        )
        .await?;
        reply.assert_error(429, "TOO_MANY_LOGIN_ATTEMPTS");
        let retry = reply
            .header("retry-after")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_default();
        assert!(retry > 0 && retry <= 900, "Retry-After {retry}");
    }
    // Even the right password waits out the window.
    let right = post_json(
        &client,
        &url(&i[0], "/api/auth/login"),
        &json!({"email": email, "password": PASSWORD}),
    )
    .await?;
    right.assert_error(429, "TOO_MANY_LOGIN_ATTEMPTS");
    Ok(())
}

#[tokio::test]
async fn failed_logins_over_many_accounts_lock_that_address_and_no_other() -> anyhow::Result<()> {
    // One guess per made-up account, so no account lock can trigger: only the address's.
    let limit: usize = std::env::var("LOGIN_MAX_FAILURES_PER_IP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let login = url(&nginx_url(), "/api/auth/login");
    let (attacker, neighbour) = (client(), client());
    let email = unique_email("ip-lock");
    register_verified(&neighbour, &nginx_url(), &email, PASSWORD).await?;
    for _ in 0..limit {
        post_json(
            &attacker,
            &login,
            &json!({"email": unique_email("guess"), "password": "wrong password"}),
        )
        .await?
        .assert_error(401, "INVALID_CREDENTIALS");
    }
    // From that address even a real account's right password waits out the window...
    let locked = post_json(
        &attacker,
        &login,
        &json!({"email": email, "password": PASSWORD}),
    )
    .await?;
    locked.assert_error(429, "TOO_MANY_LOGIN_ATTEMPTS");
    assert!(
        locked
            .header("retry-after")
            .is_some_and(|v| v.parse::<u64>().is_ok_and(|s| s > 0)),
        "no Retry-After: {}",
        locked.text
    );
    // ...while the same account logs in from another address.
    let other = post_json(
        &neighbour,
        &login,
        &json!({"email": email, "password": PASSWORD}),
    )
    .await?;
    assert_eq!(other.status, 200, "{}", other.text);
    Ok(())
}

/// Runs `api create-admin` for `email` / `password`, as the stack does on start.
async fn create_admin(email: &str, password: &str) -> anyhow::Result<()> {
    e2e::api_command(
        &["create-admin"],
        &[("ADMIN_EMAIL", email), ("ADMIN_PASSWORD", password)],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn setting_the_admin_password_from_the_environment_lifts_a_login_lock() -> anyhow::Result<()>
{
    // A second admin of its own: locking the stack's admin would fail other tests.
    let client = client();
    let login = url(&nginx_url(), "/api/auth/login");
    let email = unique_email("locked-admin");
    create_admin(&email, "first admin password").await?;
    for _ in 0..5 {
        post_json(
            &client,
            &login,
            &json!({"email": email, "password": "wrong password"}),
        )
        .await?
        .assert_error(401, "INVALID_CREDENTIALS");
    }
    post_json(
        &client,
        &login,
        &json!({"email": email, "password": "first admin password"}),
    )
    .await?
    .assert_error(429, "TOO_MANY_LOGIN_ATTEMPTS");

    create_admin(&email, "second admin password").await?;
    let old = post_json(
        &client,
        &login,
        &json!({"email": email, "password": "first admin password"}),
    )
    .await?;
    old.assert_error(401, "INVALID_CREDENTIALS");
    let new = post_json(
        &client,
        &login,
        &json!({"email": email, "password": "second admin password"}),
    )
    .await?;
    assert_eq!(new.status, 200, "{}", new.text);
    assert_eq!(new.json["data"]["user"]["role"], "admin");
    Ok(())
}

#[tokio::test]
async fn an_unverified_account_gets_403_only_after_a_correct_password() -> anyhow::Result<()> {
    let client = client();
    let base = nginx_url();
    let email = unique_email("unverified");
    let reg = post_json(
        &client,
        &url(&base, "/api/auth/register"),
        &json!({"email": email, "password": PASSWORD, "name": "Cy"}),
    )
    .await?;
    assert_eq!(reg.status, 202);
    let wrong = post_json(
        &client,
        &url(&base, "/api/auth/login"),
        &json!({"email": email, "password": "not the password"}),
    )
    .await?;
    wrong.assert_error(401, "INVALID_CREDENTIALS");
    let right = post_json(
        &client,
        &url(&base, "/api/auth/login"),
        &json!({"email": email, "password": PASSWORD}),
    )
    .await?;
    right.assert_error(403, "EMAIL_NOT_VERIFIED");
    let unknown = post_json(
        &client,
        &url(&base, "/api/auth/login"),
        &json!({"email": unique_email("nobody"), "password": PASSWORD}),
    )
    .await?;
    unknown.assert_error(401, "INVALID_CREDENTIALS");
    Ok(())
}

fn sign(claims: &Value, secret: &[u8]) -> anyhow::Result<String> {
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )?)
}

#[tokio::test]
async fn forged_expired_and_tampered_tokens_are_refused() -> anyhow::Result<()> {
    let client = client();
    let base = nginx_url();
    let tokens = register_verified(&client, &base, &unique_email("forge"), PASSWORD).await?;
    let good = tokens["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        get_auth(&client, &url(&base, "/api/auth/me"), &good)
            .await?
            .status,
        200
    );

    let parts: Vec<&str> = good.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1])?)?;
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let alg_none = format!("{none_header}.{}.", parts[1]);
    let other_key = sign(&claims, b"some-other-key-that-is-long-enough-000")?;
    claims["role"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?),
        parts[2]
    );
    let secret = std::env::var("JWT_SECRET")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    claims["role"] = json!("customer");
    claims["exp"] = json!(now - 600);
    claims["iat"] = json!(now - 1600);
    let expired = sign(&claims, secret.as_bytes())?;
    claims["exp"] = json!(now + 600);
    claims["aud"] = json!("another-audience");
    let wrong_audience = sign(&claims, secret.as_bytes())?;

    for (name, token) in [
        ("alg none", alg_none),
        ("other key", other_key),
        ("tampered", tampered),
        ("expired", expired),
        ("wrong audience", wrong_audience),
        ("garbage", "not.a.jwt".to_owned()),
    ] {
        let reply = get_auth(&client, &url(&base, "/api/auth/me"), &token).await?;
        assert_eq!(reply.status, 401, "{name}: {}", reply.text);
        reply.assert_error(401, "UNAUTHORIZED");
    }
    let missing = Reply::read(client.get(url(&base, "/api/auth/me")).send().await?).await?;
    missing.assert_error(401, "UNAUTHORIZED");
    Ok(())
}

#[tokio::test]
async fn refresh_rotates_and_reusing_an_old_refresh_token_revokes_the_session() -> anyhow::Result<()>
{
    let client = client();
    let i = instance_urls();
    let tokens = register_verified(&client, &i[0], &unique_email("rotate"), PASSWORD).await?;
    let first = tokens["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let rotated = post_json(
        &client,
        &url(&i[1], "/api/auth/refresh"),
        &json!({"refresh_token": first}),
    )
    .await?;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let second = rotated.json["data"]["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let access = rotated.json["data"]["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(first, second);
    assert_eq!(
        get_auth(&client, &url(&i[2], "/api/auth/me"), &access)
            .await?
            .status,
        200
    );

    // Within the grace window a second use is a second tab racing the first: refused,
    // and the session lives on.
    let racing = post_json(
        &client,
        &url(&i[3], "/api/auth/refresh"),
        &json!({"refresh_token": first}),
    )
    .await?;
    racing.assert_error(401, "REFRESH_TOKEN_ROTATED");
    assert_eq!(
        get_auth(&client, &url(&i[0], "/api/auth/me"), &access)
            .await?
            .status,
        200
    );
    // Past it, a rotated token coming back is taken for a stolen copy.
    let grace: u64 = std::env::var("REFRESH_REUSE_GRACE_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    tokio::time::sleep(Duration::from_secs(grace + 1)).await;
    let reuse = post_json(
        &client,
        &url(&i[2], "/api/auth/refresh"),
        &json!({"refresh_token": first}),
    )
    .await?;
    reuse.assert_error(401, "REFRESH_TOKEN_REUSED");
    // The whole family is gone: the newest refresh token and its access token too.
    let after = post_json(
        &client,
        &url(&i[3], "/api/auth/refresh"),
        &json!({"refresh_token": second}),
    )
    .await?;
    assert_eq!(after.status, 401, "{}", after.text);
    for base in &i {
        assert_eq!(
            get_auth(&client, &url(base, "/api/auth/me"), &access)
                .await?
                .status,
            401,
            "{base}"
        );
    }
    let junk = post_json(
        &client,
        &url(&i[0], "/api/auth/refresh"),
        &json!({"refresh_token": "nonsense"}),
    )
    .await?;
    junk.assert_error(401, "INVALID_REFRESH_TOKEN");
    Ok(())
}

#[tokio::test]
async fn after_logout_the_access_token_is_refused_by_all_four_instances() -> anyhow::Result<()> {
    let client = client();
    let i = instance_urls();
    let tokens =
        register_verified(&client, &nginx_url(), &unique_email("logout"), PASSWORD).await?;
    let access = tokens["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for base in &i {
        assert_eq!(
            get_auth(&client, &url(base, "/api/auth/me"), &access)
                .await?
                .status,
            200
        );
    }
    let out = client
        .post(url(&i[0], "/api/auth/logout"))
        .bearer_auth(&access)
        .send()
        .await?;
    assert_eq!(out.status().as_u16(), 204);
    for base in &i {
        get_auth(&client, &url(base, "/api/auth/me"), &access)
            .await?
            .assert_error(401, "UNAUTHORIZED");
    }
    let refreshed = post_json(
        &client,
        &url(&i[1], "/api/auth/refresh"),
        &json!({"refresh_token": refresh}),
    )
    .await?;
    assert_eq!(refreshed.status, 401);
    Ok(())
}

#[tokio::test]
async fn a_customer_calling_an_admin_route_gets_403_and_no_token_gets_401() -> anyhow::Result<()> {
    let client = client();
    let base = nginx_url();
    let tokens = register_verified(&client, &base, &unique_email("not-admin"), PASSWORD).await?;
    let access = tokens["access_token"].as_str().unwrap_or_default();
    get_auth(&client, &url(&base, "/api/admin/stats"), access)
        .await?
        .assert_error(403, "FORBIDDEN");
    Reply::read(client.get(url(&base, "/api/admin/stats")).send().await?)
        .await?
        .assert_error(401, "UNAUTHORIZED");

    let admin_email = std::env::var("ADMIN_EMAIL")?;
    let admin_password = std::env::var("ADMIN_PASSWORD")?;
    let login = post_json(
        &client,
        &url(&base, "/api/auth/login"),
        &json!({"email": admin_email, "password": admin_password}),
    )
    .await?;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(login.json["data"]["user"]["role"], "admin");
    let admin_token = login.json["data"]["access_token"]
        .as_str()
        .unwrap_or_default();
    let stats = get_auth(&client, &url(&base, "/api/admin/stats"), admin_token).await?;
    assert_eq!(stats.status, 200, "{}", stats.text);
    assert!(
        stats.json["data"]["users"]["total"]
            .as_u64()
            .is_some_and(|n| n >= 2)
    );
    Ok(())
}

#[tokio::test]
async fn bad_input_gets_4xx_naming_the_field_never_500() -> anyhow::Result<()> {
    let client = client();
    let base = nginx_url();
    let register = url(&base, "/api/auth/register");
    let cases = [
        (
            json!({"email": "not-an-email", "password": PASSWORD, "name": "A"}),
            "email",
        ),
        (
            json!({"email": unique_email("short"), "password": "short", "name": "A"}),
            "password",
        ),
        (
            json!({"email": unique_email("long"), "password": "x".repeat(73), "name": "A"}),
            "password",
        ),
        (
            json!({"email": unique_email("noname"), "password": PASSWORD, "name": ""}),
            "name",
        ),
    ];
    for (body, field) in cases {
        let reply = post_json(&client, &register, &body).await?;
        reply.assert_error(400, "VALIDATION_ERROR");
        assert_eq!(reply.json["details"]["field"], field, "{}", reply.text);
    }
    let missing = post_json(
        &client,
        &register,
        &json!({"email": unique_email("missing"), "name": "A"}),
    )
    .await?;
    missing.assert_error(400, "VALIDATION_ERROR");
    assert_eq!(
        missing.json["details"]["field"], "password",
        "{}",
        missing.text
    );
    let wrong_type = post_json(
        &client,
        &register,
        &json!({"email": 42, "password": PASSWORD, "name": "A"}),
    )
    .await?;
    wrong_type.assert_error(400, "VALIDATION_ERROR");
    assert_eq!(
        wrong_type.json["details"]["field"], "email",
        "{}",
        wrong_type.text
    );
    let seven = post_json(
        &client,
        &url(&base, "/api/auth/verify-otp"),
        &json!({"email": unique_email("seven"), "registration_token": "0".repeat(32), "otp": "1234567"}),
    )
    .await?;
    seven.assert_error(400, "VALIDATION_ERROR");
    assert_eq!(seven.json["details"]["field"], "otp");

    let malformed = Reply::read(
        client
            .post(url(&base, "/api/auth/login"))
            .header("content-type", "application/json")
            .body("{\"email\": ")
            .send()
            .await?,
    )
    .await?;
    malformed.assert_error(400, "INVALID_BODY");
    for base in instance_urls() {
        let direct = Reply::read(
            client
                .post(url(&base, "/api/auth/login"))
                .header("content-type", "application/json")
                .body("{not json")
                .send()
                .await?,
        )
        .await?;
        direct.assert_error(400, "INVALID_BODY");
    }
    Ok(())
}

#[tokio::test]
async fn the_otp_never_appears_in_any_log_line_or_api_response() -> anyhow::Result<()> {
    let client = client();
    let base = nginx_url();
    let email = unique_email("secret");
    let reg = post_json(
        &client,
        &url(&base, "/api/auth/register"),
        &json!({"email": email, "password": PASSWORD, "name": "Di"}),
    )
    .await?;
    assert!(!reg.text.is_empty());
    let code = wait_for_code(&email, 0).await?;
    let verify = post_json(
        &client,
        &url(&base, "/api/auth/verify-otp"),
        &json!({"email": email, "registration_token": reg.json["data"]["registration_token"], "otp": code}),
    )
    .await?;
    assert_eq!(verify.status, 200);
    for reply in [&reg, &verify] {
        assert!(!reply.text.contains(&code));
    }
    // Give the consumer a moment to have logged whatever it logs about this mail, and
    // nginx the time to write its buffered access log (`flush=1s`).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let dir = std::env::var("SHOP_LOG_DIR")?;
    let pattern = regex::Regex::new(&format!(r"(^|[^0-9.]){code}([^0-9]|$)"))?;
    let mut files = 0;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        // NAME.log and its rotated copy NAME.log.1 (scripts/lib.sh, rotate_logs).
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(".log") || name.ends_with(".log.1") {
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                !pattern.is_match(&text),
                "the code appears in {}",
                path.display()
            );
        }
    }
    assert!(files >= 6, "expected the stack's logs in {dir}");
    assert_eq!(mail_count(&email, "Your verification code").await?, 1);
    Ok(())
}
