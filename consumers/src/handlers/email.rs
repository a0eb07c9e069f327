//! The email consumer (group `email`): OTP codes and welcome mails from
//! `account-email`, order confirmations from `order-placed`.
//!
//! The OTP is opened from its sealed form only here, in memory, and never logged.

use anyhow::anyhow;
use api::{
    configuration::SealKey,
    events::{AccountOtp, AccountWelcome, Event, EventEnvelope, OTP_PURPOSE_RESET, OrderPlaced},
    money::format_cents,
    seal,
};

use crate::{
    mailer::Mailer,
    runner::{HandleError, Handler},
};

/// Sends the e-mails announced by events.
pub struct EmailHandler {
    mailer: Mailer,
    seal_key: SealKey,
}

impl EmailHandler {
    /// A handler sending through `mailer`.
    pub fn new(mailer: Mailer, seal_key: SealKey) -> Self {
        Self { mailer, seal_key }
    }
}

fn decode<P: Event>(event: &EventEnvelope) -> Result<EventEnvelope<P>, HandleError> {
    event
        .decode::<P>()
        .map_err(|e| HandleError::Permanent(e.into()))
}

/// The confirmation text of an order.
pub fn confirmation_body(order: &OrderPlaced) -> String {
    let mut body = format!("Thank you for your order {}.\n\n", order.order_id);
    for item in &order.items {
        body.push_str(&format!(
            "  {} x {} at {} {} = {} {}\n",
            item.quantity,
            item.name,
            format_cents(item.unit_price_cents),
            order.currency,
            format_cents(item.unit_price_cents * i64::from(item.quantity)),
            order.currency
        ));
    }
    body.push_str(&format!(
        "\nTotal: {} {}\n",
        format_cents(order.total_cents),
        order.currency
    ));
    body
}

impl Handler for EmailHandler {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandleError> {
        match event.event_type.as_str() {
            // Account mails never echo what a registrant typed (their display name):
            // they go to an address a stranger may have typed, and must not become a
            // channel for the stranger's text or links.
            AccountOtp::TYPE => {
                let otp = decode::<AccountOtp>(event)?.payload;
                let code = seal::open(&self.seal_key, &otp.sealed_code)
                    .map_err(|e| HandleError::Permanent(e.into()))?;
                let (subject, body) = if otp.purpose == OTP_PURPOSE_RESET {
                    (
                        "Your password reset code",
                        format!(
                            "Hello,\n\nYour password reset code is {code}.\n\nIt is valid for {} minutes and can be used once.\nIf you did not ask for it, ignore this e-mail: your password stays as it is.\n",
                            otp.expires_in_minutes
                        ),
                    )
                } else {
                    (
                        "Your verification code",
                        format!(
                            "Hello,\n\nYour verification code is {code}.\n\nIt is valid for {} minutes and can be used once.\nIf you did not ask for it, ignore this e-mail.\n",
                            otp.expires_in_minutes
                        ),
                    )
                };
                self.mailer
                    .send(
                        event.event_id,
                        "otp",
                        &[(otp.email, String::new())],
                        subject,
                        body,
                    )
                    .await
            }
            AccountWelcome::TYPE => {
                let w = decode::<AccountWelcome>(event)?.payload;
                let body = "Hello,\n\nYour e-mail is verified: welcome to the shop.\n".to_owned();
                self.mailer
                    .send(
                        event.event_id,
                        "welcome",
                        &[(w.email, String::new())],
                        "Welcome to the shop",
                        body,
                    )
                    .await
            }
            OrderPlaced::TYPE => {
                let order = decode::<OrderPlaced>(event)?.payload;
                let subject = format!("Order confirmed: {}", order.order_id);
                let body = confirmation_body(&order);
                self.mailer
                    .send(
                        event.event_id,
                        "order",
                        &[(order.user_email.clone(), String::new())],
                        &subject,
                        body,
                    )
                    .await
            }
            other => Err(HandleError::Permanent(anyhow!(
                "the email consumer has no template for event type `{other}`"
            ))),
        }
    }
}
