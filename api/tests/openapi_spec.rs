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

/// Every stable error code the API's code can answer with: the literals written
/// beside a status (`ApiError::new(StatusCode::X, "CODE", …)`, `StatusCode::X =>
/// "CODE"`, `404 => "CODE"`), as the first of a `(code, message)` pair, or given to
/// the orders' `conflict("CODE", …)`.
fn codes_in_the_code() -> std::collections::BTreeSet<String> {
    let re = regex::Regex::new(
        r#"(?:StatusCode::[A-Z_]+\s*(?:,|=>)|\b\d{3}\s*=>|\b_\s*=>|if s >= \d+ =>|=>\s*\(|\bconflict\()\s*"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{4,})""#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut codes = std::collections::BTreeSet::new();
    let mut dirs = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tests.rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                codes.extend(re.captures_iter(&text).map(|c| c[1].to_owned()));
            }
        }
    }
    codes
}

#[test]
fn every_error_code_the_code_can_answer_is_named_in_the_spec() {
    let spec = api::startup::spec_json();
    let codes = codes_in_the_code();
    // The scan finds the codes (a broken pattern must not pass by finding none).
    for known in [
        "CART_EMPTY",
        "INSUFFICIENT_STOCK",
        "OTP_COOLDOWN",
        "NOT_READY",
    ] {
        assert!(codes.contains(known), "the scan missed {known}: {codes:?}");
    }
    let missing: Vec<&String> = codes
        .iter()
        .filter(|code| !spec.contains(&format!("`{code}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "error codes the spec does not name: {missing:?}"
    );
}

#[test]
fn the_place_order_operation_documents_its_409_and_422() {
    let spec: serde_json::Value =
        serde_json::from_str(&api::startup::spec_json()).unwrap_or_default();
    let responses = &spec["paths"]["/api/orders"]["post"]["responses"];
    for (status, code) in [
        ("409", "INSUFFICIENT_STOCK"),
        ("422", "CART_EMPTY"),
        ("401", "UNAUTHORIZED"),
    ] {
        let description = responses[status]["description"]
            .as_str()
            .unwrap_or_default();
        assert!(description.contains(code), "{status}: {description}");
    }
}
