//! Every refresh token records the user's token version it was issued under. A login
//! or refresh that ran while the password changed (it read the old version before
//! its bcrypt, or waited on the old token's row lock) inserts a token the revocation
//! could not see; the rotation then refuses it because its version is not the user's.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE refresh_tokens ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;
UPDATE refresh_tokens r SET token_version = u.token_version FROM users u WHERE u.id = r.user_id;
"#;

const DOWN: &str = r#"
ALTER TABLE refresh_tokens DROP COLUMN token_version;
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
