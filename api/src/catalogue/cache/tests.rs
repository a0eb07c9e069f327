//! Unit tests of the cache stamps.

use super::{stamp, unstamp};

#[test]
fn a_stamped_value_comes_back_only_under_its_generation() {
    let stored = stamp(42, br#"{"a":1}"#);
    assert_eq!(stored, br#"42:{"a":1}"#);
    assert_eq!(
        unstamp(stored.clone(), 42).as_deref(),
        Some(&br#"{"a":1}"#[..])
    );
    assert_eq!(unstamp(stored, 43), None);
}

#[test]
fn values_in_another_format_are_misses() {
    assert_eq!(unstamp(br#"{"generation":1,"data":[]}"#.to_vec(), 1), None);
    assert_eq!(unstamp(b"no colon here".to_vec(), 0), None);
    assert_eq!(unstamp(Vec::new(), 0), None);
    assert_eq!(unstamp(b"-1:[]".to_vec(), 1), None);
}
