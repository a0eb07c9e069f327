//! Registration, verification, login, refresh and logout, in-process.

use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn register_verify_with_the_sealed_code_then_login_and_me() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let email = "ada@example.com";
    let tokens = app.register_verified(email, "a long password").await?;
    assert!(
        tokens["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    // The OTP travelled sealed: the plain code never appears in the outbox.
    let code = app.otp_for(email, 0).await?;
    let leaked = app
        .scalar(&format!(
            "SELECT count(*) FROM outbox WHERE payload::text LIKE '%\"{code}\"%'
                OR payload->'payload'->>'sealed_code' = '{code}'"
        ))
        .await?;
    assert_eq!(leaked, 0, "the code is in the outbox in plain text");
    let login = app
        .post(
            "/api/auth/login",
            &json!({"email": email, "password": "a long password"}),
            None,
        )
        .await?;
    assert_eq!(login.status, 200, "{}", login.text);
    let token = login.json["data"]["access_token"]
        .as_str()
        .unwrap_or_default();
    let me = app.get("/api/auth/me", Some(token)).await?;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json["data"]["email"], email);
    let wrong = app
        .post(
            "/api/auth/login",
            &json!({"email": email, "password": "not the password"}),
            None,
        )
        .await?;
    wrong.assert_error(401, "INVALID_CREDENTIALS");
    app.stop().await
}

#[tokio::test]
async fn a_wrong_code_is_refused_and_the_right_one_still_works() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let email = "grace@example.com";
    let reply = app
        .post(
            "/api/auth/register",
            &json!({"email": email, "password": "a long password", "name": "Grace"}),
            None,
        )
        .await?;
    assert_eq!(reply.status, 202, "{}", reply.text);
    let token = reply.json["data"]["registration_token"].clone();
    let code = app.otp_for(email, 0).await?;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = app
        .post(
            "/api/auth/verify-otp",
            &json!({"email": email, "registration_token": token, "otp": wrong}),
            None,
        )
        .await?;
    refused.assert_error(401, "OTP_INVALID");
    let accepted = app
        .post(
            "/api/auth/verify-otp",
            &json!({"email": email, "registration_token": token, "otp": code}),
            None,
        )
        .await?;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    Ok(())
}

#[tokio::test]
async fn the_same_refresh_token_spent_twice_at_once_yields_one_new_session() -> anyhow::Result<()> {
    let app = TestApp::spawn_with(&[("REFRESH_REUSE_GRACE_SECONDS", "0")]).await;
    let tokens = app
        .register_verified("rt@example.com", "a long password")
        .await?;
    let refresh = tokens["refresh_token"].as_str().unwrap_or_default();
    let body = json!({ "refresh_token": refresh });
    let (a, b) = tokio::join!(
        app.post("/api/auth/refresh", &body, None),
        app.post("/api/auth/refresh", &body, None)
    );
    let statuses = [a?.status, b?.status];
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "exactly one rotation wins: {statuses:?}"
    );
    assert!(statuses.contains(&401), "{statuses:?}");
    Ok(())
}

#[tokio::test]
async fn logout_revokes_the_access_token_at_once() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let tokens = app
        .register_verified("bye@example.com", "a long password")
        .await?;
    let access = tokens["access_token"].as_str().unwrap_or_default();
    let refresh = tokens["refresh_token"].as_str().unwrap_or_default();
    assert_eq!(app.get("/api/auth/me", Some(access)).await?.status, 200);
    let out = app
        .post(
            "/api/auth/logout",
            &json!({"refresh_token": refresh}),
            Some(access),
        )
        .await?;
    assert!(out.status < 300, "{}", out.text);
    app.get("/api/auth/me", Some(access))
        .await?
        .assert_error(401, "UNAUTHORIZED");
    Ok(())
}
