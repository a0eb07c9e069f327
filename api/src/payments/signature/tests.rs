use std::time::Duration;

use super::{SignatureError as E, header, parse, sign, verify};

const SECRET: &str = "whsec_test_secret";
const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
const NOW: i64 = 1_765_000_000;
const TOLERANCE: Duration = Duration::from_secs(300);

fn check(header: Option<&str>, body: &[u8]) -> Result<(), E> {
    verify(header, body, SECRET, TOLERANCE, NOW)
}

/// Computed independently: `printf '%s' "1765000000.$BODY" | openssl dgst -sha256 -hmac whsec_test_secret`.
const EXPECTED: &str = "d16c557ef02d1491465b883b1d6d74f92a8e37c0ddce7aec2ea93dd9802874ab";

#[test]
fn the_signature_is_stripes_documented_hmac_of_timestamp_dot_body() {
    assert_eq!(sign(SECRET, NOW, BODY), EXPECTED);
    assert_eq!(header(SECRET, NOW, BODY), format!("t={NOW},v1={EXPECTED}"));
}

#[test]
fn a_genuine_header_passes() {
    assert_eq!(check(Some(&header(SECRET, NOW, BODY)), BODY), Ok(()));
}

#[test]
fn any_matching_v1_passes_and_v0_and_unknown_schemes_are_ignored() {
    let good = sign(SECRET, NOW, BODY);
    let other = sign("whsec_old_secret", NOW, BODY);
    let h = format!("t={NOW},v1={other},v1={good},v0=deadbeef,x=y");
    assert_eq!(check(Some(&h), BODY), Ok(()));
    let h = format!(" t={NOW} , v1={good} ");
    assert_eq!(check(Some(&h), BODY), Ok(()));
}

#[test]
fn no_header_is_missing() {
    assert_eq!(check(None, BODY), Err(E::Missing));
}

#[test]
fn headers_not_in_stripes_format_are_malformed() {
    let good = sign(SECRET, NOW, BODY);
    for h in [
        String::new(),
        "garbage".to_owned(),
        format!("v1={good}"),
        format!("t={NOW}"),
        format!("t={NOW},v0={good}"),
        format!("t=soon,v1={good}"),
        format!("t={NOW},t={NOW},v1={good}"),
        format!("t={NOW},v1{good}"),
        format!("t={NOW};v1={good}"),
    ] {
        assert_eq!(check(Some(&h), BODY), Err(E::Malformed), "{h}");
    }
}

#[test]
fn a_wrong_secret_a_tampered_body_or_a_forged_signature_is_a_mismatch() {
    let wrong_secret = header("whsec_other", NOW, BODY);
    assert_eq!(check(Some(&wrong_secret), BODY), Err(E::Mismatch));
    let genuine = header(SECRET, NOW, BODY);
    let tampered = br#"{"id":"evt_1","type":"payment_intent.succeeded" }"#;
    assert_eq!(check(Some(&genuine), tampered), Err(E::Mismatch));
    let forged = format!("t={NOW},v1={}", "0".repeat(64));
    assert_eq!(check(Some(&forged), BODY), Err(E::Mismatch));
    let not_hex = format!("t={NOW},v1=zz");
    assert_eq!(check(Some(&not_hex), BODY), Err(E::Mismatch));
    let truncated = format!("t={NOW},v1={}", &sign(SECRET, NOW, BODY)[..62]);
    assert_eq!(check(Some(&truncated), BODY), Err(E::Mismatch));
}

#[test]
fn the_timestamp_is_signed_so_moving_it_is_a_mismatch() {
    let sig = sign(SECRET, NOW, BODY);
    let moved = format!("t={},v1={sig}", NOW + 1);
    assert_eq!(check(Some(&moved), BODY), Err(E::Mismatch));
}

#[test]
fn a_genuine_signature_older_or_newer_than_the_tolerance_is_expired() {
    for t in [NOW - 301, NOW + 301, 0] {
        assert_eq!(check(Some(&header(SECRET, t, BODY)), BODY), Err(E::Expired));
    }
    for t in [NOW - 300, NOW + 300] {
        assert_eq!(check(Some(&header(SECRET, t, BODY)), BODY), Ok(()));
    }
}

#[test]
fn a_forged_old_signature_says_mismatch_not_expired() {
    let h = format!("t={},v1={}", NOW - 10_000, "ab".repeat(32));
    assert_eq!(check(Some(&h), BODY), Err(E::Mismatch));
}

#[test]
fn the_header_parser_keeps_every_v1() {
    let parsed = parse("t=5,v1=a,v0=b,v1=c").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.timestamp, 5);
    assert_eq!(parsed.v1, vec!["a", "c"]);
}

#[test]
fn refusals_name_their_reason() {
    assert_eq!(E::Missing.reason(), "missing");
    assert_eq!(E::Malformed.reason(), "malformed");
    assert_eq!(E::Expired.reason(), "expired");
    assert_eq!(E::Mismatch.reason(), "mismatch");
}
