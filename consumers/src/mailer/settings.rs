//! What the mailer and the mails are configured with (`SMTP_*`, `SHOP_*`).

use shop_common::config::{ConfigError, optional};

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

/// SMTP settings. Its `Debug` never shows the password.
#[derive(Clone)]
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
    /// Sends at once per process, and the most pooled connections (at least 1).
    pub max_connections: u32,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl SmtpSettings {
    /// Reads `SMTP_*`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let username: String = optional("SMTP_USERNAME", String::new())?;
        let password: String = optional("SMTP_PASSWORD", String::new())?;
        let max_connections: u32 = optional("SMTP_MAX_CONNECTIONS", 8)?;
        if max_connections == 0 {
            return Err(ConfigError::Invalid {
                name: "SMTP_MAX_CONNECTIONS",
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            host: optional("SMTP_HOST", "127.0.0.1".to_owned())?,
            port: optional("SMTP_PORT", 1025)?,
            tls: optional("SMTP_TLS", SmtpTls::None)?,
            username: (!username.is_empty()).then_some(username),
            password: (!password.is_empty()).then_some(password),
            from: optional("SMTP_FROM", "Shop <no-reply@shop.local>".to_owned())?,
            max_connections,
        })
    }
}

/// What the mails say about the shop (`SHOP_*`), read once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// The shop's name in subjects and bodies (`SHOP_NAME`, default `Shop`).
    pub shop_name: String,
    /// The page where a customer sees their orders (`SHOP_ORDERS_URL`, default
    /// `http://localhost:3000/orders`, no trailing `/`); the confirmation links to
    /// `{orders_url}/{order_id}`.
    pub orders_url: String,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            shop_name: "Shop".to_owned(),
            orders_url: "http://localhost:3000/orders".to_owned(),
        }
    }
}

impl MailSettings {
    /// Reads `SHOP_NAME` and `SHOP_ORDERS_URL`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let shop_name: String = optional("SHOP_NAME", defaults.shop_name)?;
        let orders_url: String = optional("SHOP_ORDERS_URL", defaults.orders_url)?;
        Self::new(&shop_name, &orders_url)
    }

    /// Checked settings: a one-line name of at most 100 characters, and an `http(s)`
    /// URL with no spaces, quotes or angle brackets (it goes into links).
    pub fn new(shop_name: &str, orders_url: &str) -> Result<Self, ConfigError> {
        let shop_name = shop_name.trim();
        if shop_name.is_empty()
            || shop_name.chars().count() > 100
            || shop_name.chars().any(char::is_control)
        {
            return Err(ConfigError::Invalid {
                name: "SHOP_NAME",
                reason: "must be one line of 1 to 100 characters".into(),
            });
        }
        let orders_url = orders_url.trim().trim_end_matches('/');
        let scheme_ok = ["http://", "https://"].iter().any(|scheme| {
            orders_url
                .get(..scheme.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
                && orders_url.len() > scheme.len()
        });
        let chars_ok = !orders_url
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "\"'<>`\\".contains(c));
        if !scheme_ok || !chars_ok {
            return Err(ConfigError::Invalid {
                name: "SHOP_ORDERS_URL",
                reason:
                    "must be an http:// or https:// URL without spaces, quotes or angle brackets"
                        .into(),
            });
        }
        Ok(Self {
            shop_name: shop_name.to_owned(),
            orders_url: orders_url.to_owned(),
        })
    }
}
