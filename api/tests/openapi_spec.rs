//! The committed OpenAPI document is exactly what the code generates.
//! Regenerate it with `scripts/openapi.sh` after changing the API.

#[test]
fn the_committed_openapi_spec_matches_the_generated_one() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = api::startup::spec_json();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run scripts/openapi.sh and commit the result"
    );
}

#[test]
fn every_operation_documents_the_error_shape() {
    let spec: serde_json::Value =
        serde_json::from_str(&api::startup::spec_json()).unwrap_or_default();
    let paths = spec["paths"].as_object().cloned().unwrap_or_default();
    assert!(!paths.is_empty());
    for (path, ops) in paths {
        for (method, op) in ops.as_object().cloned().unwrap_or_default() {
            let four = &op["responses"]["4XX"]["content"]["application/json; charset=utf-8"]["schema"]
                ["$ref"];
            assert_eq!(four, "#/components/schemas/ErrorBody", "{method} {path}");
        }
    }
}
