//! The email consumer (group `email`): OTP codes and welcome mails from
//! `account-email`; from the order topic (`order-placed`), one mail to the buyer per
//! event: the confirmation (`order-placed`), the cancellation notice
//! (`order-cancelled`), and the notices of payment, shipment, delivery and refund
//! (`order-status-changed` to `paid`, `shipped`, `delivered`, `refunded`; any other
//! status is a permanent error, as is any other event type).
//!
//! The OTP is opened from its sealed form only here, in memory, and never logged.

use anyhow::anyhow;
use shop_common::{
    config::SealKey,
    events::{
        AccountOtp, AccountWelcome, Event, EventEnvelope, OTP_PURPOSE_RESET, OrderCancelled,
        OrderPlaced, OrderStatusChanged,
    },
    seal,
};

use crate::{
    mailer::{MailSettings, Mailer, SendMail},
    runner::{HandleError, Handler},
    templates::{self, OtpPurpose, StatusMail},
};

/// Sends the e-mails announced by events, through SMTP (or, in the in-process test
/// tier, a recorder).
pub struct EmailHandler<M = Mailer> {
    mailer: M,
    seal_key: SealKey,
    shop: MailSettings,
}

impl<M: SendMail> EmailHandler<M> {
    /// A handler sending through `mailer`, the mails speaking for `shop`.
    pub fn new(mailer: M, seal_key: SealKey, shop: MailSettings) -> Self {
        Self {
            mailer,
            seal_key,
            shop,
        }
    }
}

fn decode<P: Event>(event: &EventEnvelope) -> Result<EventEnvelope<P>, HandleError> {
    event
        .decode::<P>()
        .map_err(|e| HandleError::Permanent(e.into()))
}

impl<M: SendMail> Handler for EmailHandler<M> {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandleError> {
        match event.event_type.as_str() {
            // Account mails never echo what a registrant typed (their display name):
            // they go to an address a stranger may have typed, and must not become a
            // channel for the stranger's text or links. Their templates take no name.
            AccountOtp::TYPE => {
                let otp = decode::<AccountOtp>(event)?.payload;
                let code = seal::open(&self.seal_key, &otp.sealed_code)
                    .map_err(|e| HandleError::Permanent(e.into()))?;
                let purpose = if otp.purpose == OTP_PURPOSE_RESET {
                    OtpPurpose::Reset
                } else {
                    OtpPurpose::Verify
                };
                let mail = templates::otp_code(&self.shop, purpose, &code, otp.expires_in_minutes);
                self.mailer
                    .send(event.event_id, "otp", &[(otp.email, String::new())], &mail)
                    .await
            }
            AccountWelcome::TYPE => {
                let w = decode::<AccountWelcome>(event)?.payload;
                let mail = templates::welcome(&self.shop);
                self.mailer
                    .send(
                        event.event_id,
                        "welcome",
                        &[(w.email, String::new())],
                        &mail,
                    )
                    .await
            }
            OrderPlaced::TYPE => {
                let order = decode::<OrderPlaced>(event)?.payload;
                let mail = templates::order_confirmation(&self.shop, &order);
                self.mailer
                    .send(
                        event.event_id,
                        "order",
                        &[(order.user_email.clone(), String::new())],
                        &mail,
                    )
                    .await
            }
            OrderCancelled::TYPE => {
                let cancelled = decode::<OrderCancelled>(event)?.payload;
                let mail = templates::order_cancelled(&self.shop, &cancelled);
                self.mailer
                    .send(
                        event.event_id,
                        "order-cancelled",
                        &[(cancelled.user_email.clone(), String::new())],
                        &mail,
                    )
                    .await
            }
            OrderStatusChanged::TYPE => {
                let change = decode::<OrderStatusChanged>(event)?.payload;
                let status = StatusMail::for_status(&change.to_status).ok_or_else(|| {
                    HandleError::Permanent(anyhow!(
                        "the email consumer has no template for an order moved to `{}`",
                        change.to_status
                    ))
                })?;
                let mail = templates::order_status_changed(&self.shop, status, &change);
                self.mailer
                    .send(
                        event.event_id,
                        status.kind(),
                        &[(change.user_email.clone(), String::new())],
                        &mail,
                    )
                    .await
            }
            other => Err(HandleError::Permanent(anyhow!(
                "the email consumer has no template for event type `{other}`"
            ))),
        }
    }
}
