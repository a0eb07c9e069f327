use sea_orm::DbBackend;

use super::*;
use sea_orm::QueryTrait;

#[test]
fn a_user_never_prints_its_password_hash() {
    let user = User {
        id: Uuid::nil(),
        email: "a@x.io".into(),
        password_hash: "$2b$12$secrethash".into(),
        name: "A".into(),
        role: "customer".into(),
        is_verified: true,
        created_at: Utc::now(),
        token_version: 0,
    };
    let text = format!("{user:?}");
    assert!(
        !text.contains("secrethash") && text.contains("a@x.io"),
        "{text}"
    );
}

#[test]
fn entity_lookups_read_every_migrated_column() {
    let sql = users::Entity::find()
        .filter(users::Column::Email.eq("a@x.io"))
        .build(DbBackend::Postgres)
        .to_string();
    for column in [
        "id",
        "email",
        "password_hash",
        "name",
        "role",
        "is_verified",
        "created_at",
        "updated_at",
        "token_version",
    ] {
        assert!(sql.contains(&format!("\"users\".\"{column}\"")), "{sql}");
    }
    assert!(
        sql.ends_with(r#"WHERE "users"."email" = 'a@x.io'"#),
        "{sql}"
    );
}

#[test]
fn a_refresh_token_insert_names_the_same_columns_as_before() {
    let row = refresh_tokens::ActiveModel {
        id: Set(Uuid::nil()),
        user_id: Set(Uuid::nil()),
        family_id: Set(Uuid::nil()),
        token_hash: Set(vec![1, 2]),
        expires_at: Set(Utc::now()),
        session_started_at: Set(Utc::now()),
        token_version: Set(3),
        ..Default::default()
    };
    let sql = refresh_tokens::Entity::insert(row)
        .build(DbBackend::Postgres)
        .to_string();
    assert!(
        sql.starts_with(
            r#"INSERT INTO "refresh_tokens" ("id", "user_id", "family_id", "token_hash", "expires_at", "session_started_at", "token_version") VALUES"#
        ),
        "{sql}"
    );
}
