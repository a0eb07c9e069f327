use super::*;

#[test]
fn backoff_doubles_from_the_idle_poll_up_to_the_cap() {
    assert_eq!(backoff(1), Duration::from_millis(300));
    assert_eq!(backoff(2), Duration::from_millis(600));
    assert_eq!(backoff(6), Duration::from_millis(9_600));
    assert_eq!(backoff(7), MAX_BACKOFF);
    assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
}

#[test]
fn a_refused_row_waits_longer_each_time_up_to_the_cap() {
    assert_eq!(row_backoff(1), Duration::from_secs(1));
    assert_eq!(row_backoff(2), Duration::from_secs(2));
    assert_eq!(row_backoff(5), Duration::from_secs(16));
    assert_eq!(row_backoff(7), ROW_MAX_BACKOFF);
    assert_eq!(row_backoff(i32::MAX), ROW_MAX_BACKOFF);
}

fn row(id: i64, key: &str, due: bool) -> Pending {
    Pending {
        id,
        topic: "t".into(),
        message_key: key.into(),
        payload: "{}".into(),
        attempts: 0,
        due,
    }
}

#[test]
fn a_batch_takes_one_row_per_key_and_none_behind_a_waiting_row() {
    let chosen = choose(vec![
        row(1, "a", false),
        row(2, "a", true),
        row(3, "b", true),
        row(4, "b", true),
        row(5, "c", true),
    ]);
    let ids: Vec<i64> = chosen.iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        vec![3, 5],
        "a waits behind its row 1; b's second row waits for the next batch"
    );
}
