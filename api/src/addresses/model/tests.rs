//! Parsing addresses: limits at and past each bound, the country list, phones, and
//! what a legacy registration keeps.

use super::*;

fn field_of(e: AddressError) -> &'static str {
    match e {
        AddressError::Invalid { field, .. } => field,
        other => panic!("not a field error: {other}"),
    }
}

#[test]
fn the_country_list_holds_every_assigned_code_and_nothing_else() {
    assert_eq!(ISO_3166.len(), 249);
    assert_eq!(country(" de ").ok().as_deref(), Some("DE"));
    assert_eq!(country("gb").ok().as_deref(), Some("GB"));
    for bad in ["UK", "XX", "", "USA", "ü1"] {
        assert_eq!(country(bad).map_err(field_of), Err("country"), "{bad}");
    }
}

#[test]
fn text_fields_are_trimmed_and_bounded_in_characters() {
    assert_eq!(name("  Ada  ").ok().as_deref(), Some("Ada"));
    assert!(name(&"é".repeat(200)).is_ok());
    assert_eq!(name(&"é".repeat(201)).map_err(field_of), Err("name"));
    assert_eq!(name("   ").map_err(field_of), Err("name"));
    assert_eq!(city(&"x".repeat(101)).map_err(field_of), Err("city"));
    assert_eq!(line2("  ").ok(), Some(None));
    assert_eq!(region(&"x".repeat(101)).map_err(field_of), Err("region"));
    assert_eq!(line1("a\nb").map_err(field_of), Err("line1"));
}

#[test]
fn postal_codes_and_phones_hold_only_their_characters() {
    assert!(postal_code("SW1A 1AA").is_ok());
    assert!(postal_code("12345-6789").is_ok());
    assert_eq!(postal_code("1234/5").map_err(field_of), Err("postal_code"));
    assert_eq!(
        postal_code(&"1".repeat(21)).map_err(field_of),
        Err("postal_code")
    );
    assert_eq!(
        phone("+1 (555) 010-0100").ok().flatten().as_deref(),
        Some("+1 (555) 010-0100")
    );
    assert_eq!(phone("123").map_err(field_of), Err("phone"));
    assert_eq!(phone("12a4").map_err(field_of), Err("phone"));
    assert_eq!(phone("(-) ").map_err(field_of), Err("phone"));
    assert!(phone(&"1".repeat(40)).is_ok());
    assert_eq!(phone(&"1".repeat(41)).map_err(field_of), Err("phone"));
}

#[test]
fn a_legacy_address_is_put_on_one_line_and_cut_on_a_character_boundary() {
    let long = format!("1 Main St\nSpringfield  {}", "ü".repeat(300));
    let pending = PendingAddress::from_legacy(Some(&long), Some("not a phone"), "US")
        .unwrap_or_else(|| panic!("an address"));
    assert_eq!(pending.line1.chars().count(), LEGACY_LINE_CHARS);
    assert!(pending.line1.starts_with("1 Main St Springfield ü"));
    assert_eq!(pending.phone, None);
    assert_eq!(pending.country, "US");
    assert_eq!(PendingAddress::from_legacy(Some("  \n "), None, "US"), None);
    assert_eq!(
        PendingAddress::from_legacy(None, Some("555-0100"), "US"),
        None
    );
    let kept = PendingAddress::from_legacy(Some("1 Main St"), Some(" 555-0100 "), "DE");
    assert_eq!(kept.and_then(|p| p.phone).as_deref(), Some("555-0100"));
}

#[test]
fn a_patch_changes_only_what_it_sends() {
    let fields = AddressFields {
        name: "Ada".into(),
        line1: "1 Main St".into(),
        line2: Some("Flat 2".into()),
        city: "Springfield".into(),
        region: Some("IL".into()),
        postal_code: "62701".into(),
        country: "US".into(),
        phone: Some("555-0100".into()),
    };
    let patch = AddressPatch::parse(RawPatch {
        name: None,
        line1: None,
        line2: Change::Clear,
        city: Some(" Chicago "),
        region: Change::Keep,
        postal_code: None,
        country: Some("ca"),
        phone: Change::Set(""),
        is_default_shipping: None,
        is_default_billing: None,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let after = patch.apply(fields.clone());
    assert_eq!(after.line2, None);
    assert_eq!(after.city, "Chicago");
    assert_eq!(after.region, fields.region);
    assert_eq!(after.country, "CA");
    assert_eq!(after.phone, None);
    assert_eq!(after.name, fields.name);
}
