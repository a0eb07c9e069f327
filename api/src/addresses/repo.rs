//! The `addresses` table: queries on any connection (the transactions, and the lock
//! that serializes a customer's writes, are in `service`).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

use super::model::AddressFields;
use crate::sql::stmt;

/// A stored address.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Address {
    /// Id.
    pub id: Uuid,
    /// Recipient.
    pub name: String,
    /// First line.
    pub line1: String,
    /// Second line.
    pub line2: Option<String>,
    /// City ('' for a legacy free-text address).
    pub city: String,
    /// Region.
    pub region: Option<String>,
    /// Postal code ('' for a legacy free-text address).
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Phone.
    pub phone: Option<String>,
    /// The default shipping address.
    pub is_default_shipping: bool,
    /// The default billing address.
    pub is_default_billing: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Address {
    /// Its fields, to patch.
    pub fn fields(&self) -> AddressFields {
        AddressFields {
            name: self.name.clone(),
            line1: self.line1.clone(),
            line2: self.line2.clone(),
            city: self.city.clone(),
            region: self.region.clone(),
            postal_code: self.postal_code.clone(),
            country: self.country.clone(),
            phone: self.phone.clone(),
        }
    }
}

const COLUMNS: &str = "id, name, line1, line2, city, region, postal_code, country, phone, \
    is_default_shipping, is_default_billing, created_at, updated_at";

#[derive(FromQueryResult)]
struct Found {
    #[allow(dead_code, reason = "read only to learn that the row exists")]
    id: Uuid,
}

#[derive(FromQueryResult)]
struct Count {
    n: i64,
}

/// Locks the row of `user` against every other address-book write until the
/// transaction ends; `false` when the user does not exist. `FOR NO KEY UPDATE`, not
/// `FOR UPDATE`: it does not hold up inserts elsewhere that merely refer to the user
/// (carts, orders, tokens), which take a key-share lock.
pub async fn lock_user(db: &impl ConnectionTrait, user: Uuid) -> Result<bool, DbErr> {
    Ok(Found::find_by_statement(stmt(
        "SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE",
        vec![user.into()],
    ))
    .one(db)
    .await?
    .is_some())
}

/// How many addresses `user` keeps.
pub async fn count(db: &impl ConnectionTrait, user: Uuid) -> Result<i64, DbErr> {
    Ok(Count::find_by_statement(stmt(
        "SELECT count(*) AS n FROM addresses WHERE user_id = $1",
        vec![user.into()],
    ))
    .one(db)
    .await?
    .map_or(0, |c| c.n))
}

/// The addresses of `user`, oldest first.
pub async fn mine(db: &impl ConnectionTrait, user: Uuid) -> Result<Vec<Address>, DbErr> {
    Address::find_by_statement(stmt(
        &format!("SELECT {COLUMNS} FROM addresses WHERE user_id = $1 ORDER BY created_at, id"),
        vec![user.into()],
    ))
    .all(db)
    .await
}

/// Address `id`, if it is one of `user`'s.
pub async fn get(
    db: &impl ConnectionTrait,
    user: Uuid,
    id: Uuid,
) -> Result<Option<Address>, DbErr> {
    Address::find_by_statement(stmt(
        &format!("SELECT {COLUMNS} FROM addresses WHERE id = $1 AND user_id = $2"),
        vec![id.into(), user.into()],
    ))
    .one(db)
    .await
}

/// Which default an address holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The default shipping address.
    Shipping,
    /// The default billing address.
    Billing,
}

impl Role {
    fn column(self) -> &'static str {
        match self {
            Self::Shipping => "is_default_shipping",
            Self::Billing => "is_default_billing",
        }
    }
}

/// Takes the default `role` from every address of `user` but `keep`.
pub async fn clear_default(
    db: &impl ConnectionTrait,
    user: Uuid,
    role: Role,
    keep: Uuid,
) -> Result<(), DbErr> {
    let column = role.column();
    db.execute_raw(stmt(
        &format!(
            "UPDATE addresses SET {column} = FALSE, updated_at = now()
             WHERE user_id = $1 AND {column} AND id <> $2"
        ),
        vec![user.into(), keep.into()],
    ))
    .await?;
    Ok(())
}

/// Makes address `id` of `user` the default `role` (the previous one must have been
/// cleared in this transaction).
pub async fn set_default(
    db: &impl ConnectionTrait,
    user: Uuid,
    role: Role,
    id: Uuid,
) -> Result<(), DbErr> {
    let column = role.column();
    db.execute_raw(stmt(
        &format!(
            "UPDATE addresses SET {column} = TRUE, updated_at = now()
             WHERE id = $1 AND user_id = $2 AND NOT {column}"
        ),
        vec![id.into(), user.into()],
    ))
    .await?;
    Ok(())
}

/// Gives the default `role` to the oldest address of `user`, if any.
pub async fn promote_oldest(
    db: &impl ConnectionTrait,
    user: Uuid,
    role: Role,
) -> Result<(), DbErr> {
    let column = role.column();
    db.execute_raw(stmt(
        &format!(
            "UPDATE addresses SET {column} = TRUE, updated_at = now()
             WHERE id = (SELECT id FROM addresses WHERE user_id = $1
                         ORDER BY created_at, id LIMIT 1)"
        ),
        vec![user.into()],
    ))
    .await?;
    Ok(())
}

/// Inserts an address of `user` holding the defaults asked for.
pub async fn insert(
    db: &impl ConnectionTrait,
    user: Uuid,
    id: Uuid,
    fields: &AddressFields,
    shipping: bool,
    billing: bool,
) -> Result<Option<Address>, DbErr> {
    let f = fields.clone();
    Address::find_by_statement(stmt(
        &format!(
            "INSERT INTO addresses (id, user_id, name, line1, line2, city, region, postal_code,
                                    country, phone, is_default_shipping, is_default_billing)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             RETURNING {COLUMNS}"
        ),
        vec![
            id.into(),
            user.into(),
            f.name.into(),
            f.line1.into(),
            f.line2.into(),
            f.city.into(),
            f.region.into(),
            f.postal_code.into(),
            f.country.into(),
            f.phone.into(),
            shipping.into(),
            billing.into(),
        ],
    ))
    .one(db)
    .await
}

/// Writes the fields of address `id` of `user`.
pub async fn update(
    db: &impl ConnectionTrait,
    user: Uuid,
    id: Uuid,
    fields: &AddressFields,
) -> Result<(), DbErr> {
    let f = fields.clone();
    db.execute_raw(stmt(
        "UPDATE addresses SET name = $3, line1 = $4, line2 = $5, city = $6, region = $7,
                postal_code = $8, country = $9, phone = $10, updated_at = now()
         WHERE id = $1 AND user_id = $2",
        vec![
            id.into(),
            user.into(),
            f.name.into(),
            f.line1.into(),
            f.line2.into(),
            f.city.into(),
            f.region.into(),
            f.postal_code.into(),
            f.country.into(),
            f.phone.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Deletes address `id` of `user`; the deleted row, if it was there.
pub async fn delete(
    db: &impl ConnectionTrait,
    user: Uuid,
    id: Uuid,
) -> Result<Option<Address>, DbErr> {
    Address::find_by_statement(stmt(
        &format!("DELETE FROM addresses WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}"),
        vec![id.into(), user.into()],
    ))
    .one(db)
    .await
}
