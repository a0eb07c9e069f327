//! The search indexes take each write into their main structure (`fastupdate =
//! off`) instead of a pending list.
//!
//! With the default (`fastupdate = on`), a GIN index queues new entries in an
//! unsorted pending list until a vacuum, an autoanalyze or `gin_pending_list_limit`
//! (4 MB) moves them. Every search must scan the whole list, and the planner, costing
//! that scan, turns to a sequential scan of the products instead; a connection's
//! cached plan then keeps the sequential scan after the list is gone. Measured after
//! seeding 10,000 products (`scripts/bench-search.sh`): 436 pending pages, search p95
//! 36 ms uncached; with the list merged, 10.5 to 12 ms. A catalogue is written rarely and
//! searched constantly, so the writes pay: an insert updates the index at once.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER INDEX products_search_idx SET (fastupdate = off);
ALTER INDEX search_terms_trgm_idx SET (fastupdate = off);
SELECT gin_clean_pending_list('products_search_idx');
SELECT gin_clean_pending_list('search_terms_trgm_idx');
"#;

const DOWN: &str = r#"
ALTER INDEX products_search_idx RESET (fastupdate);
ALTER INDEX search_terms_trgm_idx RESET (fastupdate);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_sql(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_sql(manager, DOWN).await
    }
}
