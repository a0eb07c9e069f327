//! The scheduler: each instance's loop, the claim that runs a job once per period,
//! the advisory lock that keeps a forced run and a scheduled one apart, and the
//! batched deletes (module docs of `jobs`).

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};
use tokio::sync::watch;

use super::{
    BATCH, FORCED_LOCK_WAIT, Job, JobMetrics, Mode, Outcome, Report, TICK, metrics::estimated_sizes,
};
use crate::configuration::RetentionSettings;

/// The first key of the jobs' advisory locks (`jobs` in ASCII); the second one is
/// `hashtext(job name)`. Two-key advisory locks never collide with the relay's
/// one-key lock.
const JOB_LOCK_CLASS: i32 = 0x6a6f_6273;

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
