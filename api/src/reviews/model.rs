//! Review input, parsed ("parse, don't validate"), and how review text leaves the API.

use super::error::ReviewError;
pub use shop_common::html::escape_html;

/// Longest title, in characters.
pub const MAX_TITLE: usize = 120;
/// Longest body, in characters.
pub const MAX_BODY: usize = 5000;
/// Longest rejection reason, in characters.
pub const MAX_REASON: usize = 500;

/// A review's place in moderation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum, serde::Serialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum ReviewStatus {
    /// Waiting for an admin; seen only by admins.
    Pending,
    /// Public, counted in the product's rating statistics.
    Approved,
    /// Refused with a reason; seen only by admins.
    Rejected,
}

impl ReviewStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "approved" => Some(Self::Approved),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }
}

/// A moderation: where it goes, and the states it starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moderation {
    /// `pending` or `rejected` → `approved`.
    Approve,
    /// `pending` or `approved` → `rejected`.
    Reject,
}

impl Moderation {
    /// The states this move starts from.
    pub fn from(self) -> &'static [&'static str] {
        match self {
            Self::Approve => &["pending", "rejected"],
            Self::Reject => &["pending", "approved"],
        }
    }

    /// The state it ends in.
    pub fn to(self) -> ReviewStatus {
        match self {
            Self::Approve => ReviewStatus::Approved,
            Self::Reject => ReviewStatus::Rejected,
        }
    }

    /// Its audit action.
    pub fn action(self) -> &'static str {
        match self {
            Self::Approve => "review.approve",
            Self::Reject => "review.reject",
        }
    }
}

/// Orders of a product's public reviews.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum ReviewSort {
    /// Newest first (the default).
    #[default]
    Newest,
    /// Most helpful votes first, then newest.
    MostHelpful,
}

/// A validated new review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReview {
    /// 1 to 5 stars.
    pub rating: i32,
    /// Trimmed, 1 to [`MAX_TITLE`] characters, one line.
    pub title: String,
    /// Trimmed, 1 to [`MAX_BODY`] characters; newlines kept (`\r\n` becomes `\n`).
    pub body: String,
}

impl NewReview {
    /// Validates the fields of a submission; a refusal names the field.
    pub fn parse(rating: i64, title: &str, body: &str) -> Result<Self, ReviewError> {
        if !(1..=5).contains(&rating) {
            return Err(ReviewError::invalid(
                "rating",
                "must be a whole number of stars from 1 to 5",
            ));
        }
        Ok(Self {
            rating: rating as i32,
            title: text("title", title, MAX_TITLE, false)?,
            body: text("body", body, MAX_BODY, true)?,
        })
    }
}

/// A validated rejection reason: trimmed, 1 to [`MAX_REASON`] characters, newlines
/// allowed.
pub fn parse_reason(raw: &str) -> Result<String, ReviewError> {
    text("reason", raw, MAX_REASON, true)
}

/// Trims `raw` and checks it holds 1 to `max` characters and no control character
/// (but newlines, when `multiline`).
fn text(
    field: &'static str,
    raw: &str,
    max: usize,
    multiline: bool,
) -> Result<String, ReviewError> {
    let normalized = raw.replace("\r\n", "\n");
    let t = normalized.trim();
    if t.is_empty() {
        return Err(ReviewError::invalid(field, "is required"));
    }
    if t.chars().count() > max {
        return Err(ReviewError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if t.chars()
        .any(|c| c.is_control() && !(multiline && c == '\n'))
    {
        let allowed = if multiline {
            " other than newlines"
        } else {
            ""
        };
        return Err(ReviewError::invalid(
            field,
            format!("must not contain control characters{allowed}"),
        ));
    }
    Ok(t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(r: Result<NewReview, ReviewError>) -> Option<&'static str> {
        match r {
            Err(ReviewError::Invalid { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn a_valid_review_is_trimmed_and_keeps_its_newlines() {
        let Ok(r) = NewReview::parse(4, "  Good tea ", " Strong.\r\nFresh. ") else {
            panic!("a valid review was refused");
        };
        assert_eq!(r.title, "Good tea");
        assert_eq!(r.body, "Strong.\nFresh.");
        assert_eq!(r.rating, 4);
    }

    #[test]
    fn bad_fields_are_named() {
        assert_eq!(field(NewReview::parse(0, "t", "b")), Some("rating"));
        assert_eq!(field(NewReview::parse(6, "t", "b")), Some("rating"));
        assert_eq!(field(NewReview::parse(5, "   ", "b")), Some("title"));
        assert_eq!(field(NewReview::parse(5, "a\nb", "b")), Some("title"));
        assert_eq!(
            field(NewReview::parse(5, &"x".repeat(121), "b")),
            Some("title")
        );
        assert_eq!(field(NewReview::parse(5, "t", "")), Some("body"));
        assert_eq!(field(NewReview::parse(5, "t", "a\u{0}b")), Some("body"));
        assert_eq!(field(NewReview::parse(5, "t", "a\tb")), Some("body"));
        assert_eq!(
            field(NewReview::parse(5, "t", &"é".repeat(5001))),
            Some("body")
        );
        assert!(NewReview::parse(5, &"é".repeat(120), &"é".repeat(5000)).is_ok());
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape_html("plain"), "plain");
    }

    #[test]
    fn moderations_start_from_the_documented_states() {
        assert_eq!(Moderation::Approve.from(), &["pending", "rejected"]);
        assert_eq!(Moderation::Reject.from(), &["pending", "approved"]);
    }
}
