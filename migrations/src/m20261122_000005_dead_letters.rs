//! Dead-lettered messages, recorded by the consumers after the `.dlq` write, so admin
//! statistics read them from PostgreSQL like every other number.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE dead_letters (
    id                 BIGSERIAL PRIMARY KEY,
    consumer           TEXT NOT NULL,
    original_topic     TEXT NOT NULL,
    original_partition INTEGER NOT NULL,
    original_offset    BIGINT NOT NULL,
    event_id           UUID,
    reason             TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- A message redelivered after a crash is dead-lettered again but counted once.
    CONSTRAINT dead_letters_one_per_message
        UNIQUE (consumer, original_topic, original_partition, original_offset),
    CONSTRAINT dead_letters_reason_length CHECK (length(reason) <= 2000)
);
CREATE INDEX dead_letters_created_idx ON dead_letters (created_at);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_sql(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_sql(manager, "DROP TABLE dead_letters").await
    }
}
