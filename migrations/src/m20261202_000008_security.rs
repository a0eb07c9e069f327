//! Sessions that follow the server, fenced idempotency claims, bounded stock.
//!
//! - `users.token_version`: every access token carries the version it was issued
//!   under; a password change or reset, `api create-admin` and any role change bump it,
//!   so every older token of the user stops working on the next request.
//! - `refresh_tokens.session_started_at`: when the session (family) began, copied to
//!   every rotated token, so a refresh token has an absolute lifetime from the login
//!   besides its sliding one.
//! - `idempotency_keys.fence`: the claim of a key is a token; storing the answer
//!   requires it, so a request that lost its key to a takeover can never overwrite the
//!   answer of the one that took it.
//! - A trigger bumps the token version whenever a user's role changes, whoever changes
//!   it (the API, `api create-admin`, an operator's SQL), so a demotion can never leave
//!   a session with its old powers.
//! - `products.stock` stays within what the API promises (at most 1,000,000,000), far
//!   inside `INTEGER`, so no adjustment can overflow into a 500.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE refresh_tokens ADD COLUMN session_started_at TIMESTAMPTZ NOT NULL DEFAULT now();
UPDATE refresh_tokens r SET session_started_at = f.started
  FROM (SELECT family_id, min(created_at) AS started FROM refresh_tokens GROUP BY family_id) f
 WHERE r.family_id = f.family_id;
ALTER TABLE idempotency_keys ADD COLUMN fence UUID NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE products ADD CONSTRAINT products_stock_bounded CHECK (stock <= 1000000000);
CREATE FUNCTION users_role_change_bumps_token_version() RETURNS trigger AS $$
BEGIN
    IF NEW.role IS DISTINCT FROM OLD.role THEN
        NEW.token_version := OLD.token_version + 1;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER users_role_change_bumps_token_version BEFORE UPDATE OF role ON users
    FOR EACH ROW EXECUTE FUNCTION users_role_change_bumps_token_version();
"#;

const DOWN: &str = r#"
DROP TRIGGER users_role_change_bumps_token_version ON users;
DROP FUNCTION users_role_change_bumps_token_version();
ALTER TABLE products DROP CONSTRAINT products_stock_bounded;
ALTER TABLE idempotency_keys DROP COLUMN fence;
ALTER TABLE refresh_tokens DROP COLUMN session_started_at;
ALTER TABLE users DROP COLUMN token_version;
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
