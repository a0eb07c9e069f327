//! The SMTP client: our plain pool with `TCP_NODELAY`, or lettre's TLS transport.

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, anyhow};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
    transport::smtp::{
        PoolConfig,
        authentication::{Credentials, Mechanism},
        client::{AsyncSmtpConnection, Tls, TlsParameters},
        extension::ClientId,
    },
};
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::{EMAILS_SENT, SendMail, SmtpSettings, SmtpTls};
use crate::{runner::HandleError, templates::Email};

/// How long an idle pooled connection may sit before it is checked (NOOP) first.
const IDLE_CHECK: Duration = Duration::from_secs(10);
/// Connect and per-command timeout.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// Plain-SMTP connections with `TCP_NODELAY`, kept for reuse (see the module docs).
struct PlainPool {
    host: String,
    port: u16,
    hello: ClientId,
    credentials: Option<Credentials>,
    idle: std::sync::Mutex<Vec<(AsyncSmtpConnection, std::time::Instant)>>,
}

impl PlainPool {
    async fn connect(&self) -> anyhow::Result<AsyncSmtpConnection> {
        let stream = tokio::time::timeout(
            SMTP_TIMEOUT,
            tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .context("connecting to the SMTP server timed out")?
        .context("connecting to the SMTP server")?;
        stream.set_nodelay(true).context("TCP_NODELAY")?;
        let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
            .await
            .context("SMTP greeting")?;
        if let Some(credentials) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .context("SMTP authentication")?;
        }
        Ok(conn)
    }

    /// A pooled connection that still answers, or a new one.
    async fn checkout(&self) -> anyhow::Result<AsyncSmtpConnection> {
        loop {
            let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some((mut conn, since)) = pooled else {
                return self.connect().await;
            };
            if conn.has_broken() {
                continue;
            }
            if since.elapsed() < IDLE_CHECK || conn.test_connected().await {
                return Ok(conn);
            }
        }
    }

    async fn send(&self, message: &Message) -> Result<(), HandleError> {
        let mut conn = self
            .checkout()
            .await
            .map_err(|e| HandleError::Transient(anyhow!("SMTP: {e:#}")))?;
        let sent = tokio::time::timeout(
            SMTP_TIMEOUT,
            conn.send(message.envelope(), &message.formatted()),
        )
        .await;
        match sent {
            Ok(Ok(_)) => {
                self.idle
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((conn, std::time::Instant::now()));
                Ok(())
            }
            Ok(Err(e)) if e.is_permanent() => {
                // The server refused this message; the connection is still good after
                // a reset, but a fresh one is simpler than restoring its state.
                conn.abort().await;
                Err(HandleError::Permanent(anyhow!(
                    "SMTP rejected the e-mail: {e}"
                )))
            }
            Ok(Err(e)) => {
                conn.abort().await;
                Err(HandleError::Transient(anyhow!("SMTP: {e}")))
            }
            Err(_) => {
                conn.abort().await;
                Err(HandleError::Transient(anyhow!(
                    "SMTP: no answer within {SMTP_TIMEOUT:?}"
                )))
            }
        }
    }
}

/// Where mails go: our plain pool, or lettre's transport for TLS.
enum Transport {
    Plain(PlainPool),
    Lettre(AsyncSmtpTransport<Tokio1Executor>),
}

/// An SMTP client.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    /// One permit per send in flight: `SMTP_MAX_CONNECTIONS`.
    pub(super) sends: Semaphore,
}

impl Mailer {
    /// A mailer sending through `smtp`.
    pub fn new(smtp: &SmtpSettings) -> anyhow::Result<Self> {
        let connections = smtp.max_connections.max(1);
        let credentials = match (&smtp.username, &smtp.password) {
            (Some(user), Some(pass)) => Some(Credentials::new(user.clone(), pass.clone())),
            _ => None,
        };
        let transport = if smtp.tls == SmtpTls::None {
            Transport::Plain(PlainPool {
                host: smtp.host.clone(),
                port: smtp.port,
                hello: ClientId::default(),
                credentials,
                idle: std::sync::Mutex::default(),
            })
        } else {
            let params = TlsParameters::new(smtp.host.clone()).context("SMTP TLS parameters")?;
            let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
                .port(smtp.port)
                .timeout(Some(SMTP_TIMEOUT))
                .pool_config(PoolConfig::new().max_size(connections))
                .tls(match smtp.tls {
                    SmtpTls::StartTls => Tls::Required(params),
                    _ => Tls::Wrapper(params),
                });
            if let Some(credentials) = credentials {
                builder = builder.credentials(credentials);
            }
            Transport::Lettre(builder.build())
        };
        Ok(Self {
            transport,
            from: smtp
                .from
                .parse()
                .context("invalid environment variable SMTP_FROM")?,
            sends: Semaphore::new(connections as usize),
        })
    }

    /// Sends `mail` (text and HTML alternatives) to `to` (`(address, name)` pairs),
    /// waiting for a free connection when `SMTP_MAX_CONNECTIONS` sends are in flight.
    pub async fn send(
        &self,
        event_id: Uuid,
        purpose: &str,
        to: &[(String, String)],
        mail: &Email,
    ) -> Result<(), HandleError> {
        let message = self.message(event_id, purpose, to, mail)?;
        let _permit = self
            .sends
            .acquire()
            .await
            .map_err(|e| HandleError::Transient(anyhow!("SMTP send limit: {e}")))?;
        let sent = match &self.transport {
            Transport::Plain(pool) => pool.send(&message).await,
            Transport::Lettre(transport) => match transport.send(message).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(HandleError::Permanent(anyhow!(
                    "SMTP rejected the e-mail: {e}"
                ))),
                Err(e) => Err(HandleError::Transient(anyhow!("SMTP: {e}"))),
            },
        };
        if sent.is_ok() {
            EMAILS_SENT.fetch_add(1, Ordering::Relaxed);
        }
        sent
    }

    /// The message `send` sends.
    pub(super) fn message(
        &self,
        event_id: Uuid,
        purpose: &str,
        to: &[(String, String)],
        mail: &Email,
    ) -> Result<Message, HandleError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(mail.subject.as_str())
            .message_id(Some(format!("<{event_id}.{purpose}@shop>")));
        for (address, name) in to {
            let mailbox: Mailbox = format!("{name} <{address}>")
                .parse()
                .or_else(|_| address.parse())
                .map_err(|e| HandleError::Permanent(anyhow!("bad recipient address: {e}")))?;
            builder = builder.to(mailbox);
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|e| HandleError::Permanent(anyhow!("building the e-mail: {e}")))
    }
}

impl SendMail for Mailer {
    async fn send(
        &self,
        event_id: Uuid,
        purpose: &str,
        to: &[(String, String)],
        mail: &Email,
    ) -> Result<(), HandleError> {
        Mailer::send(self, event_id, purpose, to, mail).await
    }
}
