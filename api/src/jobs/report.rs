//! What `api retention` prints.

use std::fmt::Write as _;

use super::{Outcome, Report, TABLES, TableSize};

/// `1234567` as `1.2 MiB`.
pub fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// What `api retention` prints: each table before and after, then each job. The
/// last line is the total of rows deleted.
pub fn render_report(before: &[TableSize], after: &[TableSize], reports: &[Report]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<20} {:>12} {:>12} {:>13} {:>13}",
        "table", "rows before", "rows after", "bytes before", "bytes after"
    );
    for table in TABLES {
        let b = before.iter().find(|s| s.table == table);
        let a = after.iter().find(|s| s.table == table);
        let rows = |s: Option<&TableSize>| s.map_or("-".to_owned(), |s| s.rows.to_string());
        let bytes = |s: Option<&TableSize>| s.map_or("-".to_owned(), |s| human_bytes(s.bytes));
        let _ = writeln!(
            out,
            "{table:<20} {:>12} {:>12} {:>13} {:>13}",
            rows(b),
            rows(a),
            bytes(b),
            bytes(a)
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{:<30} {:>10} {:>9}  result", "job", "deleted", "ms");
    for report in reports {
        let result = match &report.outcome {
            Outcome::Ran { error: None, .. } => "ok".to_owned(),
            Outcome::Ran {
                error: Some(error), ..
            } => format!("stopped: {error}"),
            Outcome::Failed(error) => format!("failed: {error}"),
            other => other.label().to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<30} {:>10} {:>9}  {result}",
            report.job.name(),
            report.outcome.deleted(),
            report.elapsed.as_millis()
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Bytes shrink only as (auto)vacuum frees the deleted rows' space for reuse; \
         the files keep their size until VACUUM FULL."
    );
    let total: u64 = reports.iter().map(|r| r.outcome.deleted()).sum();
    let _ = writeln!(out, "deleted {total} rows");
    out
}
