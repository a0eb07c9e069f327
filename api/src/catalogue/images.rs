//! Image validation: the type is read from the bytes, never from the client's claim.

use super::error::CatalogueError;

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
pub fn validate(field: &str, bytes: &[u8]) -> Result<&'static str, CatalogueError> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(CatalogueError::ImageTooLarge {
            field: field.to_owned(),
            size_bytes: bytes.len(),
        });
    }
    sniff(bytes).ok_or_else(|| CatalogueError::UnsupportedImageType {
        field: field.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

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
            validate("images", &big)
                .err()
                .map(ApiError::from)
                .map(|e| e.status.as_u16()),
            Some(413)
        );
        assert_eq!(
            validate("images", b"plain text")
                .err()
                .map(ApiError::from)
                .map(|e| e.status.as_u16()),
            Some(415)
        );
    }
}
