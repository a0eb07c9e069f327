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

#[test]
fn a_product_is_created_draft_or_published_never_archived() {
    assert_eq!(check_new_status(None), Ok(ProductStatus::Published));
    assert_eq!(check_new_status(Some(" ")), Ok(ProductStatus::Published));
    assert_eq!(check_new_status(Some("Draft")), Ok(ProductStatus::Draft));
    assert_eq!(
        check_new_status(Some("published")),
        Ok(ProductStatus::Published)
    );
    for bad in ["archived", "active", "live"] {
        assert_eq!(check_new_status(Some(bad)).map_err(|e| e.0), Err("status"));
    }
}

#[test]
fn each_transition_starts_only_from_the_states_it_lists_and_never_from_where_it_ends() {
    use ProductStatus::{Archived, Draft, Published};
    let table: Vec<(&str, Vec<ProductStatus>, ProductStatus)> = Transition::ALL
        .iter()
        .map(|t| (t.verb(), t.from().to_vec(), t.to()))
        .collect();
    assert_eq!(
        table,
        [
            ("publish", vec![Draft, Archived], Published),
            ("unpublish", vec![Published], Draft),
            ("archive", vec![Draft, Published], Archived),
        ]
    );
    for t in Transition::ALL {
        assert!(!t.from().contains(&t.to()), "{t:?} would succeed twice");
        assert_eq!(t.action(), format!("product.{}", t.verb()));
    }
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
