//! Registration by e-mailed one-time code, login, token rotation and logout.
//!
//! Invariant: nothing of it lives in an API process. OTPs, throttling counters and
//! revoked sessions are in Redis; users and refresh tokens in PostgreSQL. Any instance
//! can serve any step.

pub mod attempts;
pub mod client_ip;
pub mod extract;
pub mod jwt;
pub mod keys;
pub mod otp;
pub mod service;
pub mod throttle;
pub mod users;
