//! Text placed into HTML: the e-mails the consumers render and the review text the
//! API returns.

/// `&`, `<`, `>`, `"` and `'` as HTML entities (`<` → `&lt;`...): safe in text and in
/// quoted attributes, so a page that inserts it raw cannot be made to run a script.
pub fn escape_html(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
