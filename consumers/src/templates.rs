//! The e-mails of the shop: pure functions from what an event says (and the shop's
//! [`MailSettings`]) to an [`Email`]: a subject, a plain-text body and an HTML body,
//! sent together as `multipart/alternative`.
//!
//! Rules every template keeps:
//! - text that users or admins typed (product names) is HTML-escaped in the HTML part
//!   ([`escape_html`]) and reduced to one line ([`one_line`]) wherever it lands, so it
//!   can neither inject markup nor headers; subjects are one line as well;
//! - account mails (codes, welcome) take no display name at all: they go to an address
//!   a stranger may have typed and must carry none of the stranger's text;
//! - the order confirmation names the order by its short number ("Order #1042") and
//!   keeps the UUID in the body as the reference.
//!
//! The rendered output is pinned by the golden files in `consumers/tests/golden/`
//! (`UPDATE_GOLDEN=1 cargo test --release -p consumers --lib templates` rewrites them).

use shop_common::{
    events::{OrderPlaced, OrderPlacedItem},
    money::format_cents,
};

use crate::mailer::MailSettings;

/// One rendered e-mail. Its `Debug` shows only the subject and the body sizes (an OTP
/// mail's body holds the code).
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    /// The `Subject:` header: one line.
    pub subject: String,
    /// The text/plain alternative.
    pub text: String,
    /// The text/html alternative.
    pub html: String,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("subject", &self.subject)
            .field("text_bytes", &self.text.len())
            .field("html_bytes", &self.html.len())
            .finish()
    }
}

/// What a one-time code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpPurpose {
    /// Verifying a registration.
    Verify,
    /// Resetting a password.
    Reset,
}

/// `&`, `<`, `>`, `"` and `'` as HTML entities: safe in text and in quoted attributes.
pub fn escape_html(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `raw` on one line: every control character (CR, LF, tab…) becomes a space, and the
/// ends are trimmed. For subjects, and for typed text inside the plain-text bodies.
pub fn one_line(raw: &str) -> String {
    raw.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// `raw` on one line and at most `max` characters (an ellipsis marks a cut).
fn short(raw: &str, max: usize) -> String {
    let line = one_line(raw);
    if line.chars().count() <= max {
        return line;
    }
    let mut cut: String = line.chars().take(max.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// Amount and currency, e.g. `13.50 USD`.
fn money(cents: i64, currency: &str) -> String {
    format!("{} {}", format_cents(cents), one_line(currency))
}

/// The page of order `order` on the shop's site.
pub fn order_url(shop: &MailSettings, order: uuid::Uuid) -> String {
    format!("{}/{order}", shop.orders_url)
}

/// The plain-text signature.
fn signature(shop: &MailSettings) -> String {
    format!("-- \n{}\n", one_line(&shop.shop_name))
}

/// The HTML frame around `body` (already HTML): the shop's name on top, `footer`
/// (plain text) below.
fn layout(shop: &MailSettings, title: &str, body: &str, footer: &str) -> String {
    let shop_name = escape_html(&shop.shop_name);
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
</head>
<body style="margin:0;padding:0;background:#f4f4f5;font-family:Arial,Helvetica,sans-serif;color:#18181b;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f4f5;">
<tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" style="max-width:600px;width:100%;background:#ffffff;border:1px solid #e4e4e7;">
<tr><td style="padding:20px 24px;border-bottom:1px solid #e4e4e7;font-size:20px;font-weight:bold;">{shop_name}</td></tr>
<tr><td style="padding:24px;font-size:15px;line-height:1.5;">
{body}</td></tr>
<tr><td style="padding:16px 24px;border-top:1px solid #e4e4e7;font-size:12px;color:#71717a;">{footer}</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
"#,
        title = escape_html(title),
        footer = escape_html(footer),
    )
}

/// The mail with a one-time code. It names no one: see the module's rules.
pub fn otp_code(
    shop: &MailSettings,
    purpose: OtpPurpose,
    code: &str,
    expires_in_minutes: u32,
) -> Email {
    let (subject, what, ignore) = match purpose {
        OtpPurpose::Verify => (
            "Your verification code",
            "verification code",
            "If you did not ask for it, ignore this e-mail.",
        ),
        OtpPurpose::Reset => (
            "Your password reset code",
            "password reset code",
            "If you did not ask for it, ignore this e-mail: your password stays as it is.",
        ),
    };
    let code = one_line(code);
    let text = format!(
        "Hello,\n\nYour {what} is {code}.\n\n\
         It is valid for {expires_in_minutes} minutes and can be used once.\n\
         {ignore}\n\n{}",
        signature(shop)
    );
    let body = format!(
        "<p style=\"margin:0 0 16px;\">Hello,</p>\n\
         <p style=\"margin:0 0 8px;\">Your {what} is:</p>\n\
         <p style=\"margin:0 0 16px;font-family:'Courier New',Courier,monospace;font-size:28px;font-weight:bold;letter-spacing:6px;\">{code}</p>\n\
         <p style=\"margin:0 0 16px;\">It is valid for {expires_in_minutes} minutes and can be used once.</p>\n\
         <p style=\"margin:0;\">{ignore}</p>\n",
        code = escape_html(&code),
        ignore = escape_html(ignore),
    );
    let footer = format!(
        "{}: you get this e-mail because someone asked for a code for this address.",
        one_line(&shop.shop_name)
    );
    Email {
        subject: subject.to_owned(),
        html: layout(shop, subject, &body, &footer),
        text,
    }
}

/// The mail welcoming a verified account. It names no one: see the module's rules.
pub fn welcome(shop: &MailSettings) -> Email {
    let subject = "Welcome to the shop";
    let name = one_line(&shop.shop_name);
    let text = format!(
        "Hello,\n\nYour e-mail is verified: welcome to {name}.\n\n\
         You can now sign in and place orders. Your orders will be listed at\n{}\n\n{}",
        shop.orders_url,
        signature(shop)
    );
    let body = format!(
        "<p style=\"margin:0 0 16px;\">Hello,</p>\n\
         <p style=\"margin:0 0 16px;\">Your e-mail is verified: welcome to {name}.</p>\n\
         <p style=\"margin:0;\">You can now sign in and place orders. Your orders will be listed on <a href=\"{url}\" style=\"color:#2563eb;\">your orders page</a>.</p>\n",
        name = escape_html(&name),
        url = escape_html(&shop.orders_url),
    );
    let footer = format!("{name}: you get this e-mail because this address was verified.");
    Email {
        subject: subject.to_owned(),
        html: layout(shop, subject, &body, &footer),
        text,
    }
}

/// The confirmation of a placed order: its number ("Order #1042", or the bare
/// reference for events written before numbers existed), the lines, the total, and
/// the link to the order's page.
pub fn order_confirmation(shop: &MailSettings, order: &OrderPlaced) -> Email {
    let name = one_line(&shop.shop_name);
    let (subject, heading) = match order.order_number {
        Some(n) => (
            format!("Your {name} order #{n} is confirmed"),
            format!("Order #{n}"),
        ),
        None => (
            format!("Your {name} order is confirmed"),
            "Your order".to_owned(),
        ),
    };
    let url = order_url(shop, order.order_id);
    let placed = order.created_at.format("%Y-%m-%d %H:%M UTC").to_string();
    let total = money(order.total_cents, &order.currency);

    let mut text = format!(
        "Hello,\n\nThank you for your order at {name}. We have received it and are preparing it.\n\n\
         {heading}\nReference: {}\nPlaced: {placed}\n\n",
        order.order_id
    );
    let mut rows = String::new();
    for item in &order.items {
        let unit = money(item.unit_price_cents, &order.currency);
        let line = money(
            item.unit_price_cents * i64::from(item.quantity),
            &order.currency,
        );
        text.push_str(&format!(
            "  {} x {}, {unit} each: {line}\n",
            item.quantity,
            one_line(&item.name)
        ));
        rows.push_str(&format!(
            "<tr>\
             <td style=\"padding:8px 0;border-bottom:1px solid #e4e4e7;\">{}</td>\
             <td align=\"right\" style=\"padding:8px 0 8px 12px;border-bottom:1px solid #e4e4e7;\">{}</td>\
             <td align=\"right\" style=\"padding:8px 0 8px 12px;border-bottom:1px solid #e4e4e7;white-space:nowrap;\">{}</td>\
             <td align=\"right\" style=\"padding:8px 0 8px 12px;border-bottom:1px solid #e4e4e7;white-space:nowrap;\">{}</td>\
             </tr>\n",
            escape_html(&one_line(&item.name)),
            item.quantity,
            escape_html(&unit),
            escape_html(&line),
        ));
    }
    text.push_str(&format!(
        "\nTotal: {total}\n\nSee your order: {url}\n\n{}",
        signature(shop)
    ));

    let body = format!(
        "<h1 style=\"margin:0 0 16px;font-size:22px;\">{heading} is confirmed</h1>\n\
         <p style=\"margin:0 0 16px;\">Thank you for your order at {name}. We have received it and are preparing it.</p>\n\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse;font-size:14px;\">\n\
         <tr>\
         <th align=\"left\" style=\"padding:8px 0;border-bottom:2px solid #18181b;\">Item</th>\
         <th align=\"right\" style=\"padding:8px 0 8px 12px;border-bottom:2px solid #18181b;\">Qty</th>\
         <th align=\"right\" style=\"padding:8px 0 8px 12px;border-bottom:2px solid #18181b;\">Unit price</th>\
         <th align=\"right\" style=\"padding:8px 0 8px 12px;border-bottom:2px solid #18181b;\">Line total</th>\
         </tr>\n\
         {rows}\
         <tr>\
         <td colspan=\"3\" align=\"right\" style=\"padding:12px 0 0;font-weight:bold;\">Total</td>\
         <td align=\"right\" style=\"padding:12px 0 0 12px;font-weight:bold;white-space:nowrap;\">{total}</td>\
         </tr>\n\
         </table>\n\
         <p style=\"margin:24px 0;\"><a href=\"{url}\" style=\"display:inline-block;padding:10px 18px;background:#18181b;color:#ffffff;text-decoration:none;font-weight:bold;\">View your order</a></p>\n\
         <p style=\"margin:0;font-size:13px;color:#71717a;\">Reference: {reference}<br>Placed: {placed}<br>Link: {url}</p>\n",
        heading = escape_html(&heading),
        name = escape_html(&name),
        total = escape_html(&total),
        url = escape_html(&url),
        reference = order.order_id,
        placed = escape_html(&placed),
    );
    let footer =
        format!("{name}: you get this e-mail because an order was placed with this address.");
    Email {
        html: layout(shop, &subject, &body, &footer),
        subject,
        text,
    }
}

/// The admins' alert about the products of `order` that fell to or below their
/// low-stock threshold (`low`, at least one).
pub fn low_stock_alert(
    shop: &MailSettings,
    order: &OrderPlaced,
    low: &[&OrderPlacedItem],
) -> Email {
    let name = one_line(&shop.shop_name);
    let first = low.first().map(|i| short(&i.name, 60)).unwrap_or_default();
    let subject = match low.len() {
        0 | 1 => format!("[{name}] Low stock alert: {first}"),
        n => format!("[{name}] Low stock alert: {first} and {} more", n - 1),
    };
    let order_label = match order.order_number {
        Some(n) => format!("order #{n} ({})", order.order_id),
        None => format!("order {}", order.order_id),
    };
    let mut text = format!(
        "Hello,\n\nThese products fell to or below their low-stock threshold with {order_label}:\n\n"
    );
    let mut rows = String::new();
    for item in low {
        text.push_str(&format!(
            "  {}\n    id: {}\n    stock left: {}, threshold: {}\n",
            one_line(&item.name),
            item.product_id,
            item.stock_after,
            item.low_stock_threshold
        ));
        rows.push_str(&format!(
            "<tr>\
             <td style=\"padding:8px 0;border-bottom:1px solid #e4e4e7;\">{}</td>\
             <td style=\"padding:8px 0 8px 12px;border-bottom:1px solid #e4e4e7;font-family:'Courier New',Courier,monospace;font-size:12px;\">{}</td>\
             <td align=\"right\" style=\"padding:8px 0 8px 12px;border-bottom:1px solid #e4e4e7;font-weight:bold;\">{}</td>\
             <td align=\"right\" style=\"padding:8px 0 8px 12px;border-bottom:1px solid #e4e4e7;\">{}</td>\
             </tr>\n",
            escape_html(&one_line(&item.name)),
            item.product_id,
            item.stock_after,
            item.low_stock_threshold
        ));
    }
    text.push_str(&format!("\nRestock them soon.\n\n{}", signature(shop)));
    let body = format!(
        "<h1 style=\"margin:0 0 16px;font-size:22px;\">Low stock</h1>\n\
         <p style=\"margin:0 0 16px;\">These products fell to or below their low-stock threshold with {order_label}:</p>\n\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse;font-size:14px;\">\n\
         <tr>\
         <th align=\"left\" style=\"padding:8px 0;border-bottom:2px solid #18181b;\">Product</th>\
         <th align=\"left\" style=\"padding:8px 0 8px 12px;border-bottom:2px solid #18181b;\">Id</th>\
         <th align=\"right\" style=\"padding:8px 0 8px 12px;border-bottom:2px solid #18181b;\">Stock left</th>\
         <th align=\"right\" style=\"padding:8px 0 8px 12px;border-bottom:2px solid #18181b;\">Threshold</th>\
         </tr>\n\
         {rows}\
         </table>\n\
         <p style=\"margin:16px 0 0;\">Restock them soon.</p>\n",
        order_label = escape_html(&order_label),
    );
    let footer = format!("{name}: you get this e-mail because you are on ADMIN_ALERT_EMAILS.");
    Email {
        html: layout(shop, &subject, &body, &footer),
        subject,
        text,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use chrono::{TimeZone, Utc};
    use uuid::Uuid;

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
}
