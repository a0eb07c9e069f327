//! The foundation, end to end: balancing over four instances, readiness, the one
//! error shape (through nginx and directly), request ids, CORS and the docs.

use std::collections::HashSet;

use e2e::{Reply, client, get, instance_urls, nginx_url, preflight_post};

fn every_entry_point() -> Vec<String> {
    let mut urls = vec![nginx_url()];
    urls.extend(instance_urls());
    urls
}

#[tokio::test]
async fn forty_requests_through_nginx_are_answered_by_all_four_instances() -> anyhow::Result<()> {
    let mut seen = HashSet::new();
    for _ in 0..40 {
        let reply = get(&format!("{}/stats/instance", nginx_url())).await?;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.json["success"], true);
        let id = reply.json["data"]["instance_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        seen.insert(id);
    }
    let expected: HashSet<String> = instance_urls()
        .iter()
        .map(|u| format!("api-{}", u.rsplit(':').next().unwrap_or_default()))
        .collect();
    assert_eq!(seen, expected);
    Ok(())
}

#[tokio::test]
async fn readiness_is_200_on_every_instance_with_every_dependency_up() -> anyhow::Result<()> {
    for base in every_entry_point() {
        let reply = get(&format!("{base}/health/ready")).await?;
        assert_eq!(reply.status, 200, "{base}: {}", reply.text);
        let checks = &reply.json["data"]["checks"];
        for dep in ["postgres", "redis", "kafka"] {
            assert_eq!(checks[dep], "ok", "{base} {dep}");
        }
        let live = get(&format!("{base}/health/live")).await?;
        assert_eq!(live.status, 200);
    }
    Ok(())
}

#[tokio::test]
async fn an_unknown_path_is_404_in_the_error_shape_everywhere() -> anyhow::Result<()> {
    for base in every_entry_point() {
        get(&format!("{base}/api/no-such-thing"))
            .await?
            .assert_error(404, "NOT_FOUND");
    }
    // Paths nginx does not route at all get the same shape from nginx itself.
    get(&format!("{}/wp-admin", nginx_url()))
        .await?
        .assert_error(404, "NOT_FOUND");
    Ok(())
}

#[tokio::test]
async fn a_wrong_method_is_405_in_the_error_shape_everywhere() -> anyhow::Result<()> {
    for base in every_entry_point() {
        let resp = client()
            .delete(format!("{base}/health/ready"))
            .send()
            .await?;
        Reply::read(resp)
            .await?
            .assert_error(405, "METHOD_NOT_ALLOWED");
    }
    Ok(())
}

/// Sends only the head of a request announcing a 27 MB body, as a client that waits
/// for the verdict would, and reads the answer. (A client that pushes the whole body
/// gets its connection closed mid-upload once the server has answered.)
async fn announce_oversized_body(base: &str) -> anyhow::Result<Reply> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{{\"email\":",
        27 * 1024 * 1024
    );
    stream.write_all(head.as_bytes()).await?;
    let mut raw = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut raw),
    )
    .await;
    anyhow::ensure!(read.is_ok() || !raw.is_empty(), "no answer from {base}");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    let mut headers = reqwest::header::HeaderMap::new();
    for line in text.split("\r\n").skip(1).take_while(|l| !l.is_empty()) {
        if let Some((k, v)) = line.split_once(':')
            && let (Ok(k), Ok(v)) = (
                reqwest::header::HeaderName::from_bytes(k.trim().as_bytes()),
                v.trim().parse(),
            )
        {
            headers.insert(k, v);
        }
    }
    Ok(Reply {
        status,
        headers,
        json: serde_json::from_str(&body).unwrap_or_default(),
        text: body,
    })
}

#[tokio::test]
async fn an_oversized_body_is_413_in_the_error_shape_everywhere() -> anyhow::Result<()> {
    for base in every_entry_point() {
        let reply = announce_oversized_body(&base).await?;
        reply.assert_error(413, "PAYLOAD_TOO_LARGE");
        assert!(reply.header("x-request-id").is_some(), "{base}");
    }
    Ok(())
}

#[tokio::test]
async fn metrics_are_served_per_instance_but_not_through_nginx() -> anyhow::Result<()> {
    for base in instance_urls() {
        let reply = get(&format!("{base}/metrics")).await?;
        assert_eq!(reply.status, 200);
        assert!(
            reply.text.contains("shop_http_requests_total"),
            "{}",
            reply.text
        );
    }
    get(&format!("{}/metrics", nginx_url()))
        .await?
        .assert_error(404, "NOT_FOUND");
    Ok(())
}

#[tokio::test]
async fn the_request_id_from_the_client_is_echoed_and_one_is_made_otherwise() -> anyhow::Result<()>
{
    for base in every_entry_point() {
        let resp = client()
            .get(format!("{base}/health/live"))
            .header("x-request-id", "e2e-trace-42")
            .send()
            .await?;
        let reply = Reply::read(resp).await?;
        assert_eq!(reply.header("x-request-id"), Some("e2e-trace-42"));
        let made = get(&format!("{base}/no/such/path")).await?;
        assert!(
            made.header("x-request-id").is_some_and(|id| id.len() >= 16),
            "{base}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn responses_carry_security_headers() -> anyhow::Result<()> {
    let reply = get(&format!("{}/health/live", nginx_url())).await?;
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    assert!(reply.header("content-security-policy").is_some());
    assert!(
        reply.header("server").is_none_or(|s| !s.contains('/')),
        "no version in Server"
    );
    Ok(())
}

#[tokio::test]
async fn a_preflight_from_the_configured_origin_passes_and_others_do_not() -> anyhow::Result<()> {
    let ok = preflight_post("/api/auth/login", "http://localhost:3000").await?;
    assert!(ok.status < 300, "{}", ok.status);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));
    let allowed = ok
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");

    let evil = preflight_post("/api/auth/login", "http://evil.example").await?;
    assert!(evil.header("access-control-allow-origin").is_none());
    assert!(evil.status >= 400, "{}", evil.status);
    Ok(())
}

#[tokio::test]
async fn the_docs_and_the_spec_are_served_through_nginx() -> anyhow::Result<()> {
    let ui = get(&format!("{}/docs/", nginx_url())).await?;
    assert_eq!(ui.status, 200);
    assert!(ui.text.to_lowercase().contains("swagger"), "{}", ui.text);
    let init = get(&format!("{}/docs/swagger-initializer.js", nginx_url())).await?;
    assert!(init.text.contains("/openapi.json"), "{}", init.text);
    let spec = get(&format!("{}/openapi.json", nginx_url())).await?;
    assert_eq!(spec.status, 200);
    assert!(
        spec.json["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    assert!(spec.json["paths"]["/health/ready"].is_object());
    Ok(())
}
