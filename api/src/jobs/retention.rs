//! The retention jobs: what each deletes, from which table, and why the rest stays.

use sea_orm::{DbBackend, Statement, Value};

use super::BATCH;
use crate::configuration::RetentionSettings;

/// A retention job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Published outbox rows, after `RETENTION_OUTBOX_DAYS`.
    Outbox,
    /// `processed_events`, after `RETENTION_PROCESSED_EVENTS_DAYS`.
    ProcessedEvents,
    /// Expired idempotency keys.
    IdempotencyKeys,
    /// Refresh tokens of sessions dead for a day.
    RefreshTokens,
    /// Replayed dead letters, after `RETENTION_DEAD_LETTERS_DAYS`.
    DeadLetters,
    /// The jobs' own history, after `RETENTION_JOB_RUNS_DAYS`.
    JobRuns,
}

impl Job {
    /// Every job, in the order a tick runs them: the outbox before
    /// `processed_events`, whose rows are kept while their event is in the outbox.
    pub const ALL: [Job; 6] = [
        Job::Outbox,
        Job::ProcessedEvents,
        Job::IdempotencyKeys,
        Job::RefreshTokens,
        Job::DeadLetters,
        Job::JobRuns,
    ];

    /// The job's name in `scheduled_jobs` (and its metric label).
    pub fn name(self) -> &'static str {
        match self {
            Job::Outbox => "retention.outbox",
            Job::ProcessedEvents => "retention.processed_events",
            Job::IdempotencyKeys => "retention.idempotency_keys",
            Job::RefreshTokens => "retention.refresh_tokens",
            Job::DeadLetters => "retention.dead_letters",
            Job::JobRuns => "retention.scheduled_job_runs",
        }
    }

    /// The table it deletes from.
    pub fn table(self) -> &'static str {
        match self {
            Job::Outbox => "outbox",
            Job::ProcessedEvents => "processed_events",
            Job::IdempotencyKeys => "idempotency_keys",
            Job::RefreshTokens => "refresh_tokens",
            Job::DeadLetters => "dead_letters",
            Job::JobRuns => "scheduled_job_runs",
        }
    }

    /// The condition (over the row `t`) under which a row has outlived its purpose,
    /// and its parameters.
    fn condition(self, settings: &RetentionSettings) -> (&'static str, Vec<Value>) {
        let days = |d: u32| vec![Value::from(i32::try_from(d).unwrap_or(i32::MAX))];
        match self {
            // Published for longer than the window. Never a pending row, never a parked
            // one (`failed_at`: kept until an operator deals with it), and never one
            // whose event a dead letter not yet replayed still names: the replay sends
            // that outbox row again, and would find nothing to send.
            Job::Outbox => (
                "t.published_at < now() - make_interval(days => $1)
                 AND t.failed_at IS NULL
                 AND NOT EXISTS (SELECT 1 FROM dead_letters d
                                 WHERE d.event_id = t.event_id AND d.replayed_at IS NULL)",
                days(settings.outbox_days),
            ),
            // Older than the window (at least the outbox's, checked at start-up), and
            // only once the event has left the outbox: while the outbox holds it, it can
            // be published again (a replay, a relay crash before its commit), and every
            // consumer must still recognise it. A replay long after the first delivery
            // keeps the row in the outbox, and so these rows with it.
            Job::ProcessedEvents => (
                "t.processed_at < now() - make_interval(days => $1)
                 AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = t.event_id)",
                days(settings.processed_events_days),
            ),
            // An expired key is dead: a request with it claims it afresh (and deletes
            // it itself first, `orders::idempotency::claim`).
            Job::IdempotencyKeys => ("t.expires_at < now()", Vec::new()),
            // Reuse detection (`Auth::refresh`, `auth/sessions.rs`): a rotated token
            // (`used_at`) presented again revokes its whole family, even once the token
            // itself has expired (the reuse check comes before the expiry check). Its
            // own `expires_at` says nothing about the family: its successor, issued at
            // the rotation, lives on. So a rotated token is kept while any token of its
            // family can still be used, and rows go only a family at a time, once every
            // token of the family has expired or was revoked (`revoked_at`: logout,
            // reuse, password or role change; it applies to the whole family) more than
            // a day ago. The day also covers the access tokens of the family's last
            // rotation (they may outlive a capped refresh token by up to their own
            // 15 minutes) and any clock skew. A row the revocation missed (issued by a
            // rotation racing it) is still usable, so it keeps its family.
            Job::RefreshTokens => (
                "(t.expires_at < now() - interval '1 day' OR t.revoked_at < now() - interval '1 day')
                 AND NOT EXISTS (SELECT 1 FROM refresh_tokens f
                                 WHERE f.family_id = t.family_id
                                   AND f.expires_at >= now() - interval '1 day'
                                   AND (f.revoked_at IS NULL OR f.revoked_at >= now() - interval '1 day'))",
                Vec::new(),
            ),
            // Replayed long enough ago; one not replayed is kept whatever its age.
            Job::DeadLetters => (
                "t.replayed_at < now() - make_interval(days => $1)",
                days(settings.dead_letters_days),
            ),
            // The jobs' history (an unfinished run that old is a crashed one).
            Job::JobRuns => (
                "t.started_at < now() - make_interval(days => $1)",
                days(settings.job_runs_days),
            ),
        }
    }

    /// One batch: at most [`BATCH`] rows, the condition rechecked on each.
    pub(super) fn batch_statement(self, settings: &RetentionSettings) -> Statement {
        let (condition, values) = self.condition(settings);
        let table = self.table();
        Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "DELETE FROM {table} AS t
                 WHERE t.ctid = ANY(ARRAY(SELECT t.ctid FROM {table} AS t WHERE {condition} LIMIT {BATCH}))
                   AND {condition}"
            ),
            values,
        )
    }
}
