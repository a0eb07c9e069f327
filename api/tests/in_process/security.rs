//! The edges every request crosses: CORS, body limits, malformed input, tokens.

use crate::support::TestApp;

#[tokio::test]
async fn a_preflight_from_the_frontend_is_allowed_and_from_elsewhere_is_not() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let preflight = |origin: &'static str| {
        app.send(
            app.http
                .request(reqwest::Method::OPTIONS, app.url("/api/orders"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization,content-type",
                ),
        )
    };
    let allowed = preflight("http://localhost:3000").await?;
    assert!(allowed.status < 300, "{}", allowed.text);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    let refused = preflight("https://evil.example").await?;
    assert_eq!(refused.header("access-control-allow-origin"), None);
    Ok(())
}

#[tokio::test]
async fn a_json_body_past_the_limit_is_413_and_malformed_json_is_400() -> anyhow::Result<()> {
    let app = TestApp::spawn_with(&[("MAX_JSON_BODY_BYTES", "1024")]).await;
    let big = format!(r#"{{"email":"a@b.c","password":"{}"}}"#, "x".repeat(2048));
    app.send(
        app.http
            .post(app.url("/api/auth/login"))
            .header("content-type", "application/json")
            .body(big),
    )
    .await?
    .assert_error(413, "PAYLOAD_TOO_LARGE");
    let reply = app
        .send(
            app.http
                .post(app.url("/api/auth/login"))
                .header("content-type", "application/json")
                .body("{\"email\":"),
        )
        .await?;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.json["success"], false, "{}", reply.text);
    Ok(())
}

#[tokio::test]
async fn a_token_signed_with_another_key_or_garbage_is_401() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let token = app.customer().await?;
    assert_eq!(app.get("/api/auth/me", Some(&token)).await?.status, 200);
    // The same claims of a user who exists here, signed with another key.
    use jsonwebtoken::{EncodingKey, Header, decode_header};
    let claims: serde_json::Value = {
        let payload = token.split('.').nth(1).unwrap_or_default();
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?;
        serde_json::from_slice(&bytes)?
    };
    let header = Header::new(decode_header(&token)?.alg);
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(b"another key, at least thirty-two bytes long"),
    )?;
    assert_ne!(forged, token);
    app.get("/api/auth/me", Some(&forged))
        .await?
        .assert_error(401, "UNAUTHORIZED");
    app.get("/api/auth/me", Some("not.a.token"))
        .await?
        .assert_error(401, "UNAUTHORIZED");
    Ok(())
}
