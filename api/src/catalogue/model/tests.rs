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

#[test]
fn the_rating_average_is_rounded_half_up_to_one_decimal_and_none_without_ratings() {
    assert_eq!(rating_average(0, 0), None);
    assert_eq!(rating_average(1, 5), Some(5.0));
    assert_eq!(rating_average(3, 13), Some(4.3)); // 4.333...
    assert_eq!(rating_average(4, 17), Some(4.3)); // 4.25 rounds up
    assert_eq!(rating_average(3, 11), Some(3.7)); // 3.666...
    assert_eq!(rating_average(20, 20), Some(1.0));
}
