//! The jobs' metrics and the table sizes they and `api retention` report.
//!
//! Invariant: every label value comes from [`TABLES`] or [`Job::ALL`]: a closed set.

use prometheus::{IntCounterVec, IntGaugeVec, Opts};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement};

use super::{Job, TABLES};
use crate::metrics::Metrics;

/// The jobs' metrics: table sizes (refreshed every tick by every instance) and what
/// the jobs deleted here.
#[derive(Clone)]
pub struct JobMetrics {
    pub(super) table_bytes: IntGaugeVec,
    pub(super) table_rows: IntGaugeVec,
    pub(super) deleted: IntCounterVec,
    pub(super) failures: IntCounterVec,
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
pub(super) async fn estimated_sizes(db: &impl ConnectionTrait) -> Result<Vec<TableSize>, DbErr> {
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
