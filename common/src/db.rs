//! The PostgreSQL pool and the one helper every raw statement goes through.

use std::time::Duration;

use anyhow::Context;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend, Statement, Value};

/// Opens a PostgreSQL pool of at most `max_connections`. Connections are made on
/// first use (`connect_lazy`): a process starts even while the database is down, and
/// its readiness says so. Fails only on a malformed URL.
pub async fn database(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(3))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false)
        .connect_lazy(true);
    Database::connect(options)
        .await
        .context("invalid DATABASE_URL")
}

/// A PostgreSQL statement with positional values (`$1`, `$2`...).
pub fn stmt(sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}
