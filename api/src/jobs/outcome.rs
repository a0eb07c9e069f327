//! What a run of a job comes to, as logged, counted and printed.

use std::time::Duration;

use super::Job;

/// Whether a run waits for its period (`Scheduled`) or not (`Forced`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only if due; skipped if another run of the job holds its lock.
    Scheduled,
    /// Now, once the job's lock is free; restarts the job's period.
    Forced,
}

/// What became of one job in one tick (or forced run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// This process ran it.
    Ran {
        /// The job's `runs` counter after this run started.
        run: i64,
        /// Rows deleted.
        deleted: u64,
        /// Why it stopped early, if it did (the rows of earlier batches stay deleted).
        error: Option<String>,
    },
    /// Its period has not elapsed since its last start.
    NotDue,
    /// Another run of it holds its lock (scheduled mode only).
    Busy,
    /// It could not even be claimed (the database is down, say).
    Failed(String),
}

impl Outcome {
    /// A short word for logs and `api jobs-tick`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Ran { error: None, .. } => "ran",
            Outcome::Ran { error: Some(_), .. } => "ran-with-error",
            Outcome::NotDue => "not-due",
            Outcome::Busy => "busy",
            Outcome::Failed(_) => "failed",
        }
    }

    /// Whether something went wrong.
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            Outcome::Failed(_) | Outcome::Ran { error: Some(_), .. }
        )
    }

    /// Rows deleted.
    pub fn deleted(&self) -> u64 {
        match self {
            Outcome::Ran { deleted, .. } => *deleted,
            _ => 0,
        }
    }
}

/// One job's outcome.
#[derive(Debug, Clone)]
pub struct Report {
    /// The job.
    pub job: Job,
    /// What became of it.
    pub outcome: Outcome,
    /// How long it took (claim included).
    pub elapsed: Duration,
}
