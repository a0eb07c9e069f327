//! The client's IP, for per-IP limits.
//!
//! `X-Real-IP` is believed only when the peer is a trusted proxy (nginx); anyone else
//! could forge it to dodge a limit.

use std::net::IpAddr;

use poem::Request;

/// The client address of `req`.
pub fn client_ip(req: &Request, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
    match peer {
        Some(peer) if trusted_proxies.contains(&peer) => req
            .headers()
            .get("x-real-ip")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .or(Some(peer)),
        other => other,
    }
}
