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

use std::{
    fmt::Write as _,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use prometheus::{IntCounterVec, IntGaugeVec, Opts};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, Statement,
    TransactionTrait, Value,
};
use tokio::sync::watch;

use crate::{configuration::RetentionSettings, metrics::Metrics};

/// Rows deleted per batch (one transaction each).
pub const BATCH: u64 = 5000;
/// How often an instance offers the jobs (and refreshes the table gauges); never
/// longer than the jobs' period.
pub const TICK: Duration = Duration::from_secs(60);
/// How long a forced run waits for a scheduled run of the same job to finish.
pub const FORCED_LOCK_WAIT: Duration = Duration::from_secs(600);
/// The first key of the jobs' advisory locks (`jobs` in ASCII); the second one is
/// `hashtext(job name)`. Two-key advisory locks never collide with the relay's
/// one-key lock.
const JOB_LOCK_CLASS: i32 = 0x6a6f_6273;

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
            // Reuse detection (`auth::service::Auth::refresh`): a rotated token
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
    fn batch_statement(self, settings: &RetentionSettings) -> Statement {
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

/// The jobs' metrics: table sizes (refreshed every tick by every instance) and what
/// the jobs deleted here.
#[derive(Clone)]
pub struct JobMetrics {
    table_bytes: IntGaugeVec,
    table_rows: IntGaugeVec,
    deleted: IntCounterVec,
    failures: IntCounterVec,
}

impl JobMetrics {
    /// Registers the metrics; every label value comes from [`TABLES`] or [`Job::ALL`].
    pub fn new(metrics: &Metrics) -> Result<Self, prometheus::Error> {
        let table_bytes = IntGaugeVec::new(
            Opts::new(
                "table_bytes",
                "Size on disk of a table with its indexes and TOAST (pg_total_relation_size)",
            ),
            &["table"],
        )?;
        let table_rows = IntGaugeVec::new(
            Opts::new(
                "table_rows_estimate",
                "PostgreSQL's estimate of a table's rows (pg_class.reltuples; -1 until first analysed)",
            ),
            &["table"],
        )?;
        let deleted = IntCounterVec::new(
            Opts::new(
                "retention_deleted_rows_total",
                "Rows deleted by the retention jobs this instance ran",
            ),
            &["job"],
        )?;
        let failures = IntCounterVec::new(
            Opts::new(
                "scheduled_job_failures_total",
                "Runs of a scheduled job that failed in this instance",
            ),
            &["job"],
        )?;
        for job in Job::ALL {
            deleted.with_label_values(&[job.name()]).inc_by(0);
            failures.with_label_values(&[job.name()]).inc_by(0);
        }
        metrics.register(Box::new(table_bytes.clone()))?;
        metrics.register(Box::new(table_rows.clone()))?;
        metrics.register(Box::new(deleted.clone()))?;
        metrics.register(Box::new(failures.clone()))?;
        Ok(Self {
            table_bytes,
            table_rows,
            deleted,
            failures,
        })
    }
}

#[derive(Debug, FromQueryResult)]
struct SizeRow {
    name: String,
    bytes: i64,
    rows: f64,
}

/// The size of one table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSize {
    /// The table (one of [`TABLES`]).
    pub table: &'static str,
    /// Rows: exact in [`table_sizes`], PostgreSQL's estimate in the gauges.
    pub rows: i64,
    /// Bytes with indexes and TOAST.
    pub bytes: i64,
}

/// The exact row count and the size of every table in [`TABLES`] (`count(*)`: for
/// the operator command, not for the ticker).
pub async fn table_sizes(db: &impl ConnectionTrait) -> Result<Vec<TableSize>, DbErr> {
    let sql = TABLES
        .iter()
        .map(|t| {
            format!(
                "SELECT '{t}'::text AS name, pg_total_relation_size('{t}')::int8 AS bytes,
                        (SELECT count(*) FROM {t})::float8 AS rows"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    sizes(db, sql).await
}

/// PostgreSQL's cheap figures for every table in [`TABLES`]: no table is read.
async fn estimated_sizes(db: &impl ConnectionTrait) -> Result<Vec<TableSize>, DbErr> {
    let names = TABLES
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT n.name, pg_total_relation_size(c.oid)::int8 AS bytes, c.reltuples::float8 AS rows
         FROM unnest(ARRAY[{names}]::text[]) AS n(name)
         JOIN pg_class c ON c.oid = to_regclass(n.name)"
    );
    sizes(db, sql).await
}

async fn sizes(db: &impl ConnectionTrait, sql: String) -> Result<Vec<TableSize>, DbErr> {
    let rows = SizeRow::find_by_statement(Statement::from_string(DbBackend::Postgres, sql))
        .all(db)
        .await?;
    Ok(TABLES
        .iter()
        .filter_map(|table| {
            rows.iter().find(|r| r.name == *table).map(|r| TableSize {
                table,
                rows: r.rows as i64,
                bytes: r.bytes,
            })
        })
        .collect())
}

/// A random pause shorter than `max` (computed at once: the RNG is not `Send`).
fn jitter(max: Duration) -> Duration {
    use rand::Rng;
    let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(rand::rng().random_range(0..ms))
}

/// Runs the scheduled jobs of one process.
pub struct Scheduler {
    db: DatabaseConnection,
    settings: RetentionSettings,
    instance: String,
    metrics: Option<JobMetrics>,
    registered: AtomicBool,
}

impl Scheduler {
    /// A scheduler over `db` (a pool of 2 connections or more: a running job holds
    /// one for its lock), recording runs under `instance`.
    pub fn new(
        db: DatabaseConnection,
        settings: RetentionSettings,
        instance: String,
        metrics: Option<JobMetrics>,
    ) -> Self {
        Self {
            db,
            settings,
            instance,
            metrics,
            registered: AtomicBool::new(false),
        }
    }

    /// Ticks until `shutdown` turns true (or its sender is gone).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let tick = TICK.min(self.settings.interval);
        // Instances started together do not all tick at the same second.
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            () = tokio::time::sleep(jitter(tick)) => {}
        }
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => break,
                _ = interval.tick() => {}
            }
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => break,
                () = tokio::time::sleep(jitter(tick / 10)) => {}
            }
            self.tick(Some(&shutdown)).await;
        }
        tracing::info!("scheduled jobs stopped");
    }

    /// One tick: runs every due job (the ones whose lock is free), then refreshes the
    /// table gauges. What the instances' loop calls, and `api jobs-tick`.
    pub async fn tick(&self, stop: Option<&watch::Receiver<bool>>) -> Vec<Report> {
        let reports = self.run_jobs(Mode::Scheduled, stop).await;
        self.refresh_gauges().await;
        reports
    }

    /// Runs every job now, whatever its period (`api retention`).
    pub async fn run_all_forced(&self) -> Vec<Report> {
        self.run_jobs(Mode::Forced, None).await
    }

    async fn run_jobs(&self, mode: Mode, stop: Option<&watch::Receiver<bool>>) -> Vec<Report> {
        if let Err(e) = self.register().await {
            let error = format!("registering the jobs: {e}");
            tracing::warn!(error, "scheduled jobs skipped");
            return Job::ALL
                .into_iter()
                .map(|job| Report {
                    job,
                    outcome: Outcome::Failed(error.clone()),
                    elapsed: Duration::ZERO,
                })
                .collect();
        }
        let mut reports = Vec::new();
        for job in Job::ALL {
            if stop.is_some_and(|s| *s.borrow()) {
                break;
            }
            let started = Instant::now();
            let outcome = match self.run_job(job, mode, stop).await {
                Ok(outcome) => outcome,
                Err(e) => Outcome::Failed(e.to_string()),
            };
            self.observe(job, &outcome);
            reports.push(Report {
                job,
                outcome,
                elapsed: started.elapsed(),
            });
        }
        reports
    }

    /// Makes sure every job has its `scheduled_jobs` row (once per process).
    async fn register(&self) -> Result<(), DbErr> {
        if self.registered.load(Ordering::Relaxed) {
            return Ok(());
        }
        for job in Job::ALL {
            self.db
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "INSERT INTO scheduled_jobs (name) VALUES ($1) ON CONFLICT DO NOTHING",
                    [job.name().into()],
                ))
                .await?;
        }
        self.registered.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Takes `job`'s lock, claims it, runs it, releases the lock.
    async fn run_job(
        &self,
        job: Job,
        mode: Mode,
        stop: Option<&watch::Receiver<bool>>,
    ) -> Result<Outcome, DbErr> {
        let lock = self.db.begin().await?;
        let result = self.run_locked(&lock, job, mode, stop).await;
        // Ending the lock's transaction releases the lock; it wrote nothing.
        let released = lock.commit().await;
        let outcome = result?;
        released?;
        Ok(outcome)
    }

    async fn run_locked(
        &self,
        lock: &impl ConnectionTrait,
        job: Job,
        mode: Mode,
        stop: Option<&watch::Receiver<bool>>,
    ) -> Result<Outcome, DbErr> {
        let locked = match mode {
            Mode::Scheduled => lock
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS locked",
                    [JOB_LOCK_CLASS.into(), job.name().into()],
                ))
                .await?
                .map(|row| row.try_get::<bool>("", "locked"))
                .transpose()?
                .unwrap_or(false),
            Mode::Forced => {
                lock.execute_unprepared(&format!(
                    "SET LOCAL lock_timeout = '{}s'",
                    FORCED_LOCK_WAIT.as_secs()
                ))
                .await?;
                lock.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                    [JOB_LOCK_CLASS.into(), job.name().into()],
                ))
                .await?;
                true
            }
        };
        if !locked {
            return Ok(Outcome::Busy);
        }
        let Some(run) = self.claim(job, mode).await? else {
            return Ok(Outcome::NotDue);
        };
        let run_id = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO scheduled_job_runs (job, instance) VALUES ($1, $2) RETURNING id",
                [job.name().into(), self.instance.clone().into()],
            ))
            .await?
            .map(|row| row.try_get::<i64>("", "id"))
            .transpose()?
            .ok_or_else(|| DbErr::Custom("INSERT … RETURNING id returned no row".into()))?;
        let (deleted, error) = self.delete_batches(job, stop).await;
        self.db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE scheduled_job_runs SET finished_at = now(), deleted = $2, error = $3
                 WHERE id = $1",
                [
                    run_id.into(),
                    i64::try_from(deleted).unwrap_or(i64::MAX).into(),
                    error.clone().into(),
                ],
            ))
            .await?;
        Ok(Outcome::Ran {
            run,
            deleted,
            error,
        })
    }

    /// The conditional update that makes a job run once per period; `Some(runs)` when
    /// this process won it. A forced run skips the period but still restarts it.
    async fn claim(&self, job: Job, mode: Mode) -> Result<Option<i64>, DbErr> {
        let period = self.settings.interval.as_secs_f64();
        self.db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE scheduled_jobs SET last_started_at = now(), runs = runs + 1
                 WHERE name = $1 AND ($3 OR last_started_at <= now() - make_interval(secs => $2))
                 RETURNING runs",
                [
                    job.name().into(),
                    period.into(),
                    (mode == Mode::Forced).into(),
                ],
            ))
            .await?
            .map(|row| row.try_get::<i64>("", "runs"))
            .transpose()
    }

    /// Deletes in batches until one comes back short; the rows deleted and, if it
    /// stopped early, why.
    async fn delete_batches(
        &self,
        job: Job,
        stop: Option<&watch::Receiver<bool>>,
    ) -> (u64, Option<String>) {
        let mut deleted = 0u64;
        loop {
            if stop.is_some_and(|s| *s.borrow()) {
                return (deleted, Some("stopped at shutdown".into()));
            }
            match self
                .db
                .execute_raw(job.batch_statement(&self.settings))
                .await
            {
                Ok(result) => {
                    let n = result.rows_affected();
                    deleted += n;
                    if n < BATCH {
                        return (deleted, None);
                    }
                }
                Err(e) => return (deleted, Some(e.to_string())),
            }
        }
    }

    fn observe(&self, job: Job, outcome: &Outcome) {
        if let Some(metrics) = &self.metrics {
            metrics
                .deleted
                .with_label_values(&[job.name()])
                .inc_by(outcome.deleted());
            if outcome.is_error() {
                metrics.failures.with_label_values(&[job.name()]).inc();
            }
        }
        match outcome {
            Outcome::Ran {
                run,
                deleted,
                error: None,
            } => {
                tracing::info!(job = job.name(), run, deleted, "scheduled job ran");
            }
            Outcome::Ran {
                run,
                deleted,
                error: Some(error),
            } => {
                tracing::warn!(
                    job = job.name(),
                    run,
                    deleted,
                    error,
                    "scheduled job failed"
                );
            }
            Outcome::Failed(error) => {
                tracing::warn!(job = job.name(), error, "scheduled job could not run");
            }
            Outcome::NotDue | Outcome::Busy => {}
        }
    }

    async fn refresh_gauges(&self) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        match estimated_sizes(&self.db).await {
            Ok(sizes) => {
                for size in sizes {
                    metrics
                        .table_bytes
                        .with_label_values(&[size.table])
                        .set(size.bytes);
                    metrics
                        .table_rows
                        .with_label_values(&[size.table])
                        .set(size.rows);
                }
            }
            Err(e) => tracing::warn!(error = %e, "table size gauges not refreshed"),
        }
    }
}

/// `1234567` as `1.2 MiB`.
pub fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// What `api retention` prints: each table before and after, then each job. The
/// last line is the total of rows deleted.
pub fn render_report(before: &[TableSize], after: &[TableSize], reports: &[Report]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<20} {:>12} {:>12} {:>13} {:>13}",
        "table", "rows before", "rows after", "bytes before", "bytes after"
    );
    for table in TABLES {
        let b = before.iter().find(|s| s.table == table);
        let a = after.iter().find(|s| s.table == table);
        let rows = |s: Option<&TableSize>| s.map_or("-".to_owned(), |s| s.rows.to_string());
        let bytes = |s: Option<&TableSize>| s.map_or("-".to_owned(), |s| human_bytes(s.bytes));
        let _ = writeln!(
            out,
            "{table:<20} {:>12} {:>12} {:>13} {:>13}",
            rows(b),
            rows(a),
            bytes(b),
            bytes(a)
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{:<30} {:>10} {:>9}  result", "job", "deleted", "ms");
    for report in reports {
        let result = match &report.outcome {
            Outcome::Ran { error: None, .. } => "ok".to_owned(),
            Outcome::Ran {
                error: Some(error), ..
            } => format!("stopped: {error}"),
            Outcome::Failed(error) => format!("failed: {error}"),
            other => other.label().to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<30} {:>10} {:>9}  {result}",
            report.job.name(),
            report.outcome.deleted(),
            report.elapsed.as_millis()
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Bytes shrink only as (auto)vacuum frees the deleted rows' space for reuse; \
         the files keep their size until VACUUM FULL."
    );
    let total: u64 = reports.iter().map(|r| r.outcome.deleted()).sum();
    let _ = writeln!(out, "deleted {total} rows");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
