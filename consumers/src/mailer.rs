//! Sending e-mail over SMTP with lettre, shared by the consumers.
//!
//! SMTP failures are transient (the runner retries with backoff, then dead-letters)
//! unless the server rejects the message for good. Each mail carries
//! `Message-ID: <{event_id}.{purpose}@shop>` so a duplicate would be visible.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow};
use api::configuration::{ConfigError, optional};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};
use uuid::Uuid;

use crate::runner::HandleError;

/// E-mails the SMTP server accepted from this process (`shop_emails_sent_total`).
pub static EMAILS_SENT: AtomicU64 = AtomicU64::new(0);

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP (the local mail catcher).
    None,
    /// STARTTLS required.
    StartTls,
    /// Implicit TLS (port 465).
    Tls,
}

impl std::str::FromStr for SmtpTls {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "starttls" => Ok(Self::StartTls),
            "tls" => Ok(Self::Tls),
            other => Err(format!("`{other}` is not one of none, starttls, tls")),
        }
    }
}

/// SMTP settings.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// TLS mode.
    pub tls: SmtpTls,
    /// User name, if the server wants one.
    pub username: Option<String>,
    /// Password of `username`.
    pub password: Option<String>,
    /// `From:` of every mail.
    pub from: String,
}

impl SmtpSettings {
    /// Reads `SMTP_*`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let username: String = optional("SMTP_USERNAME", String::new())?;
        let password: String = optional("SMTP_PASSWORD", String::new())?;
        Ok(Self {
            host: optional("SMTP_HOST", "127.0.0.1".to_owned())?,
            port: optional("SMTP_PORT", 1025)?,
            tls: optional("SMTP_TLS", SmtpTls::None)?,
            username: (!username.is_empty()).then_some(username),
            password: (!password.is_empty()).then_some(password),
            from: optional("SMTP_FROM", "Shop <no-reply@shop.local>".to_owned())?,
        })
    }
}

/// An SMTP client.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// A mailer sending through `smtp`.
    pub fn new(smtp: &SmtpSettings) -> anyhow::Result<Self> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.port)
            .timeout(Some(Duration::from_secs(15)));
        if smtp.tls != SmtpTls::None {
            let params = TlsParameters::new(smtp.host.clone()).context("SMTP TLS parameters")?;
            builder = builder.tls(match smtp.tls {
                SmtpTls::StartTls => Tls::Required(params),
                _ => Tls::Wrapper(params),
            });
        }
        if let (Some(user), Some(pass)) = (&smtp.username, &smtp.password) {
            builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from: smtp
                .from
                .parse()
                .context("invalid environment variable SMTP_FROM")?,
        })
    }

    /// Sends a plain-text mail to `to` (`(address, name)` pairs).
    pub async fn send(
        &self,
        event_id: Uuid,
        purpose: &str,
        to: &[(String, String)],
        subject: &str,
        body: String,
    ) -> Result<(), HandleError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .message_id(Some(format!("<{event_id}.{purpose}@shop>")))
            .header(ContentType::TEXT_PLAIN);
        for (address, name) in to {
            let mailbox: Mailbox = format!("{name} <{address}>")
                .parse()
                .or_else(|_| address.parse())
                .map_err(|e| HandleError::Permanent(anyhow!("bad recipient address: {e}")))?;
            builder = builder.to(mailbox);
        }
        let message = builder
            .body(body)
            .map_err(|e| HandleError::Permanent(anyhow!("building the e-mail: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => {
                EMAILS_SENT.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) if e.is_permanent() => Err(HandleError::Permanent(anyhow!(
                "SMTP rejected the e-mail: {e}"
            ))),
            Err(e) => Err(HandleError::Transient(anyhow!("SMTP: {e}"))),
        }
    }
}
