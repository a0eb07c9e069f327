//! Image validation: the type is read from the bytes, never from the client's claim.

use poem::http::StatusCode;
use serde_json::json;

use crate::error::ApiError;

/// Largest image accepted (5 MiB).
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

/// The content type of `bytes` if it is a JPEG, PNG or WebP image.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Checks one uploaded image: 413 when too large, 415 when not an accepted type.
pub fn validate(field: &str, bytes: &[u8]) -> Result<&'static str, ApiError> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "IMAGE_TOO_LARGE",
            format!("{field}: images are limited to {MAX_IMAGE_BYTES} bytes"),
        )
        .with_details(
            json!({ "field": field, "limit_bytes": MAX_IMAGE_BYTES, "size_bytes": bytes.len() }),
        ));
    }
    sniff(bytes).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_IMAGE_TYPE",
            format!("{field}: only JPEG, PNG and WebP images are accepted"),
        )
        .with_details(
            json!({ "field": field, "accepted": ["image/jpeg", "image/png", "image/webp"] }),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_comes_from_the_bytes() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"hello, I am a text file"), None);
        assert_eq!(sniff(b"GIF89a"), None);
    }

    #[test]
    fn too_large_is_413_and_text_is_415() {
        let big = vec![0xFF; MAX_IMAGE_BYTES + 1];
        assert_eq!(
            validate("images", &big).err().map(|e| e.status.as_u16()),
            Some(413)
        );
        assert_eq!(
            validate("images", b"plain text")
                .err()
                .map(|e| e.status.as_u16()),
            Some(415)
        );
    }
}
