use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use uuid::Uuid;

use shop_common::events::ReturnedItem;

use super::*;

const HOSTILE: &str = "<script>alert(1)</script> & \"Tea\"";

fn shop() -> MailSettings {
    MailSettings::new("Tea & Co", "https://shop.example/orders/")
        .unwrap_or_else(|e| panic!("test settings: {e}"))
}

fn item(n: u128, name: &str, quantity: i32, cents: i64, stock: i32) -> OrderPlacedItem {
    OrderPlacedItem {
        product_id: Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 + n),
        name: name.to_owned(),
        quantity,
        unit_price_cents: cents,
        stock_after: stock,
        low_stock_threshold: 5,
    }
}

fn order(number: Option<i64>) -> OrderPlaced {
    let items = vec![
        item(1, "Journey tea", 3, 450, 17),
        item(2, HOSTILE, 1, 1299, 4),
        item(3, "Line\r\nBcc: victim@example.com 'jam'", 2, 100, 0),
    ];
    OrderPlaced {
        order_id: Uuid::from_u128(0x0193_8a4e_2b1c_7d3e_9f00_1234_5678_9abc),
        order_number: number,
        user_id: Uuid::from_u128(7),
        user_email: "buyer@example.com".into(),
        total_cents: items
            .iter()
            .map(|i| i.unit_price_cents * i64::from(i.quantity))
            .sum(),
        items,
        currency: "USD".into(),
        created_at: Utc
            .with_ymd_and_hms(2026, 12, 2, 10, 30, 0)
            .single()
            .unwrap_or_default(),
    }
}

/// Order #1042 of [`order`], cancelled from `from_status` by `actor`.
fn cancelled(from_status: &str, actor: &str, reason: Option<&str>) -> OrderCancelled {
    let placed = order(Some(1042));
    OrderCancelled {
        order_id: placed.order_id,
        order_number: 1042,
        user_id: placed.user_id,
        user_email: placed.user_email,
        from_status: from_status.into(),
        actor: actor.into(),
        reason: reason.map(str::to_owned),
        items: placed
            .items
            .iter()
            .map(|i| ReturnedItem {
                product_id: i.product_id,
                name: i.name.clone(),
                quantity: i.quantity,
            })
            .collect(),
        total_cents: placed.total_cents,
        currency: placed.currency,
        cancelled_at: Utc
            .with_ymd_and_hms(2026, 12, 3, 9, 15, 0)
            .single()
            .unwrap_or_default(),
    }
}

/// Order #1042 of [`order`] moved from `from` to `to` by `actor`.
fn changed(from: &str, to: &str, actor: &str, reason: Option<&str>) -> OrderStatusChanged {
    let placed = order(Some(1042));
    OrderStatusChanged {
        order_id: placed.order_id,
        order_number: 1042,
        user_id: placed.user_id,
        user_email: placed.user_email,
        from_status: from.into(),
        to_status: to.into(),
        actor: actor.into(),
        reason: reason.map(str::to_owned),
        total_cents: placed.total_cents,
        currency: placed.currency,
        changed_at: Utc
            .with_ymd_and_hms(2026, 12, 4, 16, 45, 0)
            .single()
            .unwrap_or_default(),
    }
}

/// The mail of `change`, through the template choice the email consumer makes.
fn status_mail(change: &OrderStatusChanged) -> Email {
    let status = StatusMail::for_status(&change.to_status)
        .unwrap_or_else(|| panic!("no mail for {}", change.to_status));
    order_status_changed(&shop(), status, change)
}

fn low_stock() -> Email {
    let order = order(Some(1042));
    let low: Vec<&OrderPlacedItem> = order.items.iter().skip(1).collect();
    low_stock_alert(&shop(), &order, &low)
}

/// Every template with the fixed inputs, by golden-file stem.
fn rendered() -> Vec<(&'static str, Email)> {
    vec![
        (
            "otp_verify",
            otp_code(&shop(), OtpPurpose::Verify, "123456", 10),
        ),
        (
            "otp_reset",
            otp_code(&shop(), OtpPurpose::Reset, "654321", 10),
        ),
        ("welcome", welcome(&shop())),
        (
            "order_confirmation",
            order_confirmation(&shop(), &order(Some(1042))),
        ),
        ("low_stock", low_stock()),
        (
            "order_cancelled_paid",
            order_cancelled(&shop(), &cancelled("paid", "admin", Some(HOSTILE))),
        ),
        (
            "order_cancelled_expired",
            order_cancelled(
                &shop(),
                &cancelled("pending", "system", Some("payment not received in time")),
            ),
        ),
        (
            "order_paid",
            status_mail(&changed("pending", "paid", "provider", Some("pi_123"))),
        ),
        (
            "order_shipped",
            status_mail(&changed(
                "paid",
                "shipped",
                "admin",
                Some("1Z999AA1 <b>x</b>\r\nBcc: victim@example.com"),
            )),
        ),
        (
            "order_delivered",
            status_mail(&changed(
                "shipped",
                "delivered",
                "admin",
                Some("left at door"),
            )),
        ),
        (
            "order_refunded",
            status_mail(&changed("cancelled", "refunded", "admin", Some(HOSTILE))),
        ),
    ]
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Compares `actual` with the golden file `name`, or rewrites it with
/// `UPDATE_GOLDEN=1`.
fn golden(name: &str, actual: &str) -> Option<String> {
    let path = golden_dir().join(name);
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(golden_dir())
            .and_then(|()| std::fs::write(&path, actual))
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return None;
    }
    match std::fs::read_to_string(&path) {
        Ok(expected) if expected == actual => None,
        Ok(_) => Some(format!("{name} differs from {}:\n{actual}", path.display())),
        Err(e) => Some(format!("{}: {e}", path.display())),
    }
}

#[test]
fn every_template_renders_its_golden_files() {
    let mut failures = Vec::new();
    let mut subjects = String::new();
    for (stem, email) in rendered() {
        subjects.push_str(&format!("{stem}: {}\n", email.subject));
        failures.extend(golden(&format!("{stem}.txt"), &email.text));
        failures.extend(golden(&format!("{stem}.html"), &email.html));
    }
    failures.extend(golden("subjects.txt", &subjects));
    assert!(
        failures.is_empty(),
        "{}\n\nIf the change is intended: UPDATE_GOLDEN=1 cargo test --release -p consumers --lib templates",
        failures.join("\n\n")
    );
}

#[test]
fn no_html_part_carries_a_typed_tag_or_an_unescaped_quote() {
    for (stem, email) in rendered() {
        let html = email.html.to_lowercase();
        assert!(!html.contains("<script"), "{stem}: {}", email.html);
        assert!(!html.contains("alert(1)</"), "{stem}: {}", email.html);
        assert!(!html.contains("\"tea\""), "{stem}: {}", email.html);
        assert!(!email.subject.contains(['\r', '\n']), "{stem}");
    }
    let confirmation = order_confirmation(&shop(), &order(Some(1042)));
    assert!(
        confirmation
            .html
            .contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Tea&quot;"),
        "{}",
        confirmation.html
    );
    assert!(confirmation.html.contains("Tea &amp; Co"));
}

#[test]
fn the_confirmation_names_the_order_by_number_and_keeps_the_uuid_as_reference() {
    let order = order(Some(1042));
    let mail = order_confirmation(&shop(), &order);
    assert_eq!(mail.subject, "Your Tea & Co order #1042 is confirmed");
    assert!(!mail.subject.contains(&order.order_id.to_string()));
    for part in [&mail.text, &mail.html] {
        assert!(part.contains("Order #1042"), "{part}");
        assert!(part.contains(&order.order_id.to_string()), "{part}");
        assert!(
            part.contains(&format!("https://shop.example/orders/{}", order.order_id)),
            "{part}"
        );
        assert!(part.contains("28.49 USD"), "{part}");
    }
    assert!(
        mail.text
            .contains("  3 x Journey tea, 4.50 USD each: 13.50 USD\n")
    );
    assert!(mail.text.contains("\nTotal: 28.49 USD\n"));
    // A typed line break cannot start a line of its own in the text.
    assert!(!mail.text.contains("\nBcc:"), "{}", mail.text);
}

#[test]
fn an_event_from_before_order_numbers_is_confirmed_by_its_reference() {
    let order = order(None);
    let mail = order_confirmation(&shop(), &order);
    assert_eq!(mail.subject, "Your Tea & Co order is confirmed");
    assert!(!mail.text.contains('#'), "{}", mail.text);
    assert!(
        mail.text
            .contains(&format!("Reference: {}", order.order_id))
    );
}

#[test]
fn account_mails_keep_their_subjects_and_the_code() {
    let verify = otp_code(&shop(), OtpPurpose::Verify, "123456", 10);
    assert_eq!(verify.subject, "Your verification code");
    assert!(verify.text.contains("Your verification code is 123456."));
    assert!(verify.html.contains(">123456</p>"));
    let reset = otp_code(&shop(), OtpPurpose::Reset, "654321", 5);
    assert_eq!(reset.subject, "Your password reset code");
    assert!(reset.text.contains("Your password reset code is 654321."));
    assert!(reset.text.contains("valid for 5 minutes"));
    assert_eq!(welcome(&shop()).subject, "Welcome to the shop");
    // The code never shows in logs through `Debug`.
    assert!(!format!("{verify:?}").contains("123456"));
}

#[test]
fn the_low_stock_subject_is_one_short_line() {
    let mail = low_stock();
    assert_eq!(
        mail.subject,
        "[Tea & Co] Low stock alert: <script>alert(1)</script> & \"Tea\" and 1 more"
    );
    let order = order(Some(7));
    let long = item(9, &"x".repeat(200), 1, 1, 0);
    let one = low_stock_alert(&shop(), &order, &[&long]);
    assert_eq!(
        one.subject.chars().count(),
        "[Tea & Co] Low stock alert: ".len() + 60
    );
    assert!(one.subject.ends_with('…'));
    let broken = item(9, "Jam\r\nBcc: x@example.com", 1, 1, 0);
    let mail = low_stock_alert(&shop(), &order, &[&broken]);
    assert_eq!(
        mail.subject,
        "[Tea & Co] Low stock alert: Jam  Bcc: x@example.com"
    );
}

#[test]
fn escaping_covers_the_five_characters() {
    assert_eq!(
        escape_html(r#"<a href="x" title='y'>&</a>"#),
        "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
    );
    assert_eq!(one_line(" a\r\nb\tc "), "a  b c");
}

#[test]
fn each_status_with_a_mail_chooses_its_own_template_and_kind() {
    let expected = [
        ("paid", StatusMail::Paid, "order-paid", "is paid"),
        (
            "shipped",
            StatusMail::Shipped,
            "order-shipped",
            "is on its way",
        ),
        (
            "delivered",
            StatusMail::Delivered,
            "order-delivered",
            "was delivered",
        ),
        (
            "refunded",
            StatusMail::Refunded,
            "order-refunded",
            "was refunded",
        ),
    ];
    for (to, status, kind, said) in expected {
        assert_eq!(StatusMail::for_status(to), Some(status), "{to}");
        assert_eq!(status.kind(), kind);
        let mail = order_status_changed(&shop(), status, &changed("x", to, "admin", None));
        assert_eq!(mail.subject, format!("Your Tea & Co order #1042 {said}"));
    }
    for to in ["pending", "cancelled", "completed", "PAID", "", "paid "] {
        assert_eq!(StatusMail::for_status(to), None, "{to:?} has no mail");
    }
}

#[test]
fn every_order_lifecycle_mail_names_the_order_links_it_and_shows_the_total() {
    let mails = [
        order_cancelled(&shop(), &cancelled("paid", "customer", None)),
        status_mail(&changed("pending", "paid", "provider", None)),
        status_mail(&changed("paid", "shipped", "admin", None)),
        status_mail(&changed("shipped", "delivered", "admin", None)),
        status_mail(&changed("cancelled", "refunded", "admin", None)),
    ];
    let id = order(Some(1042)).order_id;
    for mail in mails {
        assert!(mail.subject.contains("#1042"), "{}", mail.subject);
        assert!(!mail.subject.contains(&id.to_string()));
        for part in [&mail.text, &mail.html] {
            assert!(part.contains("#1042"), "{part}");
            assert!(part.contains(&format!("Reference: {id}")), "{part}");
            assert!(
                part.contains(&format!("https://shop.example/orders/{id}")),
                "{part}"
            );
            assert!(part.contains("28.49 USD"), "{part}");
        }
        assert!(mail.text.ends_with("-- \nTea & Co\n"), "{}", mail.text);
    }
}

#[test]
fn a_cancellation_says_why_lists_the_items_and_promises_a_refund_only_when_paid() {
    let expired = order_cancelled(
        &shop(),
        &cancelled("pending", "system", Some("payment not received in time")),
    );
    assert_eq!(expired.subject, "Your Tea & Co order #1042 was cancelled");
    for part in [&expired.text, &expired.html] {
        assert!(
            part.contains("We cancelled it because its payment did not arrive in time."),
            "{part}"
        );
        assert!(!part.contains("refund"), "{part}");
        assert!(!part.contains("Reason:"), "{part}");
        assert!(part.contains("Journey tea"), "{part}");
    }
    assert!(
        expired.text.contains("  3 x Journey tea\n"),
        "{}",
        expired.text
    );
    assert!(
        expired
            .text
            .contains("  2 x Line  Bcc: victim@example.com 'jam'\n")
    );

    let by_admin = order_cancelled(&shop(), &cancelled("paid", "admin", Some("Out of\nstock")));
    assert!(
        by_admin
            .text
            .contains("We cancelled it.\nReason: Out of stock\n")
    );
    assert!(by_admin.html.contains("Reason: Out of stock</p>"));
    for part in [&by_admin.text, &by_admin.html] {
        assert!(part.contains("a refund of 28.49 USD will follow"), "{part}");
    }

    let hostile = order_cancelled(&shop(), &cancelled("paid", "admin", Some(HOSTILE)));
    assert!(
        hostile
            .html
            .contains("Reason: &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Tea&quot;</p>"),
        "{}",
        hostile.html
    );

    let by_buyer = order_cancelled(&shop(), &cancelled("pending", "customer", Some("  ")));
    assert!(
        by_buyer.text.contains("You cancelled it.\n"),
        "{}",
        by_buyer.text
    );
    assert!(
        !by_buyer.text.contains("Reason:"),
        "a blank reason is no reason"
    );
    assert!(!by_buyer.text.contains("refund"));
}

#[test]
fn only_the_shipment_echoes_its_reason_as_the_tracking_reference() {
    let shipped = status_mail(&changed("paid", "shipped", "admin", Some("1Z999AA1")));
    assert!(shipped.text.contains("Tracking reference: 1Z999AA1\n"));
    assert!(shipped.html.contains(">1Z999AA1</span>"));
    let untracked = status_mail(&changed("paid", "shipped", "admin", None));
    assert!(!untracked.text.contains("Tracking"), "{}", untracked.text);
    for to in ["paid", "delivered", "refunded"] {
        let mail = status_mail(&changed("x", to, "admin", Some("internal note 42")));
        assert!(!mail.text.contains("internal note"), "{to}: {}", mail.text);
        assert!(!mail.html.contains("internal note"), "{to}");
    }
    let refunded = status_mail(&changed("cancelled", "refunded", "admin", None));
    assert!(
        refunded
            .text
            .contains("We have issued a refund of 28.49 USD for order #1042.")
    );
    let paid = status_mail(&changed("pending", "paid", "provider", None));
    assert!(
        paid.text
            .contains("We have received your payment of 28.49 USD for order #1042.")
    );
    // A typed line break cannot start a line of its own in the text.
    let hostile = status_mail(&changed(
        "paid",
        "shipped",
        "admin",
        Some("X\r\nBcc: victim@example.com"),
    ));
    assert!(!hostile.text.contains("\nBcc:"), "{}", hostile.text);
}
