//! Structured JSON logs.
//!
//! Every line is one JSON object. Lines logged while a request is served carry the
//! request span, and so its `request_id`. Never log passwords, tokens, OTPs, hashes or
//! whole e-mail addresses.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the global JSON subscriber. `RUST_LOG` overrides the default filter.
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let layer = fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true);
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init();
}

/// Masks an e-mail address for logs: `jo***@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let keep: String = local.chars().take(2).collect();
            format!("{keep}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::mask_email;

    #[test]
    fn a_masked_email_keeps_only_two_letters_and_the_domain() {
        assert_eq!(mask_email("johnny@example.com"), "jo***@example.com");
        assert_eq!(mask_email("j@x.io"), "j***@x.io");
        assert_eq!(mask_email("not-an-email"), "***");
    }
}
