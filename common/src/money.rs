//! Money is integer cents; these only convert it to and from the decimal text people
//! (and the legacy routes) use. No float is ever involved in parsing.

/// `1250` → `"12.50"`, `-5` → `"-0.05"`.
pub fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// `"12.50"` → `1250`: digits, optionally a point and one or two more digits.
/// Anything else (signs, exponents, a third decimal, thousands separators) is refused.
pub fn parse_decimal_cents(raw: &str) -> Result<i64, &'static str> {
    const PROBLEM: &str = "must be a decimal amount such as 12.50 (at most two decimals)";
    let raw = raw.trim();
    let (units, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if units.is_empty()
        || units.len() > 12
        || !digits(units)
        || fraction.len() > 2
        || !digits(fraction)
    {
        return Err(PROBLEM);
    }
    if raw.ends_with('.') {
        return Err(PROBLEM);
    }
    let units: i64 = units.parse().map_err(|_| PROBLEM)?;
    let cents: i64 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i64>().map_err(|_| PROBLEM)? * 10,
        _ => fraction.parse().map_err(|_| PROBLEM)?,
    };
    units
        .checked_mul(100)
        .and_then(|u| u.checked_add(cents))
        .ok_or(PROBLEM)
}

#[cfg(test)]
mod tests {
    use super::{format_cents, parse_decimal_cents};

    #[test]
    fn decimal_text_parses_to_exact_cents() {
        assert_eq!(parse_decimal_cents("12.50"), Ok(1250));
        assert_eq!(parse_decimal_cents("12.5"), Ok(1250));
        assert_eq!(parse_decimal_cents(" 7 "), Ok(700));
        assert_eq!(parse_decimal_cents("0.07"), Ok(7));
        assert_eq!(parse_decimal_cents("0.1"), Ok(10));
        for bad in [
            "", ".5", "5.", "1.234", "-1", "+1", "1e3", "1,50", "abc", "1.2.3",
        ] {
            assert!(parse_decimal_cents(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn cents_format_with_two_decimals() {
        assert_eq!(format_cents(1250), "12.50");
        assert_eq!(format_cents(5), "0.05");
        assert_eq!(format_cents(0), "0.00");
        assert_eq!(format_cents(-105), "-1.05");
    }
}
