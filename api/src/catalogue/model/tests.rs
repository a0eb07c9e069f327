//! Unit tests of product validation and categories.

use super::*;

#[test]
fn a_valid_product_parses_and_bad_fields_are_named() {
    assert!(NewProduct::parse("Tea", None, 450, None, Category::Beverages, 10, None).is_ok());
    let field = |r: Result<NewProduct, FieldError>| r.err().map(|e| e.0);
    assert_eq!(
        field(NewProduct::parse(
            "",
            None,
            1,
            None,
            Category::Beverages,
            1,
            None
        )),
        Some("name")
    );
    assert_eq!(
        field(NewProduct::parse(
            &"x".repeat(10_000),
            None,
            1,
            None,
            Category::Beverages,
            1,
            None
        )),
        Some("name")
    );
    assert_eq!(
        field(NewProduct::parse(
            "a",
            None,
            -1,
            None,
            Category::Beverages,
            1,
            None
        )),
        Some("price_cents")
    );
    assert_eq!(
        field(NewProduct::parse(
            "a",
            None,
            1,
            Some("dollars"),
            Category::Beverages,
            1,
            None
        )),
        Some("currency")
    );
    assert_eq!(
        field(NewProduct::parse(
            "a",
            None,
            1,
            None,
            Category::Beverages,
            -3,
            None
        )),
        Some("stock")
    );
}

#[test]
fn categories_round_trip_through_their_names() {
    for c in Category::ALL {
        assert_eq!(Category::parse(c.as_str()), Some(c));
    }
    assert_eq!(Category::parse("beverages"), Some(Category::Beverages));
    assert_eq!(Category::parse("WEAPONS"), None);
}
