//! Unit tests of product validation.

use super::*;

fn bev() -> String {
    "BEVERAGES".to_owned()
}

#[test]
fn a_valid_product_parses_and_bad_fields_are_named() {
    assert!(NewProduct::parse("Tea", None, 450, None, bev(), 10, None).is_ok());
    let field = |r: Result<NewProduct, FieldError>| r.err().map(|e| e.0);
    assert_eq!(
        field(NewProduct::parse("", None, 1, None, bev(), 1, None)),
        Some("name")
    );
    assert_eq!(
        field(NewProduct::parse(
            &"x".repeat(10_000),
            None,
            1,
            None,
            bev(),
            1,
            None
        )),
        Some("name")
    );
    assert_eq!(
        field(NewProduct::parse("a", None, -1, None, bev(), 1, None)),
        Some("price_cents")
    );
    assert_eq!(
        field(NewProduct::parse(
            "a",
            None,
            1,
            Some("dollars"),
            bev(),
            1,
            None
        )),
        Some("currency")
    );
    assert_eq!(
        field(NewProduct::parse("a", None, 1, None, bev(), -3, None)),
        Some("stock")
    );
}
