//! Bulk import: every row is validated before anything is written, and the client
//! gets a report naming each bad row, field and problem.

use poem_openapi::Object;
use serde_json::{Map, Value};

use super::{
    categories::KnownCategories,
    model::{FieldError, NewProduct, check_new_status},
};

/// Columns a file must have.
pub const REQUIRED_COLUMNS: [&str; 4] = ["name", "price_cents", "category", "stock"];
/// Columns a file may have.
pub const KNOWN_COLUMNS: [&str; 8] = [
    "name",
    "description",
    "price_cents",
    "currency",
    "category",
    "stock",
    "low_stock_threshold",
    "status",
];
/// Largest number of rows in one import.
pub const MAX_ROWS: usize = 20_000;

/// One problem in one row.
#[derive(Debug, Clone, Object, PartialEq)]
pub struct RowError {
    /// 1-based data row (the CSV header is not counted).
    pub row: u64,
    /// The column at fault.
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

/// Rows parsed from a file: the valid products and the problems.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Valid rows.
    pub valid: Vec<NewProduct>,
    /// Problems, one per bad row.
    pub errors: Vec<RowError>,
    /// Rows read.
    pub total: usize,
}

/// A file that cannot be read as rows at all.
#[derive(Debug)]
pub struct FileError(pub String);

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn integer(row: &Map<String, Value>, field: &'static str) -> Result<Option<i64>, FieldError> {
    match row.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or((field, "must be a whole number".into())),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| (field, "must be a whole number".into())),
        Some(_) => Err((field, "must be a whole number".into())),
    }
}

fn text(row: &Map<String, Value>, field: &'static str) -> Result<Option<String>, FieldError> {
    match row.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => as_text(v).map(Some).ok_or((field, "must be text".into())),
    }
}

/// Validates one row, with its `status` (`published` when absent or empty); its
/// category must be one of `known` (a code or a slug).
pub fn parse_row(
    row: &Map<String, Value>,
    known: &KnownCategories,
) -> Result<NewProduct, FieldError> {
    let status = check_new_status(text(row, "status")?.as_deref())?;
    parse_fields(row, known).map(|p| p.with_status(status))
}

/// Validates the fields of one row but its status.
fn parse_fields(
    row: &Map<String, Value>,
    known: &KnownCategories,
) -> Result<NewProduct, FieldError> {
    let name = text(row, "name")?.ok_or(("name", "is required".to_owned()))?;
    let price = integer(row, "price_cents")?.ok_or(("price_cents", "is required".to_owned()))?;
    let category_raw = text(row, "category")?.ok_or(("category", "is required".to_owned()))?;
    let category = known.code_of(&category_raw).map(str::to_owned).ok_or((
        "category",
        format!(
            "`{}` is not a known category",
            category_raw.trim().chars().take(100).collect::<String>()
        ),
    ))?;
    let stock = integer(row, "stock")?.ok_or(("stock", "is required".to_owned()))?;
    NewProduct::parse(
        &name,
        text(row, "description")?.as_deref(),
        price,
        text(row, "currency")?
            .as_deref()
            .filter(|c| !c.trim().is_empty()),
        category,
        stock,
        integer(row, "low_stock_threshold")?,
    )
}

fn collect(
    rows: impl Iterator<Item = Result<Map<String, Value>, String>>,
    known: &KnownCategories,
) -> Result<Parsed, FileError> {
    let mut parsed = Parsed::default();
    for (i, row) in rows.enumerate() {
        if i >= MAX_ROWS {
            return Err(FileError(format!("at most {MAX_ROWS} rows per import")));
        }
        parsed.total += 1;
        let n = i as u64 + 1;
        match row {
            Err(problem) => parsed.errors.push(RowError {
                row: n,
                field: "(row)".into(),
                problem,
            }),
            Ok(row) => match parse_row(&row, known) {
                Ok(p) => parsed.valid.push(p),
                Err((field, problem)) => parsed.errors.push(RowError {
                    row: n,
                    field: field.into(),
                    problem,
                }),
            },
        }
    }
    if parsed.total == 0 {
        return Err(FileError("the file has no rows".into()));
    }
    Ok(parsed)
}

/// Parses a CSV file with a header row; categories must be among `known`.
pub fn parse_csv(data: &str, known: &KnownCategories) -> Result<Parsed, FileError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(data.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| FileError(format!("unreadable header row: {e}")))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let missing: Vec<&str> = REQUIRED_COLUMNS
        .iter()
        .copied()
        .filter(|c| !headers.iter().any(|h| h == c))
        .collect();
    if !missing.is_empty() {
        return Err(FileError(format!(
            "missing columns: {}",
            missing.join(", ")
        )));
    }
    if let Some(unknown) = headers
        .iter()
        .find(|h| !KNOWN_COLUMNS.contains(&h.as_str()))
    {
        return Err(FileError(format!(
            "unknown column `{unknown}`; known: {}",
            KNOWN_COLUMNS.join(", ")
        )));
    }
    let rows = reader.records().map(|record| {
        let record = record.map_err(|e| format!("unreadable row: {e}"))?;
        if record.len() != headers.len() {
            return Err(format!(
                "has {} fields, the header has {}",
                record.len(),
                headers.len()
            ));
        }
        Ok(headers
            .iter()
            .zip(record.iter())
            .map(|(h, v)| (h.clone(), Value::String(v.to_owned())))
            .collect())
    });
    collect(rows, known)
}

/// Parses a JSON array of row objects; categories must be among `known`.
pub fn parse_json(rows: Vec<Value>, known: &KnownCategories) -> Result<Parsed, FileError> {
    collect(
        rows.into_iter().map(|v| match v {
            Value::Object(map) => Ok(map),
            _ => Err("must be a JSON object".to_owned()),
        }),
        known,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> KnownCategories {
        KnownCategories::new(
            [
                ("BEVERAGES", "beverages"),
                ("DAIRY_BAKERY", "dairy-bakery"),
                ("STAPLES", "staples"),
            ]
            .map(|(c, s)| (c.to_owned(), s.to_owned())),
        )
    }

    #[test]
    fn a_csv_with_bad_rows_reports_each_by_row_and_field() {
        let csv = "name,price_cents,category,stock\nTea,450,BEVERAGES,10\n,100,BEVERAGES,1\nMilk,-5,DAIRY_BAKERY,3\nBread,200,BAKERY,2\nRice,300,STAPLES,x\n";
        let parsed = parse_csv(csv, &known()).map_err(|e| e.0);
        let parsed = parsed.unwrap_or_default();
        assert_eq!(parsed.total, 5);
        assert_eq!(parsed.valid.len(), 1);
        let fields: Vec<(u64, &str)> = parsed
            .errors
            .iter()
            .map(|e| (e.row, e.field.as_str()))
            .collect();
        assert_eq!(
            fields,
            vec![
                (2, "name"),
                (3, "price_cents"),
                (4, "category"),
                (5, "stock")
            ]
        );
    }

    #[test]
    fn each_row_has_its_own_status_and_a_bad_one_is_that_rows_error() {
        let csv = "name,price_cents,category,stock,status\nTea,450,BEVERAGES,10,draft\nMilk,100,DAIRY_BAKERY,1,\nRice,300,STAPLES,2,Published\nBread,200,STAPLES,2,archived\nSalt,90,STAPLES,2,gone\n";
        let parsed = parse_csv(csv, &known())
            .map_err(|e| e.0)
            .unwrap_or_default();
        let statuses: Vec<(&str, &str)> = parsed
            .valid
            .iter()
            .map(|p| (p.name.as_str(), p.status.as_str()))
            .collect();
        assert_eq!(
            statuses,
            [
                ("Tea", "draft"),
                ("Milk", "published"),
                ("Rice", "published")
            ]
        );
        let errors: Vec<(u64, &str)> = parsed
            .errors
            .iter()
            .map(|e| (e.row, e.field.as_str()))
            .collect();
        assert_eq!(errors, [(4, "status"), (5, "status")]);
    }

    #[test]
    fn a_csv_missing_a_required_column_is_refused_whole() {
        let err = parse_csv("name,price_cents\nTea,1\n", &known())
            .err()
            .map(|e| e.0)
            .unwrap_or_default();
        assert!(err.contains("category") && err.contains("stock"), "{err}");
    }

    #[test]
    fn json_rows_accept_numbers_or_numeric_strings() {
        let rows = serde_json::json!([
            {"name": "Tea", "price_cents": 450, "category": "BEVERAGES", "stock": "7"},
            {"name": "Tea", "price_cents": 1.5, "category": "BEVERAGES", "stock": 1},
            "not an object"
        ]);
        let parsed = parse_json(rows.as_array().cloned().unwrap_or_default(), &known())
            .map_err(|e| e.0)
            .unwrap_or_default();
        assert_eq!(parsed.valid.len(), 1);
        assert_eq!(parsed.valid[0].stock, 7);
        assert_eq!(parsed.errors.len(), 2);
    }
}
