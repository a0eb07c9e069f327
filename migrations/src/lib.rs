//! Database migrations of the shop (sea-orm-migration).
//!
//! Invariants: a migration file is never edited once applied; every table carries the
//! constraints that keep its data true (keys, foreign keys, `CHECK`s, uniques), so a
//! bug in the application cannot write an impossible row.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_foundation;
mod m20261122_000002_refresh_tokens;
mod m20261122_000003_catalogue;
mod m20261122_000004_orders;
mod m20261122_000005_dead_letters;
mod m20261122_000006_dead_letter_replay;
mod m20261130_000007_dead_letter_identity;
mod m20261202_000008_security;
mod m20261202_000009_refresh_token_version;
mod m20261202_000010_pipeline;
mod m20261202_000011_order_number;
mod m20261206_000012_order_lifecycle;
mod m20261207_000013_catalogue_data;
mod m20261207_000014_search;
mod m20261207_000015_reviews;
mod m20261207_000016_category_protected;
mod m20261207_000017_search_without_pending_list;

/// Applies the migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_foundation::Migration),
            Box::new(m20261122_000002_refresh_tokens::Migration),
            Box::new(m20261122_000003_catalogue::Migration),
            Box::new(m20261122_000004_orders::Migration),
            Box::new(m20261122_000005_dead_letters::Migration),
            Box::new(m20261122_000006_dead_letter_replay::Migration),
            Box::new(m20261130_000007_dead_letter_identity::Migration),
            Box::new(m20261202_000008_security::Migration),
            Box::new(m20261202_000009_refresh_token_version::Migration),
            Box::new(m20261202_000010_pipeline::Migration),
            Box::new(m20261202_000011_order_number::Migration),
            Box::new(m20261206_000012_order_lifecycle::Migration),
            Box::new(m20261207_000013_catalogue_data::Migration),
            Box::new(m20261207_000014_search::Migration),
            Box::new(m20261207_000015_reviews::Migration),
            Box::new(m20261207_000016_category_protected::Migration),
            Box::new(m20261207_000017_search_without_pending_list::Migration),
        ]
    }
}

/// Runs one SQL script (migrations after 0004 use this; applied files stay as they are).
async fn run_sql(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    manager.get_connection().execute_unprepared(sql).await?;
    Ok(())
}
