use uuid::Uuid;

use super::model::{
    CategoryRow, KnownCategories, NewCategory, build_tree, check_name, check_slug, code_from_slug,
};

#[test]
fn a_code_is_the_slug_in_capitals_with_underscores() {
    assert_eq!(code_from_slug("frozen-food"), "FROZEN_FOOD");
    assert_eq!(code_from_slug("tea"), "TEA");
    let c = NewCategory::parse(" frozen-food ", "Frozen food", None, None).map_err(|e| e.1);
    assert_eq!(
        c.map(|c| (c.code, c.slug)),
        Ok(("FROZEN_FOOD".into(), "frozen-food".into()))
    );
}

#[test]
fn only_lowercase_words_joined_by_single_hyphens_are_slugs() {
    for good in ["a", "frozen-food", "x1-2y", &"a".repeat(80)] {
        assert!(check_slug(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "-a",
        "a-",
        "a--b",
        "Frozen",
        "a_b",
        "a b",
        "é",
        &"a".repeat(81),
    ] {
        assert_eq!(check_slug(bad).map_err(|e| e.0), Err("slug"), "{bad}");
    }
}

#[test]
fn names_are_one_to_a_hundred_printable_characters() {
    assert!(check_name("Fruits & Vegetables").is_ok());
    assert!(check_name(&"é".repeat(100)).is_ok());
    for bad in ["", "  ", "a\u{7}b", &"é".repeat(101)] {
        assert_eq!(check_name(bad).map_err(|e| e.0), Err("name"), "{bad:?}");
    }
    assert!(NewCategory::parse("a", "A", None, Some(1_000_001)).is_err());
    assert!(NewCategory::parse("a", "A", None, Some(-1)).is_err());
}

fn row(id: Uuid, parent: Option<Uuid>, name: &str, position: i32, own: i64) -> CategoryRow {
    CategoryRow {
        id,
        code: name.to_uppercase(),
        slug: name.to_owned(),
        name: name.to_owned(),
        parent_id: parent,
        position,
        own_products: own,
    }
}

#[test]
fn the_tree_orders_by_position_then_name_and_counts_each_subtree() {
    let (a, b, c, d) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let rows = vec![
        row(d, Some(b), "d", 0, 4),
        row(a, None, "b-root", 1, 1),
        row(b, None, "a-root", 1, 2),
        row(c, Some(b), "c", 0, 3),
    ];
    let tree = build_tree(&rows);
    let names: Vec<&str> = tree.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["a-root", "b-root"]);
    let kids: Vec<&str> = tree[0].children.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(kids, ["c", "d"]);
    assert_eq!(tree[0].product_count, 2 + 3 + 4);
    assert_eq!(tree[1].product_count, 1);
}

#[test]
fn known_categories_answer_a_code_or_a_slug_in_any_case() {
    let known = KnownCategories::new([("FRUITS_VEGETABLES".into(), "fruits-vegetables".into())]);
    for raw in [
        "FRUITS_VEGETABLES",
        "fruits_vegetables",
        " Fruits-Vegetables ",
    ] {
        assert_eq!(known.code_of(raw), Some("FRUITS_VEGETABLES"), "{raw}");
    }
    assert_eq!(known.code_of("WEAPONS"), None);
}
