//! The success envelope: `{"success": true, "data": ..., "message": "...",
//! "pagination": {...}}`, with `pagination` only on paged lists.

use std::marker::PhantomData;

use bytes::Bytes;
use poem::{IntoResponse, Response};
use poem_openapi::{
    Object,
    payload::Payload,
    registry::{MetaSchemaRef, Registry},
    types::{ParseFromJSON, ToJSON, Type},
};

/// Paging of a list response.
#[derive(Debug, Clone, Object)]
pub struct Pagination {
    /// 1-based page number.
    pub page: u64,
    /// Items per page.
    pub page_size: u64,
    /// Items matching in all pages.
    pub total: u64,
}

/// A successful response.
#[derive(Debug, Clone, Object)]
pub struct Envelope<T: ParseFromJSON + ToJSON> {
    /// Always `true`.
    pub success: bool,
    /// The payload.
    pub data: T,
    /// A short human-readable note.
    pub message: String,
    /// Present when `data` is one page of a list.
    #[oai(skip_serializing_if_is_none)]
    pub pagination: Option<Pagination>,
}

impl<T: ParseFromJSON + ToJSON> Envelope<T> {
    /// Wraps `data` with a message.
    pub fn new(data: T, message: impl Into<String>) -> Self {
        Self {
            success: true,
            data,
            message: message.into(),
            pagination: None,
        }
    }

    /// Wraps one page of a list.
    pub fn paged(data: T, message: impl Into<String>, pagination: Pagination) -> Self {
        Self {
            pagination: Some(pagination),
            ..Self::new(data, message)
        }
    }
}

/// A JSON response body serialized already (a cached listing), documented in the
/// OpenAPI as `T`. Sent as it is: nothing is parsed or re-encoded.
pub struct JsonBytes<T> {
    bytes: Bytes,
    schema: PhantomData<fn() -> T>,
}

impl<T: ToJSON> JsonBytes<T> {
    /// Bytes that hold the JSON of a `T`.
    pub fn new(bytes: Bytes) -> Self {
        Self {
            bytes,
            schema: PhantomData,
        }
    }

    /// The JSON of `value`, exactly as `poem_openapi::payload::Json` would send it.
    pub fn encode(value: &T) -> Vec<u8> {
        value.to_json_string().into_bytes()
    }
}

impl<T: Type> Payload for JsonBytes<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type> IntoResponse for JsonBytes<T> {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(<Self as Payload>::CONTENT_TYPE)
            .body(self.bytes)
    }
}
