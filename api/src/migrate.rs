//! Running the migrations as their own step.
//!
//! Safe when several processes run it at once: a PostgreSQL advisory lock, held on the
//! one connection the migrator uses, lets one migrate while the others wait and then
//! find nothing to do.

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database};

/// Arbitrary constant naming the migration lock.
const MIGRATION_LOCK_ID: i64 = 0x5A0B_0001;

/// Applies every pending migration to `database_url`.
pub async fn run(database_url: &str) -> anyhow::Result<()> {
    let mut options = ConnectOptions::new(database_url.to_owned());
    // One connection, so the session-level lock and the migrations share it.
    options.max_connections(1).sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .context("connecting to PostgreSQL (DATABASE_URL)")?;
    db.execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))
        .await
        .context("taking the migration lock")?;
    let result = Migrator::up(&db, None).await.context("applying migrations");
    db.execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"))
        .await
        .context("releasing the migration lock")?;
    result?;
    tracing::info!("migrations applied");
    Ok(())
}
