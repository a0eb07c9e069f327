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
//! - the order mails name the order by its short number ("Order #1042") and keep the
//!   UUID in the body as the reference, with the link to the order's page;
//! - the order lifecycle mails (cancelled, paid, shipped, delivered, refunded) echo
//!   typed text only where the buyer needs it: the cancellation's reason and the
//!   shipment's tracking reference, each escaped and on one line like product names.
//!
//! The rendered output is pinned by the golden files in `consumers/tests/golden/`
//! (`UPDATE_GOLDEN=1 cargo test --release -p consumers --lib templates` rewrites them).

pub use shop_common::html::escape_html;
use shop_common::{
    events::{OrderCancelled, OrderPlaced, OrderPlacedItem, OrderStatusChanged},
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
    let (lines, rows) = order_lines(order);
    text.push_str(&lines);
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

/// The status changes that mail the buyer, each an `order-status-changed` event's
/// `to_status`. Cancellations have their own event and mail ([`order_cancelled`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMail {
    /// `paid`: the payment was received.
    Paid,
    /// `shipped`: the order is on its way (with the carrier's tracking reference, if
    /// given).
    Shipped,
    /// `delivered`: the order arrived.
    Delivered,
    /// `refunded`: the refund of the total was issued.
    Refunded,
}

impl StatusMail {
    /// The mail of an order moved to `to_status`, or `None` when that status has no
    /// mail of its own.
    pub fn for_status(to_status: &str) -> Option<Self> {
        match to_status {
            "paid" => Some(Self::Paid),
            "shipped" => Some(Self::Shipped),
            "delivered" => Some(Self::Delivered),
            "refunded" => Some(Self::Refunded),
            _ => None,
        }
    }

    /// The mailer's kind (`Message-ID` part) of this mail.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Paid => "order-paid",
            Self::Shipped => "order-shipped",
            Self::Delivered => "order-delivered",
            Self::Refunded => "order-refunded",
        }
    }
}

/// `reason` on one line, or `None` when there is none or it is blank.
fn typed_reason(reason: Option<&str>) -> Option<String> {
    reason.map(one_line).filter(|r| !r.is_empty())
}

/// The HTML of the "View your order" button and the reference block under an order
/// mail's body: `facts` are `(label, value)` lines after the reference, plain text.
fn order_footer_html(url: &str, reference: uuid::Uuid, facts: &[(&str, String)]) -> String {
    let mut small = format!("Reference: {reference}");
    for (label, value) in facts {
        small.push_str(&format!(
            "<br>{}: {}",
            escape_html(label),
            escape_html(value)
        ));
    }
    format!(
        "<p style=\"margin:24px 0;\"><a href=\"{url}\" style=\"display:inline-block;padding:10px 18px;background:#18181b;color:#ffffff;text-decoration:none;font-weight:bold;\">View your order</a></p>\n\
         <p style=\"margin:0;font-size:13px;color:#71717a;\">{small}<br>Link: {url}</p>\n",
        url = escape_html(url),
    )
}

/// The footer of every mail about an order.
fn order_mail_footer(name: &str) -> String {
    format!("{name}: you get this e-mail because an order was placed with this address.")
}

/// Why an order was cancelled, for its buyer: who cancelled it (the shop's own
/// cancellation, actor `system`, the expiry job, says plainly that the payment did
/// not arrive in time), and the typed reason if any (never for `system`: its reason
/// is the shop's own wording of the same).
fn cancellation_cause(cancelled: &OrderCancelled) -> (Option<&'static str>, Option<String>) {
    let reason = typed_reason(cancelled.reason.as_deref());
    match cancelled.actor.as_str() {
        "system" => (
            Some("We cancelled it because its payment did not arrive in time."),
            None,
        ),
        "customer" => (Some("You cancelled it."), reason),
        "admin" => (Some("We cancelled it."), reason),
        "provider" => (Some("The payment provider cancelled it."), reason),
        _ => (None, reason),
    }
}

/// The notice of a cancelled order: why (see [`cancellation_cause`]), what was
/// ordered, and, when it had been paid, that a refund of the total will follow.
pub fn order_cancelled(shop: &MailSettings, cancelled: &OrderCancelled) -> Email {
    let name = one_line(&shop.shop_name);
    let n = cancelled.order_number;
    let subject = format!("Your {name} order #{n} was cancelled");
    let heading = format!("Order #{n}");
    let url = order_url(shop, cancelled.order_id);
    let when = cancelled
        .cancelled_at
        .format("%Y-%m-%d %H:%M UTC")
        .to_string();
    let total = money(cancelled.total_cents, &cancelled.currency);
    let (cause, reason) = cancellation_cause(cancelled);
    let refund = (cancelled.from_status == "paid").then(|| {
        format!("You had paid for it: a refund of {total} will follow. We will write again when it is issued.")
    });

    let mut text = format!("Hello,\n\nYour order #{n} at {name} was cancelled.");
    if let Some(cause) = cause {
        text.push_str(&format!(" {cause}"));
    }
    text.push('\n');
    if let Some(reason) = &reason {
        text.push_str(&format!("Reason: {reason}\n"));
    }
    if let Some(refund) = &refund {
        text.push_str(&format!("\n{refund}\n"));
    }
    text.push_str(&format!(
        "\n{heading}\nReference: {}\nCancelled: {when}\n\nYou had ordered:\n",
        cancelled.order_id
    ));
    let mut rows = String::new();
    for item in &cancelled.items {
        text.push_str(&format!("  {} x {}\n", item.quantity, one_line(&item.name)));
        rows.push_str(&format!(
            "<tr>\
             <td style=\"padding:8px 0;border-bottom:1px solid #e4e4e7;\">{}</td>\
             <td align=\"right\" style=\"padding:8px 0 8px 12px;border-bottom:1px solid #e4e4e7;\">{}</td>\
             </tr>\n",
            escape_html(&one_line(&item.name)),
            item.quantity,
        ));
    }
    text.push_str(&format!(
        "\nTotal: {total}\n\nSee your order: {url}\n\n{}",
        signature(shop)
    ));

    let mut body = format!(
        "<h1 style=\"margin:0 0 16px;font-size:22px;\">{heading} was cancelled</h1>\n\
         <p style=\"margin:0 0 16px;\">Your order #{n} at {name} was cancelled.{cause}</p>\n",
        heading = escape_html(&heading),
        name = escape_html(&name),
        cause = cause
            .map(|c| format!(" {}", escape_html(c)))
            .unwrap_or_default(),
    );
    if let Some(reason) = &reason {
        body.push_str(&format!(
            "<p style=\"margin:0 0 16px;\">Reason: {}</p>\n",
            escape_html(reason)
        ));
    }
    if let Some(refund) = &refund {
        body.push_str(&format!(
            "<p style=\"margin:0 0 16px;font-weight:bold;\">{}</p>\n",
            escape_html(refund)
        ));
    }
    body.push_str(&format!(
        "<p style=\"margin:0 0 8px;\">You had ordered:</p>\n\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse;font-size:14px;\">\n\
         <tr>\
         <th align=\"left\" style=\"padding:8px 0;border-bottom:2px solid #18181b;\">Item</th>\
         <th align=\"right\" style=\"padding:8px 0 8px 12px;border-bottom:2px solid #18181b;\">Qty</th>\
         </tr>\n\
         {rows}\
         <tr>\
         <td align=\"right\" style=\"padding:12px 0 0;font-weight:bold;\">Total</td>\
         <td align=\"right\" style=\"padding:12px 0 0 12px;font-weight:bold;white-space:nowrap;\">{total}</td>\
         </tr>\n\
         </table>\n",
        total = escape_html(&total),
    ));
    body.push_str(&order_footer_html(
        &url,
        cancelled.order_id,
        &[("Cancelled", when)],
    ));
    let footer = order_mail_footer(&name);
    Email {
        html: layout(shop, &subject, &body, &footer),
        subject,
        text,
    }
}

/// The notice of an order's move to paid, shipped, delivered or refunded (`status`,
/// chosen by [`StatusMail::for_status`]). Only the shipment echoes the event's typed
/// `reason`, as the carrier's tracking reference: the other reasons are the staff's
/// notes, not meant for the buyer.
pub fn order_status_changed(
    shop: &MailSettings,
    status: StatusMail,
    change: &OrderStatusChanged,
) -> Email {
    let name = one_line(&shop.shop_name);
    let n = change.order_number;
    let heading = format!("Order #{n}");
    let url = order_url(shop, change.order_id);
    let when = change.changed_at.format("%Y-%m-%d %H:%M UTC").to_string();
    let total = money(change.total_cents, &change.currency);
    let (subject, title, lead, label) = match status {
        StatusMail::Paid => (
            format!("Your {name} order #{n} is paid"),
            format!("{heading} is paid"),
            format!(
                "We have received your payment of {total} for order #{n}. We are preparing your order and will write again when it ships."
            ),
            "Paid",
        ),
        StatusMail::Shipped => (
            format!("Your {name} order #{n} is on its way"),
            format!("{heading} is on its way"),
            format!("Your order #{n} has shipped and is on its way to you."),
            "Shipped",
        ),
        StatusMail::Delivered => (
            format!("Your {name} order #{n} was delivered"),
            format!("{heading} was delivered"),
            format!("Your order #{n} was delivered. Thank you for shopping at {name}."),
            "Delivered",
        ),
        StatusMail::Refunded => (
            format!("Your {name} order #{n} was refunded"),
            format!("{heading} was refunded"),
            format!(
                "We have issued a refund of {total} for order #{n}. It may take a few days to show on your statement."
            ),
            "Refunded",
        ),
    };
    let tracking = match status {
        StatusMail::Shipped => typed_reason(change.reason.as_deref()),
        _ => None,
    };

    let mut text = format!("Hello,\n\n{lead}\n");
    if let Some(tracking) = &tracking {
        text.push_str(&format!("Tracking reference: {tracking}\n"));
    }
    text.push_str(&format!(
        "\n{heading}\nReference: {}\n{label}: {when}\nTotal: {total}\n\nSee your order: {url}\n\n{}",
        change.order_id,
        signature(shop)
    ));

    let mut body = format!(
        "<h1 style=\"margin:0 0 16px;font-size:22px;\">{title}</h1>\n\
         <p style=\"margin:0 0 16px;\">{lead}</p>\n",
        title = escape_html(&title),
        lead = escape_html(&lead),
    );
    if let Some(tracking) = &tracking {
        body.push_str(&format!(
            "<p style=\"margin:0 0 16px;\">Tracking reference: <span style=\"font-family:'Courier New',Courier,monospace;font-weight:bold;\">{}</span></p>\n",
            escape_html(tracking)
        ));
    }
    body.push_str(&format!(
        "<p style=\"margin:0 0 16px;\">Total: <strong style=\"white-space:nowrap;\">{}</strong></p>\n",
        escape_html(&total)
    ));
    body.push_str(&order_footer_html(&url, change.order_id, &[(label, when)]));
    let footer = order_mail_footer(&name);
    Email {
        html: layout(shop, &subject, &body, &footer),
        subject,
        text,
    }
}

/// The items of `order`: as text lines, and as HTML table rows.
fn order_lines(order: &OrderPlaced) -> (String, String) {
    let mut text = String::new();
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
    (text, rows)
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
mod tests;
