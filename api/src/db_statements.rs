//! Counts the SQL statements each request runs, for the
//! `shop_db_statements_per_request` histogram (by operation): the hot paths promise a
//! fixed number of statements whatever the size of their input (an order's lines, a
//! page of orders), and this is where that shows.
//!
//! The pool's metric callback bumps a counter local to the task serving the request
//! (the request middleware opens it with [`counted`]); statements run elsewhere (the
//! outbox relay, the scheduled jobs, a task a handler spawns) are not counted.
//! `BEGIN` and `COMMIT` are not counted either: sea-orm reports only the statements
//! it runs on the caller's behalf.

use std::cell::Cell;

use sea_orm::DatabaseConnection;

tokio::task_local! {
    static STATEMENTS: Cell<u32>;
}

/// Makes every statement run on `db` (and on its clones made afterwards) count
/// towards the request being served, if any.
pub fn install(db: &mut DatabaseConnection) {
    db.set_metric_callback(|_| {
        let _ = STATEMENTS.try_with(|n| n.set(n.get().saturating_add(1)));
    });
}

/// Runs `work`, counting the statements it runs; returns its output and that count.
pub async fn counted<F: Future>(work: F) -> (F::Output, u32) {
    STATEMENTS
        .scope(Cell::new(0), async {
            let output = work.await;
            (output, STATEMENTS.with(Cell::get))
        })
        .await
}
