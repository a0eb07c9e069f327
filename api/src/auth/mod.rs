//! Registration by e-mailed one-time code, login, token rotation and logout.
//!
//! Invariant: nothing of it lives in an API process. OTPs, throttling counters and
//! revoked sessions are in Redis; users and refresh tokens in PostgreSQL. Any instance
//! can serve any step.
//!
//! The use cases (methods of [`service::Auth`]): `registration`, `verification`,
//! `login`, `credentials` (password reset and change), `sessions` (rotation, logout,
//! revocation) and `authz` (roles and token versions), over `codes` (what every
//! e-mailed code shares), `attempts` and `otp` (codes in Redis), `throttle` (the
//! limits) and `users` (PostgreSQL). They fail with [`error::AuthError`], whose one
//! mapping to HTTP is in `error.rs`; `extract` and `client_ip` are the HTTP side.
//! Every Redis key is formatted in `keys.rs`.

pub mod attempts;
pub mod authz;
pub mod client_ip;
mod codes;
mod credentials;
pub mod error;
pub mod extract;
pub mod jwt;
pub mod keys;
mod login;
pub mod otp;
mod registration;
pub mod service;
mod sessions;
pub mod throttle;
pub mod users;
mod verification;
