//! Raw SQL helpers shared by the repositories: every hand-written statement of the
//! API is PostgreSQL with `$n` placeholders, its values bound, never spliced in.

use sea_orm::{DbBackend, Statement, Value};

/// A PostgreSQL statement with bound `values` for the `$1`, `$2`, ... of `sql`.
pub fn stmt(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}
