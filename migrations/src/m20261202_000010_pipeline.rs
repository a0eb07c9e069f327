//! The pipeline under load and faults (issue 17).
//!
//! - Outbox rows that the broker keeps refusing are parked (`failed_at`) after a
//!   number of attempts instead of being retried for ever; each row waits out its own
//!   backoff (`next_attempt_at`), so it never holds back the events behind it.
//! - `processed_events.state`: `claimed` while a consumer makes an effect it cannot
//!   make transactional with PostgreSQL (an SMTP send), `done` once it is made. A
//!   redelivered event found `claimed` is the crash window the README names.
//! - Indexes for the retention jobs, and the table that makes each job run once per
//!   period across every instance.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE outbox
    ADD COLUMN next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN failed_at       TIMESTAMPTZ;
ALTER TABLE outbox ADD CONSTRAINT outbox_parked_is_unpublished
    CHECK (failed_at IS NULL OR published_at IS NULL);
DROP INDEX outbox_pending_idx;
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE published_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_parked_idx ON outbox (id) WHERE failed_at IS NOT NULL;
CREATE INDEX outbox_published_idx ON outbox (published_at) WHERE published_at IS NOT NULL;

ALTER TABLE processed_events
    ADD COLUMN state TEXT NOT NULL DEFAULT 'done',
    ADD CONSTRAINT processed_events_state_known CHECK (state IN ('claimed', 'done'));
CREATE INDEX processed_events_processed_at_idx ON processed_events (processed_at);

CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);
CREATE INDEX dead_letters_replayed_idx ON dead_letters (replayed_at) WHERE replayed_at IS NOT NULL;

-- One row per scheduled job: an instance runs a job only if its conditional update of
-- `last_started_at` wins, so a job runs once per period whatever the instance count.
CREATE TABLE scheduled_jobs (
    name            TEXT PRIMARY KEY,
    last_started_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
    runs            BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT scheduled_jobs_name_not_empty CHECK (length(name) > 0)
);
-- What each run did, for operators (and the test that counts runs).
CREATE TABLE scheduled_job_runs (
    id          BIGSERIAL PRIMARY KEY,
    job         TEXT NOT NULL REFERENCES scheduled_jobs (name),
    instance    TEXT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ,
    deleted     BIGINT,
    error       TEXT
);
CREATE INDEX scheduled_job_runs_job_idx ON scheduled_job_runs (job, started_at);
"#;

const DOWN: &str = r#"
DROP TABLE scheduled_job_runs;
DROP TABLE scheduled_jobs;
DROP INDEX dead_letters_replayed_idx;
DROP INDEX refresh_tokens_expires_idx;
DROP INDEX idempotency_keys_expires_idx;
DROP INDEX processed_events_processed_at_idx;
ALTER TABLE processed_events DROP CONSTRAINT processed_events_state_known, DROP COLUMN state;
DROP INDEX outbox_published_idx;
DROP INDEX outbox_parked_idx;
DROP INDEX outbox_pending_idx;
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE published_at IS NULL;
ALTER TABLE outbox DROP CONSTRAINT outbox_parked_is_unpublished,
    DROP COLUMN failed_at, DROP COLUMN next_attempt_at;
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
