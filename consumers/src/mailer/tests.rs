use super::*;

fn smtp() -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port: 1025,
        tls: SmtpTls::None,
        username: Some("mailer".into()),
        password: Some("hunter2-secret".into()),
        from: "Shop <no-reply@shop.local>".into(),
        max_connections: 3,
    }
}

#[test]
fn the_debug_of_the_smtp_settings_never_shows_the_password() {
    let shown = format!("{:?}", smtp());
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(shown.contains("mailer"), "{shown}");
}

#[tokio::test]
async fn a_mail_is_multipart_alternative_with_a_stable_message_id() {
    let mailer = Mailer::new(&smtp()).map_err(|e| e.to_string());
    let mail = Email {
        subject: "Your Shop order #1042 is confirmed".into(),
        text: "plain words".into(),
        html: "<p>html words</p>".into(),
    };
    let event = Uuid::nil();
    let built = mailer.and_then(|m| {
        m.message(
            event,
            "order",
            &[("a@example.com".into(), String::new())],
            &mail,
        )
        .map_err(|e| e.to_string())
    });
    let raw = built
        .map(|m| String::from_utf8_lossy(&m.formatted()).into_owned())
        .unwrap_or_default();
    assert!(
        raw.contains(&format!("Message-ID: <{event}.order@shop>")),
        "{raw}"
    );
    assert!(raw.contains("Content-Type: multipart/alternative"), "{raw}");
    assert!(
        raw.contains("Content-Type: text/plain; charset=utf-8"),
        "{raw}"
    );
    assert!(
        raw.contains("Content-Type: text/html; charset=utf-8"),
        "{raw}"
    );
    assert!(
        raw.find("text/plain") < raw.find("text/html"),
        "the plain part comes first: {raw}"
    );
    assert!(
        raw.contains("plain words") && raw.contains("html words"),
        "{raw}"
    );
    assert!(
        raw.contains("Subject: Your Shop order #1042 is confirmed"),
        "{raw}"
    );
}

#[tokio::test]
async fn the_mailer_allows_as_many_sends_at_once_as_connections() {
    let mailer = Mailer::new(&smtp()).map_err(|e| e.to_string());
    assert_eq!(mailer.map(|m| m.sends.available_permits()).ok(), Some(3));
}

#[test]
fn mail_settings_refuse_a_multi_line_name_and_a_link_that_is_not_http() {
    assert!(MailSettings::new("Tea\r\nBcc: x@example.com", "https://shop.example/orders").is_err());
    assert!(MailSettings::new("", "https://shop.example/orders").is_err());
    assert!(MailSettings::new("Shop", "javascript:alert(1)").is_err());
    assert!(MailSettings::new("Shop", "https://shop.example/\"onclick=x").is_err());
    assert!(MailSettings::new("Shop", "https://").is_err());
    assert_eq!(
        MailSettings::new(" Tea & Co ", "HTTPS://shop.example/orders/").ok(),
        Some(MailSettings {
            shop_name: "Tea & Co".into(),
            orders_url: "HTTPS://shop.example/orders".into(),
        })
    );
    assert_eq!(
        MailSettings::new("Shop", "http://localhost:3000/orders").ok(),
        Some(MailSettings::default())
    );
}
