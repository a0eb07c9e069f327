//! A dead letter is one message: its place in Kafka *and* its event. The place alone
//! repeats when a topic starts over (a broker whose storage was reset, a recreated
//! topic): offsets count from 0 again, and the old key silently dropped the record of a
//! new message that landed on a recorded offset. A redelivery after a crash still has
//! the same place and event, so it is still counted once.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE dead_letters DROP CONSTRAINT dead_letters_one_per_message;
CREATE UNIQUE INDEX dead_letters_one_per_message ON dead_letters
    (consumer, original_topic, original_partition, original_offset,
     COALESCE(event_id, '00000000-0000-0000-0000-000000000000'::uuid));
"#;

const DOWN: &str = r#"
DROP INDEX dead_letters_one_per_message;
ALTER TABLE dead_letters ADD CONSTRAINT dead_letters_one_per_message
    UNIQUE (consumer, original_topic, original_partition, original_offset);
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
