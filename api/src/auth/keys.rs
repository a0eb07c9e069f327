//! Every Redis key auth uses, in one place.
//!
//! Invariant: these strings are the contract with the data already in Redis (and with
//! every instance running an older build during a rollout): a key's bytes never
//! change. A new key gets a new function here; nothing else in `auth` formats one.
//!
//! Families: `reg:*` registration attempts (`attempts.rs`), `otp:*` reset codes and
//! every code limit, `login:*` login limits (`throttle.rs`), `authz:*` published roles
//! and token versions, `revoked:sid:*` logged-out sessions.

use uuid::Uuid;

/// One registration attempt of `email`: a hash `{mac, hash, name, tries}`.
pub fn reg_attempt(email: &str, token: &str) -> String {
    format!(
        "{}{}",
        reg_attempt_prefix(email),
        token.to_ascii_lowercase()
    )
}

/// The prefix of every attempt key of `email` (the Lua scripts append the token).
pub fn reg_attempt_prefix(email: &str) -> String {
    format!("reg:a:{email}:")
}

/// The set of every attempt made for `email`.
pub fn reg_attempts(email: &str) -> String {
    format!("reg:s:{email}")
}

/// The code-only (legacy) tries of `email`.
pub fn reg_legacy_tries(email: &str) -> String {
    format!("reg:l:{email}")
}

/// Each sending client's attempt for `email`.
pub fn reg_senders(email: &str) -> String {
    format!("reg:w:{email}")
}

/// The live `scope` code of `email` (a hash `{mac, tries}`).
pub fn otp(scope: &str, email: &str) -> String {
    format!("otp:{scope}:{email}")
}

/// The send cooldown of `purpose` codes to `email` asked from `bucket`.
pub fn otp_cooldown(purpose: &str, email: &str, bucket: &str) -> String {
    format!("otp:cooldown:{purpose}:{email}:{bucket}")
}

/// The `purpose` codes sent to `email` asked from `bucket` this hour.
pub fn otp_sent(purpose: &str, email: &str, bucket: &str) -> String {
    format!("otp:sent:{purpose}:{email}:{bucket}")
}

/// The codes asked from `bucket` this hour, over every address.
pub fn otp_sent_by(bucket: &str) -> String {
    format!("otp:sent:ip:{bucket}")
}

/// The wrong codes from `bucket` this hour, over every account.
pub fn otp_wrong_from(bucket: &str) -> String {
    format!("otp:verify:fail:ip:{bucket}")
}

/// The wrong `purpose` codes for `email` this hour, from every address.
pub fn otp_wrong_for(purpose: &str, email: &str) -> String {
    format!("otp:verify:fail:{purpose}:{email}")
}

/// Login failures of `email` from `bucket`.
pub fn login_fail_pair(email: &str, bucket: &str) -> String {
    format!("login:fail:pair:{email}:{bucket}")
}

/// Login failures from `bucket`, over every account.
pub fn login_fail_ip(bucket: &str) -> String {
    format!("login:fail:ip:{bucket}")
}

/// Login failures of `email`, from every address.
pub fn login_fail_account(email: &str) -> String {
    format!("login:fail:acct:{email}")
}

/// When the next judged login of `email` may run (ms since the epoch).
pub fn login_next(email: &str) -> String {
    format!("login:next:{email}")
}

/// Set when `bucket` logged in to `email` before.
pub fn login_known(email: &str, bucket: &str) -> String {
    format!("login:known:{email}:{bucket}")
}

/// A `SCAN` pattern over every [`login_fail_pair`] key of an address already escaped
/// for glob matching.
pub fn login_fail_pair_pattern(escaped_email: &str) -> String {
    format!("login:fail:pair:{escaped_email}:*")
}

/// A `SCAN` pattern over every [`login_known`] key of an address already escaped for
/// glob matching.
pub fn login_known_pattern(escaped_email: &str) -> String {
    format!("login:known:{escaped_email}:*")
}

/// `ver|role` of `user`, as published to every instance.
pub fn authz(user: Uuid) -> String {
    format!("authz:{user}")
}

/// Set while the access tokens of session `sid` must be refused.
pub fn revoked_session(sid: Uuid) -> String {
    format!("revoked:sid:{sid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_keeps_its_bytes() {
        let (e, b) = ("a@x.io", "10.0.0.1");
        let id = Uuid::nil();
        assert_eq!(reg_attempt(e, "AB"), "reg:a:a@x.io:ab");
        assert_eq!(reg_attempt_prefix(e), "reg:a:a@x.io:");
        assert_eq!(reg_attempts(e), "reg:s:a@x.io");
        assert_eq!(reg_legacy_tries(e), "reg:l:a@x.io");
        assert_eq!(reg_senders(e), "reg:w:a@x.io");
        assert_eq!(otp("reset", e), "otp:reset:a@x.io");
        assert_eq!(
            otp_cooldown("verify", e, b),
            "otp:cooldown:verify:a@x.io:10.0.0.1"
        );
        assert_eq!(otp_sent("verify", e, b), "otp:sent:verify:a@x.io:10.0.0.1");
        assert_eq!(otp_sent_by(b), "otp:sent:ip:10.0.0.1");
        assert_eq!(otp_wrong_from(b), "otp:verify:fail:ip:10.0.0.1");
        assert_eq!(otp_wrong_for("reset", e), "otp:verify:fail:reset:a@x.io");
        assert_eq!(login_fail_pair(e, b), "login:fail:pair:a@x.io:10.0.0.1");
        assert_eq!(login_fail_ip(b), "login:fail:ip:10.0.0.1");
        assert_eq!(login_fail_account(e), "login:fail:acct:a@x.io");
        assert_eq!(login_next(e), "login:next:a@x.io");
        assert_eq!(login_known(e, b), "login:known:a@x.io:10.0.0.1");
        assert_eq!(login_fail_pair_pattern(e), "login:fail:pair:a@x.io:*");
        assert_eq!(login_known_pattern(e), "login:known:a@x.io:*");
        assert_eq!(authz(id), format!("authz:{id}"));
        assert_eq!(revoked_session(id), format!("revoked:sid:{id}"));
    }
}
