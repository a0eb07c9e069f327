use super::*;

fn retention(outbox_days: u32, processed_events_days: u32) -> RetentionSettings {
    RetentionSettings {
        interval: Duration::from_secs(3600),
        outbox_days,
        processed_events_days,
        dead_letters_days: 30,
        job_runs_days: 30,
    }
}

#[test]
fn debug_output_shows_no_secret() {
    let vars: std::collections::HashMap<String, String> = [
        (
            "DATABASE_URL",
            "postgres://shop:db-password-1@127.0.0.1/shop",
        ),
        ("REDIS_URL", "redis://:redis-password-2@127.0.0.1/0"),
        ("KAFKA_BROKERS", "127.0.0.1:9092"),
        ("JWT_SECRET", "jwt-secret-3-jwt-secret-3-jwt-secret-3"),
        ("OTP_HMAC_SECRET", "otp-secret-4-otp-secret-4-otp-secret-4"),
        ("EVENT_SEAL_KEY", &"ab".repeat(32)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let settings = Settings::from_vars(&vars).map_err(|e| e.to_string());
    let shown = format!("{settings:?}");
    assert!(shown.contains("127.0.0.1"), "{shown}");
    for secret in [
        "db-password-1",
        "redis-password-2",
        "jwt-secret-3",
        "otp-secret-4",
        "abab",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[test]
fn processed_events_are_kept_at_least_as_long_as_the_outbox() {
    assert!(retention(7, 14).check().is_ok());
    assert!(retention(7, 7).check().is_ok());
    let error = retention(14, 7).check().map_err(|e| e.to_string());
    let message = error.err().unwrap_or_default();
    assert!(
        message.contains("RETENTION_PROCESSED_EVENTS_DAYS")
            && message.contains("RETENTION_OUTBOX_DAYS (14)"),
        "{message}"
    );
}

#[test]
fn request_logging_defaults_to_errors_and_slow_requests_and_the_rate_is_a_share() {
    let read = |rate: &str| {
        let vars = std::collections::HashMap::from([(
            "LOG_REQUEST_SAMPLE_RATE".to_owned(),
            rate.to_owned(),
        )]);
        with_vars(&vars, RequestLogSettings::from_env).map_err(|e| e.to_string())
    };
    let defaults = read("").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(defaults.sample_rate, 0.0);
    assert_eq!(defaults.slow, Duration::from_millis(500));
    assert_eq!(read("1").map(|s| s.sample_rate), Ok(1.0));
    for bad in ["1.5", "-0.1", "NaN", "often"] {
        let error = read(bad).err().unwrap_or_default();
        assert!(error.contains("LOG_REQUEST_SAMPLE_RATE"), "{bad}: {error}");
    }
}
