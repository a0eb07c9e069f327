//! sea-orm entities of the migrated tables (`migrations/`): the schema is the truth.
pub mod refresh_tokens;
pub mod users;
