use std::time::Duration;

use sea_orm::Value;

use super::*;
use crate::configuration::RetentionSettings;

fn settings() -> RetentionSettings {
    RetentionSettings {
        interval: Duration::from_secs(3600),
        outbox_days: 7,
        processed_events_days: 14,
        dead_letters_days: 30,
        job_runs_days: 30,
    }
}

#[test]
fn every_job_has_its_own_name_and_a_reported_table() {
    let mut names: Vec<_> = Job::ALL.iter().map(|j| j.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Job::ALL.len());
    for job in Job::ALL {
        assert!(TABLES.contains(&job.table()), "{job:?}");
    }
}

#[test]
fn the_outbox_goes_before_the_processed_events_it_protects() {
    let position = |job| Job::ALL.iter().position(|j| *j == job);
    assert!(position(Job::Outbox) < position(Job::ProcessedEvents));
}

#[test]
fn a_batch_rechecks_its_condition_and_binds_the_window() {
    let statement = Job::Outbox.batch_statement(&settings());
    assert_eq!(statement.sql.matches("t.failed_at IS NULL").count(), 2);
    assert!(statement.sql.contains(&format!("LIMIT {BATCH}")));
    assert_eq!(statement.values.map(|v| v.0), Some(vec![Value::from(7i32)]));
    let statement = Job::IdempotencyKeys.batch_statement(&settings());
    assert!(statement.values.is_none_or(|v| v.0.is_empty()));
}

#[test]
fn bytes_are_printed_in_binary_units() {
    assert_eq!(human_bytes(512), "512 B");
    assert_eq!(human_bytes(8192), "8.0 KiB");
    assert_eq!(human_bytes(1_572_864), "1.5 MiB");
}

#[test]
fn the_report_ends_with_the_total_deleted() {
    let size = |table, rows| TableSize {
        table,
        rows,
        bytes: 8192,
    };
    let reports = vec![
        Report {
            job: Job::Outbox,
            outcome: Outcome::Ran {
                run: 3,
                deleted: 5,
                error: None,
            },
            elapsed: Duration::from_millis(12),
        },
        Report {
            job: Job::DeadLetters,
            outcome: Outcome::Ran {
                run: 1,
                deleted: 2,
                error: Some("boom".into()),
            },
            elapsed: Duration::ZERO,
        },
    ];
    let text = render_report(&[size("outbox", 10)], &[size("outbox", 5)], &reports);
    assert!(text.contains("stopped: boom"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("outbox") && l.contains("10"))
    );
    assert_eq!(text.lines().last(), Some("deleted 7 rows"));
}
