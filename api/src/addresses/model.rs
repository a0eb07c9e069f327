//! Address input, parsed: holding a [`NewAddress`] or an [`AddressPatch`] means every
//! field in it is valid. Text is trimmed; an optional field left blank is none; each
//! refusal names its field.

use std::{collections::HashSet, sync::LazyLock};

use serde::{Deserialize, Serialize};

use super::error::AddressError;

/// Addresses one customer may keep: enough for home, work, family and a few gift
/// recipients, few enough that the book is one short list (no paging).
pub const MAX_ADDRESSES: i64 = 20;

/// The longest legacy free-text address kept (`line1`); longer ones are cut.
pub const LEGACY_LINE_CHARS: usize = 200;

/// The officially assigned ISO 3166-1 alpha-2 codes (`iso3166.txt`, one per line).
static ISO_3166: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("iso3166.txt")
        .lines()
        .map(str::trim)
        .filter(|l| l.len() == 2)
        .collect()
});

/// The fields of an address, each valid; also an order's snapshot of its shipping
/// address (JSON, as `orders::place` writes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressFields {
    /// Recipient, 1 to 200 characters.
    pub name: String,
    /// First line, 1 to 200 characters (a legacy free-text address may be all here).
    pub line1: String,
    /// Second line, at most 200 characters.
    pub line2: Option<String>,
    /// City, 1 to 100 characters ('' only for a legacy address).
    pub city: String,
    /// Region, state or province, at most 100 characters.
    pub region: Option<String>,
    /// Postal code, 1 to 20 letters, digits, spaces and dashes ('' only for a legacy
    /// address).
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    /// Phone: digits, spaces, `+`, `-`, `(`, `)`; 4 to 40 characters.
    pub phone: Option<String>,
}

/// The raw fields of a new address, as a client sent them.
#[derive(Debug, Clone, Copy)]
pub struct RawAddress<'a> {
    /// Recipient.
    pub name: &'a str,
    /// First line.
    pub line1: &'a str,
    /// Second line.
    pub line2: Option<&'a str>,
    /// City.
    pub city: &'a str,
    /// Region.
    pub region: Option<&'a str>,
    /// Postal code.
    pub postal_code: &'a str,
    /// Country code, either case.
    pub country: &'a str,
    /// Phone.
    pub phone: Option<&'a str>,
    /// Make it the default shipping address.
    pub is_default_shipping: bool,
    /// Make it the default billing address.
    pub is_default_billing: bool,
}

/// A new address, valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAddress {
    /// Its fields.
    pub fields: AddressFields,
    /// Asked to be the default shipping address (a first address is, anyway).
    pub is_default_shipping: bool,
    /// Asked to be the default billing address (a first address is, anyway).
    pub is_default_billing: bool,
}

impl NewAddress {
    /// Parses every field of `raw`; the first bad one is named.
    pub fn parse(raw: RawAddress<'_>) -> Result<Self, AddressError> {
        Ok(Self {
            fields: AddressFields {
                name: name(raw.name)?,
                line1: line1(raw.line1)?,
                line2: raw.line2.map(line2).transpose()?.flatten(),
                city: city(raw.city)?,
                region: raw.region.map(region).transpose()?.flatten(),
                postal_code: postal_code(raw.postal_code)?,
                country: country(raw.country)?,
                phone: raw.phone.map(phone).transpose()?.flatten(),
            },
            is_default_shipping: raw.is_default_shipping,
            is_default_billing: raw.is_default_billing,
        })
    }

    /// The address a legacy registration gave, for the account named `name`: its
    /// free text as `line1`, no city, region or postal code (it cannot be split
    /// reliably), the shop's default country.
    pub fn from_legacy(name: &str, pending: PendingAddress) -> Self {
        Self {
            fields: AddressFields {
                name: name.trim().chars().take(200).collect(),
                line1: pending.line1,
                line2: None,
                city: String::new(),
                region: None,
                postal_code: String::new(),
                country: pending.country,
                phone: pending.phone,
            },
            is_default_shipping: true,
            is_default_billing: true,
        }
    }
}

/// Changes to an address: `None` leaves a field as it is; for the optional fields,
/// `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPatch {
    /// New recipient.
    pub name: Option<String>,
    /// New first line.
    pub line1: Option<String>,
    /// New second line, or none.
    pub line2: Option<Option<String>>,
    /// New city.
    pub city: Option<String>,
    /// New region, or none.
    pub region: Option<Option<String>>,
    /// New postal code.
    pub postal_code: Option<String>,
    /// New country.
    pub country: Option<String>,
    /// New phone, or none.
    pub phone: Option<Option<String>>,
    /// `true` makes it the default shipping address; `false` is refused for the
    /// default (make another one the default instead) and changes nothing otherwise.
    pub is_default_shipping: Option<bool>,
    /// The same for billing.
    pub is_default_billing: Option<bool>,
}

/// One optional field of a patch: absent, null (clear), or a value.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// Not sent: unchanged.
    Keep,
    /// `null`: cleared.
    Clear,
    /// A new value (blank clears too).
    Set(&'a str),
}

/// The raw fields of a patch.
#[derive(Debug, Clone, Copy)]
pub struct RawPatch<'a> {
    /// New recipient.
    pub name: Option<&'a str>,
    /// New first line.
    pub line1: Option<&'a str>,
    /// Second line.
    pub line2: Change<'a>,
    /// New city.
    pub city: Option<&'a str>,
    /// Region.
    pub region: Change<'a>,
    /// New postal code.
    pub postal_code: Option<&'a str>,
    /// New country.
    pub country: Option<&'a str>,
    /// Phone.
    pub phone: Change<'a>,
    /// Default shipping.
    pub is_default_shipping: Option<bool>,
    /// Default billing.
    pub is_default_billing: Option<bool>,
}

fn optional(
    change: Change<'_>,
    parse: fn(&str) -> Result<Option<String>, AddressError>,
) -> Result<Option<Option<String>>, AddressError> {
    match change {
        Change::Keep => Ok(None),
        Change::Clear => Ok(Some(None)),
        Change::Set(raw) => parse(raw).map(Some),
    }
}

impl AddressPatch {
    /// Parses every field `raw` sends; the first bad one is named.
    pub fn parse(raw: RawPatch<'_>) -> Result<Self, AddressError> {
        Ok(Self {
            name: raw.name.map(name).transpose()?,
            line1: raw.line1.map(line1).transpose()?,
            line2: optional(raw.line2, line2)?,
            city: raw.city.map(city).transpose()?,
            region: optional(raw.region, region)?,
            postal_code: raw.postal_code.map(postal_code).transpose()?,
            country: raw.country.map(country).transpose()?,
            phone: optional(raw.phone, phone)?,
            is_default_shipping: raw.is_default_shipping,
            is_default_billing: raw.is_default_billing,
        })
    }

    /// `fields` with this patch applied.
    pub fn apply(&self, fields: AddressFields) -> AddressFields {
        let pick = |new: &Option<String>, old: String| new.clone().unwrap_or(old);
        let pick_opt =
            |new: &Option<Option<String>>, old: Option<String>| new.clone().unwrap_or(old);
        AddressFields {
            name: pick(&self.name, fields.name),
            line1: pick(&self.line1, fields.line1),
            line2: pick_opt(&self.line2, fields.line2),
            city: pick(&self.city, fields.city),
            region: pick_opt(&self.region, fields.region),
            postal_code: pick(&self.postal_code, fields.postal_code),
            country: pick(&self.country, fields.country),
            phone: pick_opt(&self.phone, fields.phone),
        }
    }
}

/// The address a legacy registration sent, kept with its registration attempt until
/// the code is proven (then it becomes the account's first address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAddress {
    /// The free text, trimmed, on one line, at most [`LEGACY_LINE_CHARS`].
    pub line1: String,
    /// The phone, if it was a valid one.
    pub phone: Option<String>,
    /// The shop's default country at registration.
    pub country: String,
}

impl PendingAddress {
    /// What the legacy registration's `address` and `phone` give: nothing without
    /// an address. Never refuses (the original shop stored any text): the address is
    /// put on one line and cut to [`LEGACY_LINE_CHARS`] characters, and a phone that
    /// is not valid is dropped.
    pub fn from_legacy(address: Option<&str>, phone: Option<&str>, country: &str) -> Option<Self> {
        let line1 = address
            .unwrap_or_default()
            .split(|c: char| c.is_whitespace() || c.is_control())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if line1.is_empty() {
            return None;
        }
        let line1 = line1
            .chars()
            .take(LEGACY_LINE_CHARS)
            .collect::<String>()
            .trim_end()
            .to_owned();
        Some(Self {
            line1,
            phone: phone.and_then(|p| self::phone(p).ok().flatten()),
            country: country.to_owned(),
        })
    }
}

/// Trimmed text of `min..=max` characters without control characters.
fn text(field: &'static str, raw: &str, min: usize, max: usize) -> Result<String, AddressError> {
    let value = raw.trim();
    let chars = value.chars().count();
    if chars < min {
        return Err(AddressError::invalid(field, "is required"));
    }
    if chars > max {
        return Err(AddressError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(AddressError::invalid(
            field,
            "must not contain control characters (one line)",
        ));
    }
    Ok(value.to_owned())
}

/// Like [`text`], but blank is none.
fn optional_text(
    field: &'static str,
    raw: &str,
    max: usize,
) -> Result<Option<String>, AddressError> {
    let value = text(field, raw, 0, max)?;
    Ok((!value.is_empty()).then_some(value))
}

/// The recipient: 1 to 200 characters.
pub fn name(raw: &str) -> Result<String, AddressError> {
    text("name", raw, 1, 200)
}

/// The first line: 1 to 200 characters.
pub fn line1(raw: &str) -> Result<String, AddressError> {
    text("line1", raw, 1, 200)
}

/// The second line: at most 200 characters; blank is none.
pub fn line2(raw: &str) -> Result<Option<String>, AddressError> {
    optional_text("line2", raw, 200)
}

/// The city: 1 to 100 characters.
pub fn city(raw: &str) -> Result<String, AddressError> {
    text("city", raw, 1, 100)
}

/// The region: at most 100 characters; blank is none.
pub fn region(raw: &str) -> Result<Option<String>, AddressError> {
    optional_text("region", raw, 100)
}

/// The postal code: 1 to 20 letters, digits, spaces and dashes.
pub fn postal_code(raw: &str) -> Result<String, AddressError> {
    let value = text("postal_code", raw, 1, 20)?;
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
    {
        return Err(AddressError::invalid(
            "postal_code",
            "may hold only letters, digits, spaces and dashes",
        ));
    }
    Ok(value)
}

/// The country: an ISO 3166-1 alpha-2 code in either case, kept upper case.
pub fn country(raw: &str) -> Result<String, AddressError> {
    let code = raw.trim().to_ascii_uppercase();
    if code.len() != 2 || !ISO_3166.contains(code.as_str()) {
        return Err(AddressError::invalid(
            "country",
            format!(
                "`{}` is not an ISO 3166-1 alpha-2 country code",
                raw.trim().chars().take(8).collect::<String>()
            ),
        ));
    }
    Ok(code)
}

/// The phone: 4 to 40 digits, spaces, `+`, `-`, `(` and `)`, with a digit; blank is
/// none.
pub fn phone(raw: &str) -> Result<Option<String>, AddressError> {
    let Some(value) = optional_text("phone", raw, 40)? else {
        return Ok(None);
    };
    if value.chars().count() < 4 {
        return Err(AddressError::invalid(
            "phone",
            "must be at least 4 characters",
        ));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_digit() || " +-()".contains(c))
        || !value.chars().any(|c| c.is_ascii_digit())
    {
        return Err(AddressError::invalid(
            "phone",
            "may hold only digits, spaces, `+`, `-`, `(` and `)`",
        ));
    }
    Ok(Some(value))
}

#[cfg(test)]
mod tests;
