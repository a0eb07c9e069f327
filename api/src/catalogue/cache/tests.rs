//! Unit tests of the cache stamps and of when a stamped value may be served.

use std::time::Duration;

use super::{Freshness, Stamp, stamp, unstamp};

const BOUND: Duration = Duration::from_millis(1000);

fn at(generation: i64, stock_version: i64, read_at_ms: i64) -> Stamp {
    Stamp {
        generation,
        stock_version,
        read_at_ms,
    }
}

#[test]
fn a_stamped_value_comes_back_with_its_stamp() {
    let stored = stamp(at(42, 7, 1_700_000_000_000), br#"{"a":1}"#);
    assert_eq!(stored, br#"v3|42:7:1700000000000:{"a":1}"#);
    let Some((stamped, json)) = unstamp(stored) else {
        panic!("a stamped value comes back");
    };
    assert_eq!(stamped, at(42, 7, 1_700_000_000_000));
    assert_eq!(&json[..], br#"{"a":1}"#);
}

#[test]
fn values_in_another_format_are_misses() {
    assert_eq!(unstamp(br#"{"generation":1,"data":[]}"#.to_vec()), None);
    assert_eq!(unstamp(b"no colon here".to_vec()), None);
    assert_eq!(unstamp(Vec::new()), None);
    // An older release's `generation:json`, even one that looks like this format.
    assert_eq!(unstamp(br#"3:[{"id":"x","stock":1}]"#.to_vec()), None);
    assert_eq!(unstamp(br#"3:4:5:{"a":1}"#.to_vec()), None);
    assert_eq!(unstamp(b"v3|3:x:5:[]".to_vec()), None);
}

#[test]
fn an_older_release_reads_this_format_as_no_number() {
    // The old reader took everything before the first colon as the generation.
    let stored = stamp(at(42, 7, 1), b"[]");
    let colon = stored.iter().position(|&b| b == b':').unwrap_or_default();
    assert!(
        std::str::from_utf8(&stored[..colon])
            .unwrap_or_default()
            .parse::<i64>()
            .is_err()
    );
}

#[test]
fn another_generation_is_never_served() {
    let value = at(4, 9, 10_000);
    assert_eq!(value.freshness((5, 9), 10_001, BOUND), Freshness::Stale);
    assert_eq!(value.freshness((3, 9), 10_001, BOUND), Freshness::Stale);
}

#[test]
fn without_a_stock_move_a_value_stays_fresh_whatever_its_age() {
    let value = at(4, 9, 10_000);
    assert_eq!(value.freshness((4, 9), 70_000, BOUND), Freshness::Fresh);
}

#[test]
fn after_a_stock_move_a_value_is_served_until_the_bound_and_refreshed_from_half() {
    let value = at(4, 9, 10_000);
    assert_eq!(value.freshness((4, 10), 10_499, BOUND), Freshness::Fresh);
    assert_eq!(value.freshness((4, 10), 10_500, BOUND), Freshness::Refresh);
    assert_eq!(value.freshness((4, 10), 10_999, BOUND), Freshness::Refresh);
    assert_eq!(value.freshness((4, 10), 11_000, BOUND), Freshness::Stale);
    // A value from an instance whose clock runs ahead counts as just read.
    assert_eq!(value.freshness((4, 10), 9_000, BOUND), Freshness::Fresh);
    // A bound of zero: any stock move makes it stale at once.
    assert_eq!(
        value.freshness((4, 10), 10_000, Duration::ZERO),
        Freshness::Stale
    );
}
