//! Scheduled jobs: the retention jobs, each run once per period over every instance.
//!
//! Invariants:
//! - every instance ticks about once a minute ([`TICK`], first tick at a random offset,
//!   each later one with a little jitter) and offers every job in [`Job::ALL`]; a job
//!   runs only where this conditional update returns a row:
//!   `UPDATE scheduled_jobs SET last_started_at = now(), runs = runs + 1
//!    WHERE name = $1 AND last_started_at <= now() - period RETURNING runs`.
//!   Row-level locking makes it race-free: a second instance's update waits for the
//!   first one's commit, re-reads the row it changed and no longer matches it. So a
//!   job starts once per period, whatever the number of instances;
//! - every run, scheduled or forced (`api retention`), holds a transaction-scoped
//!   advisory lock of its job for its whole duration, on a connection that does
//!   nothing else (no writes, so no transaction id: it holds back no vacuum). A forced
//!   run and a scheduled one therefore never overlap: a tick that finds the lock taken
//!   skips the job, a forced run waits for it (at most [`FORCED_LOCK_WAIT`]);
//! - rows are deleted in batches of [`BATCH`], each batch its own short transaction,
//!   until a batch comes back short. Each batch deletes by `ctid` and rechecks the
//!   whole condition on the row it deletes, so a row changed meanwhile (a dead letter's
//!   event replayed) is kept if it no longer qualifies;
//! - each run is recorded in `scheduled_job_runs` (instance, start, end, rows deleted,
//!   error). A failing job logs a warning and records its error; nothing panics. The
//!   loop ends at shutdown, and a running job stops between two batches.
//!
//! What each job keeps, and why, is written on [`Job::condition`].
//!
//! Layout: `scheduler` (the loop, the claim and the locks), `retention` (each job's
//! table and condition), `outcome` (what a run reports), `metrics` (table sizes and
//! the jobs' counters) and `report` (what `api retention` prints).

use std::time::Duration;

mod metrics;
mod outcome;
mod report;
mod retention;
mod scheduler;

pub use metrics::{JobMetrics, TableSize, table_sizes};
pub use outcome::{Mode, Outcome, Report};
pub use report::{human_bytes, render_report};
pub use retention::Job;
pub use scheduler::Scheduler;

/// Rows deleted per batch (one transaction each).
pub const BATCH: u64 = 5000;
/// How often an instance offers the jobs (and refreshes the table gauges); never
/// longer than the jobs' period.
pub const TICK: Duration = Duration::from_secs(60);
/// How long a forced run waits for a scheduled run of the same job to finish.
pub const FORCED_LOCK_WAIT: Duration = Duration::from_secs(600);
/// The tables whose size the gauges and `api retention` report: a closed set.
pub const TABLES: [&str; 7] = [
    "outbox",
    "processed_events",
    "idempotency_keys",
    "refresh_tokens",
    "dead_letters",
    "scheduled_job_runs",
    "orders",
];

#[cfg(test)]
mod tests;
