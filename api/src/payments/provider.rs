//! Starting a payment at a provider: the [`PaymentProvider`] trait and Stripe's
//! implementation. This is the one part of payments that needs the network (the
//! webhook only receives); the in-process tests point `STRIPE_API_BASE` at a local
//! server that records what was sent.
//!
//! Stripe's documented call (`POST /v1/payment_intents`, form-encoded, `Bearer` secret
//! key): `amount` in minor units, `currency` lowercase, `metadata[order_id]` (read back
//! by the webhook), `automatic_payment_methods[enabled]=true`, and the order id as
//! `Idempotency-Key`, so a retried start returns the same intent instead of a second
//! one. The secret key and the client secret never reach a log or a `Debug`.

use std::{future::Future, sync::OnceLock, time::Duration};

use uuid::Uuid;

/// What to ask a provider to charge.
#[derive(Debug, Clone)]
pub struct PaymentRequest {
    /// The order (its id is the idempotency key and the metadata the webhook reads).
    pub order_id: Uuid,
    /// Amount in minor units.
    pub amount_cents: i64,
    /// Uppercase ISO 4217.
    pub currency: String,
}

/// A payment the provider created, for the buyer's client to confirm.
#[derive(Clone)]
pub struct StartedPayment {
    /// The provider's payment id (`pi_…`).
    pub provider_ref: String,
    /// What the buyer's browser confirms the payment with (Stripe.js); not logged.
    pub client_secret: String,
}

impl std::fmt::Debug for StartedPayment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartedPayment")
            .field("provider_ref", &self.provider_ref)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// Why a provider did not start a payment.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// No connection, a timeout, an unreadable answer.
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    /// The provider answered with an error (its status and error type, not its
    /// message, which may quote the request).
    #[error("the provider refused with {status} ({kind})")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The provider's error type or code.
        kind: String,
    },
}

/// A payment provider that can start a payment.
pub trait PaymentProvider: Send + Sync {
    /// The provider's name as stored in `payments.provider`.
    fn name(&self) -> &'static str;

    /// Creates a payment for `request` at the provider.
    fn create_payment(
        &self,
        request: &PaymentRequest,
    ) -> impl Future<Output = Result<StartedPayment, ProviderError>> + Send;
}

/// How long a call to the provider may take in all; a buyer waits for it.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// One HTTP client for every provider call of the process (its connection pool and
/// TLS configuration are built once).
fn http_client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}

/// Stripe, through its REST API.
#[derive(Clone)]
pub struct StripeProvider {
    api_base: String,
    secret_key: String,
}

impl std::fmt::Debug for StripeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeProvider")
            .field("api_base", &self.api_base)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

impl StripeProvider {
    /// Stripe at `api_base` (`https://api.stripe.com`) with the secret key `sk_…`.
    pub fn new(api_base: &str, secret_key: &str) -> Self {
        Self {
            api_base: api_base.trim_end_matches('/').to_owned(),
            secret_key: secret_key.to_owned(),
        }
    }

    /// Stripe as configured, if a secret key is.
    pub fn from_settings(settings: &crate::configuration::OrderSettings) -> Option<Self> {
        let key = settings.stripe_secret_key.as_deref()?;
        Some(Self::new(&settings.stripe_api_base, key))
    }
}

/// The part of a PaymentIntent the shop reads.
#[derive(serde::Deserialize)]
struct Intent {
    id: String,
    client_secret: String,
}

impl PaymentProvider for StripeProvider {
    fn name(&self) -> &'static str {
        "stripe"
    }

    async fn create_payment(
        &self,
        request: &PaymentRequest,
    ) -> Result<StartedPayment, ProviderError> {
        let order_id = request.order_id.to_string();
        let form = [
            ("amount", request.amount_cents.to_string()),
            ("currency", request.currency.to_ascii_lowercase()),
            ("metadata[order_id]", order_id.clone()),
            ("automatic_payment_methods[enabled]", "true".to_owned()),
        ];
        let response = http_client()
            .post(format!("{}/v1/payment_intents", self.api_base))
            .bearer_auth(&self.secret_key)
            .header("Idempotency-Key", &order_id)
            .form(&form)
            .send()
            .await
            .map_err(|e| ProviderError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| ProviderError::Unreachable(e.without_url().to_string()))?;
        if !status.is_success() {
            let error = &body["error"];
            let kind = error["code"]
                .as_str()
                .or(error["type"].as_str())
                .unwrap_or("unknown")
                .chars()
                .take(100)
                .collect();
            return Err(ProviderError::Refused {
                status: status.as_u16(),
                kind,
            });
        }
        let intent: Intent = serde_json::from_value(body)
            .map_err(|e| ProviderError::Unreachable(format!("an unexpected answer: {e}")))?;
        Ok(StartedPayment {
            provider_ref: intent.id,
            client_secret: intent.client_secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{StartedPayment, StripeProvider};

    #[test]
    fn neither_the_secret_key_nor_the_client_secret_shows_in_debug() {
        let provider = StripeProvider::new("https://api.stripe.com/", "sk_test_very_secret");
        let shown = format!("{provider:?}");
        assert!(!shown.contains("sk_test"), "{shown}");
        assert!(shown.contains("https://api.stripe.com\""), "{shown}");
        let started = StartedPayment {
            provider_ref: "pi_1".into(),
            client_secret: "pi_1_secret_2".into(),
        };
        let shown = format!("{started:?}");
        assert!(
            shown.contains("pi_1") && !shown.contains("secret_2"),
            "{shown}"
        );
    }
}
