//! `JsonBody<T>`: a JSON request body whose errors name the field at fault.
//!
//! poem-openapi's own `Json<T>` reports a missing field as "expected string, found
//! null" without saying which one. This payload has the same schema in the spec, but
//! when parsing fails it compares the body with `T`'s schema and answers 400
//! `VALIDATION_ERROR` with `details.field`: the first required field missing, or the
//! first field of the wrong type.

use std::ops::Deref;

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::{
    impl_apirequest_for_payload,
    payload::{ParsePayload, Payload},
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{ParseFromJSON, Type},
};
use serde_json::Value;

use crate::error::ApiError;

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T> Deref for JsonBody<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn check_content_type(content_type: &str) -> bool {
        poem_openapi::payload::Json::<T>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let data = Vec::<u8>::from_request(request, body).await?;
        Ok(Self(parse::<T>(&data)?))
    }
}

/// Parses `data` (empty means JSON `null`) as `T`, naming the field at fault.
fn parse<T: ParseFromJSON>(data: &[u8]) -> Result<T, ApiError> {
    let value: Value = if data.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(data).map_err(|e| {
            ApiError::new(
                poem::http::StatusCode::BAD_REQUEST,
                "INVALID_BODY",
                format!("the request body is not valid JSON: {e}"),
            )
        })?
    };
    // PostgreSQL text cannot hold NUL: refuse it here, naming the field, rather than
    // fail deep in a query.
    if let Some(field) = nul_in(&value, "") {
        return Err(ApiError::validation(
            &field,
            "must not contain NUL (\\u0000) characters",
        ));
    }
    T::parse_from_json(Some(value.clone()))
        .map_err(|err| diagnose::<T>(&value, &err.into_message()))
}

/// The path of the first string (or key) in `value` that contains NUL.
fn nul_in(value: &Value, path: &str) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => Some(if path.is_empty() {
            "body".to_owned()
        } else {
            path.to_owned()
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_in(v, &join(&i.to_string()))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(join(&k.replace('\0', "")))
            } else {
                nul_in(v, &join(k))
            }
        }),
        _ => None,
    }
}

impl_apirequest_for_payload!(JsonBody<T>, T: ParseFromJSON);

fn schema_of<T: Type>(registry: &Registry) -> Option<MetaSchema> {
    match T::schema_ref() {
        MetaSchemaRef::Reference(name) => registry.schemas.get(&name).cloned(),
        MetaSchemaRef::Inline(schema) => Some(*schema),
    }
}

fn type_matches(expected: &str, value: &Value) -> bool {
    match expected {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}

fn property_type(registry: &Registry, schema: &MetaSchemaRef) -> &'static str {
    match schema {
        MetaSchemaRef::Inline(s) => s.ty,
        MetaSchemaRef::Reference(name) => registry.schemas.get(name).map_or("object", |s| s.ty),
    }
}

/// The first field of `value` that does not fit `T`'s schema, as a 400.
fn diagnose<T: Type>(value: &Value, parse_message: &str) -> ApiError {
    let mut registry = Registry::new();
    T::register(&mut registry);
    let Some(schema) = schema_of::<T>(&registry) else {
        return ApiError::new(
            poem::http::StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            parse_message.to_owned(),
        );
    };
    let Some(object) = value.as_object() else {
        return ApiError::new(
            poem::http::StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            "the request body must be a JSON object",
        );
    };
    for field in &schema.required {
        if object.get(*field).is_none_or(Value::is_null) {
            return ApiError::validation(field, "is required");
        }
    }
    for (field, prop) in &schema.properties {
        if let Some(v) = object.get(*field).filter(|v| !v.is_null()) {
            let expected = property_type(&registry, prop);
            if !type_matches(expected, v) {
                return ApiError::validation(field, format!("must be of type {expected}"));
            }
        }
    }
    ApiError::new(
        poem::http::StatusCode::BAD_REQUEST,
        "INVALID_BODY",
        format!("the request body is not valid: {parse_message}"),
    )
}

/// An optional JSON request body: no body (or an empty one) is `None`, whatever the
/// `Content-Type`; anything else must be JSON of type `T`.
#[derive(Debug)]
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<T: Type> Payload for OptionalJsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn check_content_type(content_type: &str) -> bool {
        poem_openapi::payload::Json::<T>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for OptionalJsonBody<T> {
    const IS_REQUIRED: bool = false;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let data = Vec::<u8>::from_request(request, body).await?;
        if data.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        Ok(Self(Some(parse::<T>(&data)?)))
    }
}

impl<'a, T: ParseFromJSON> poem_openapi::ApiExtractor<'a> for OptionalJsonBody<T> {
    const TYPES: &'static [poem_openapi::ApiExtractorType] =
        &[poem_openapi::ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<poem_openapi::registry::MetaRequest> {
        Some(poem_openapi::registry::MetaRequest {
            description: None,
            content: vec![poem_openapi::registry::MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: poem_openapi::ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(ct) if !Self::check_content_type(ct) => {
                let data = <Vec<u8> as FromRequest>::from_request(request, body).await?;
                if data.iter().all(u8::is_ascii_whitespace) {
                    return Ok(Self(None));
                }
                Err(poem_openapi::error::ContentTypeError::NotSupported {
                    content_type: ct.to_owned(),
                }
                .into())
            }
            _ => <Self as ParsePayload>::from_request(request, body).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::nul_in;

    #[test]
    fn a_nul_anywhere_is_found_with_its_path() {
        assert_eq!(nul_in(&json!({"reason": "ok"}), ""), None);
        assert_eq!(
            nul_in(&json!({"reason": "a\0b"}), ""),
            Some("reason".to_owned())
        );
        assert_eq!(
            nul_in(&json!({"items": [{"name": "x"}, {"name": "\0"}]}), ""),
            Some("items.1.name".to_owned())
        );
        assert_eq!(nul_in(&json!("\0"), ""), Some("body".to_owned()));
        assert_eq!(nul_in(&json!({"a": 1, "b": [true, null]}), ""), None);
    }
}
