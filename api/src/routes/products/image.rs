//! The image answer of `GET /api/products/{id}/images/{image_id}`: the bytes with a
//! strong `ETag` and long-lived caching, or 304 when the client's copy is current.

use poem_openapi::{
    ApiResponse,
    registry::{
        MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
    },
    types::Type,
};

/// Image bytes, or 304. Documented by hand: one 200 response with the three image
/// types (a derived enum would keep only one content type per status).
pub enum ImageResponse {
    /// The bytes, their content type and strong ETag.
    Image {
        /// Bytes (shared with the instance's image cache, never copied).
        bytes: bytes::Bytes,
        /// `image/jpeg`, `image/png` or `image/webp`.
        content_type: &'static str,
        /// Strong validator.
        etag: String,
    },
    /// The client's copy is current.
    NotModified {
        /// Strong validator.
        etag: String,
    },
}

impl poem::IntoResponse for ImageResponse {
    fn into_response(self) -> poem::Response {
        match self {
            Self::Image {
                bytes,
                content_type,
                etag,
            } => poem::Response::builder()
                .content_type(content_type)
                .header(poem::http::header::ETAG, etag)
                .header(poem::http::header::CACHE_CONTROL, IMAGE_CACHE_CONTROL)
                .body(bytes),
            Self::NotModified { etag } => poem::Response::builder()
                .status(poem::http::StatusCode::NOT_MODIFIED)
                .header(poem::http::header::ETAG, etag)
                .header(poem::http::header::CACHE_CONTROL, IMAGE_CACHE_CONTROL)
                .finish(),
        }
    }
}

impl ApiResponse for ImageResponse {
    fn meta() -> MetaResponses {
        let header = |name: &str, description: &str| MetaHeader {
            name: name.to_owned(),
            description: Some(description.to_owned()),
            required: true,
            deprecated: false,
            schema: String::schema_ref(),
        };
        let binary = || {
            let mut schema = MetaSchema::new_with_format("string", "binary");
            schema.description = Some("the image bytes");
            MetaSchemaRef::Inline(Box::new(schema))
        };
        MetaResponses {
            responses: vec![
                MetaResponse {
                    description: "The image bytes, typed from their content",
                    status: Some(200),
                    status_range: None,
                    content: ["image/jpeg", "image/png", "image/webp"]
                        .into_iter()
                        .map(|content_type| MetaMediaType {
                            content_type,
                            schema: binary(),
                        })
                        .collect(),
                    headers: vec![
                        header("ETag", "Strong validator (SHA-256 of the bytes)"),
                        header("Cache-Control", "Images never change under one id"),
                    ],
                },
                MetaResponse {
                    description: "The client's copy is current (`If-None-Match` matched)",
                    status: Some(304),
                    status_range: None,
                    content: vec![],
                    headers: vec![header("ETag", "Strong validator")],
                },
            ],
        }
    }

    fn register(_registry: &mut Registry) {}
}

const IMAGE_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// Whether `If-None-Match` names `etag` (in a list, weak or not) or is `*`.
pub(super) fn etag_matches(if_none_match: Option<&str>, etag: &str) -> bool {
    if_none_match.is_some_and(|v| {
        v.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t == etag || t.strip_prefix("W/") == Some(etag)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::etag_matches;

    #[test]
    fn if_none_match_matches_the_same_etag_in_a_list_or_star() {
        let etag = "\"abc\"";
        assert!(etag_matches(Some("\"abc\""), etag));
        assert!(etag_matches(Some("\"x\", \"abc\""), etag));
        assert!(etag_matches(Some("*"), etag));
        assert!(!etag_matches(Some("\"abd\""), etag));
        assert!(!etag_matches(None, etag));
    }
}
