//! Raw SQL helpers shared by the repositories: every hand-written statement of the
//! API is PostgreSQL with `$n` placeholders, its values bound, never spliced in. The
//! one helper lives in `shop-common` (the consumers use it too).

pub use shop_common::db::stmt;
