//! When a dead letter was replayed (`api replay-dead-letters`): its event went back
//! to the outbox, so each dead letter is replayed at most once.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE dead_letters ADD COLUMN replayed_at TIMESTAMPTZ;
CREATE INDEX dead_letters_pending_replay_idx ON dead_letters (consumer)
    WHERE replayed_at IS NULL AND event_id IS NOT NULL;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_sql(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_sql(
            manager,
            "DROP INDEX dead_letters_pending_replay_idx; ALTER TABLE dead_letters DROP COLUMN replayed_at",
        )
        .await
    }
}
