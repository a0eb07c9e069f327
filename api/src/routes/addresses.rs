//! `/api/me/addresses`: the signed-in customer's address book.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi, param::Path, payload::Json, types::MaybeUndefined,
};
use uuid::Uuid;

use super::ApiTags;
use crate::{
    addresses::{
        model::{AddressPatch, Change, NewAddress, RawAddress, RawPatch},
        repo::Address,
        service,
    },
    auth::extract::BearerAuth,
    envelope::Envelope,
    json_body::JsonBody,
    state::SharedState,
};
use crate::{error::Failure, routes::outcomes};

/// An address of the book.
#[derive(Debug, Clone, Object)]
pub struct AddressView {
    /// Id.
    pub id: Uuid,
    /// Recipient.
    pub name: String,
    /// First line (a legacy registration's free-text address is all here).
    pub line1: String,
    /// Second line; `null` when none.
    #[oai(nullable)]
    pub line2: Option<String>,
    /// City (empty only for a legacy free-text address).
    pub city: String,
    /// Region, state or province; `null` when none.
    #[oai(nullable)]
    pub region: Option<String>,
    /// Postal code (empty only for a legacy free-text address).
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code, upper case.
    pub country: String,
    /// Phone; `null` when none.
    #[oai(nullable)]
    pub phone: Option<String>,
    /// The default shipping address (exactly one while the book holds any).
    pub is_default_shipping: bool,
    /// The default billing address (exactly one while the book holds any).
    pub is_default_billing: bool,
    /// Added.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Address> for AddressView {
    fn from(a: Address) -> Self {
        Self {
            id: a.id,
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country: a.country,
            phone: a.phone,
            is_default_shipping: a.is_default_shipping,
            is_default_billing: a.is_default_billing,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// `POST /api/me/addresses`. Text is trimmed; a blank optional field is none.
#[derive(Debug, Object)]
pub struct NewAddressRequest {
    /// Recipient, 1 to 200 characters.
    pub name: String,
    /// First line, 1 to 200 characters.
    pub line1: String,
    /// Second line, at most 200 characters.
    pub line2: Option<String>,
    /// City, 1 to 100 characters.
    pub city: String,
    /// Region, state or province, at most 100 characters.
    pub region: Option<String>,
    /// Postal code: 1 to 20 letters, digits, spaces and dashes.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code, either case (`de` is `DE`).
    pub country: String,
    /// Phone: 4 to 40 digits, spaces, `+`, `-`, `(` and `)`.
    pub phone: Option<String>,
    /// Make it the default shipping address (the first address always is).
    pub is_default_shipping: Option<bool>,
    /// Make it the default billing address (the first address always is).
    pub is_default_billing: Option<bool>,
}

/// `PATCH /api/me/addresses/{id}`: only the fields sent change, with the rules of
/// `POST`; `null` clears `line2`, `region` or `phone`.
#[derive(Debug, Object)]
pub struct AddressChanges {
    /// New recipient.
    pub name: Option<String>,
    /// New first line.
    pub line1: Option<String>,
    /// New second line; `null` clears it.
    pub line2: MaybeUndefined<String>,
    /// New city.
    pub city: Option<String>,
    /// New region; `null` clears it.
    pub region: MaybeUndefined<String>,
    /// New postal code.
    pub postal_code: Option<String>,
    /// New country code.
    pub country: Option<String>,
    /// New phone; `null` clears it.
    pub phone: MaybeUndefined<String>,
    /// `true` makes it the default shipping address (the previous one stops being
    /// it); `false` on the default is refused: make another address the default.
    pub is_default_shipping: Option<bool>,
    /// The same for billing.
    pub is_default_billing: Option<bool>,
}

fn change(field: &MaybeUndefined<String>) -> Change<'_> {
    match field {
        MaybeUndefined::Undefined => Change::Keep,
        MaybeUndefined::Null => Change::Clear,
        MaybeUndefined::Value(v) => Change::Set(v),
    }
}

/// 201 with the new address.
#[derive(ApiResponse)]
pub enum Added {
    /// The address is in the book.
    #[oai(status = 201)]
    Created(Json<Envelope<AddressView>>),
}

/// 204.
#[derive(ApiResponse)]
pub enum Deleted {
    /// The address is gone; a default it was passed to the oldest address left.
    #[oai(status = 204)]
    NoContent,
}

/// The address-book endpoints.
pub struct AddressesApi;

#[OpenApi(prefix_path = "/api/me/addresses", tag = "ApiTags::Addresses")]
impl AddressesApi {
    /// My addresses, oldest first (at most 20).
    #[oai(path = "/", method = "get", operation_id = "addresses_list")]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
    ) -> Result<Json<Envelope<Vec<AddressView>>>, Failure<outcomes::SignedIn>> {
        let addresses = service::list(&state.db, auth.0.sub).await?;
        Ok(Json(Envelope::new(
            addresses.into_iter().map(AddressView::from).collect(),
            "your addresses",
        )))
    }

    /// Add an address. The first becomes the default shipping and billing address;
    /// asking for a default takes it from the previous one. 409 `ADDRESS_BOOK_FULL`
    /// past 20 addresses.
    #[oai(path = "/", method = "post", operation_id = "addresses_add")]
    async fn add(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        body: JsonBody<NewAddressRequest>,
    ) -> Result<Added, Failure<outcomes::AddAddress>> {
        let b = &body.0;
        let address = NewAddress::parse(RawAddress {
            name: &b.name,
            line1: &b.line1,
            line2: b.line2.as_deref(),
            city: &b.city,
            region: b.region.as_deref(),
            postal_code: &b.postal_code,
            country: &b.country,
            phone: b.phone.as_deref(),
            is_default_shipping: b.is_default_shipping.unwrap_or(false),
            is_default_billing: b.is_default_billing.unwrap_or(false),
        })?;
        let created = service::create(&state.db, auth.0.sub, address).await?;
        Ok(Added::Created(Json(Envelope::new(
            created.into(),
            "address added",
        ))))
    }

    /// One of my addresses; someone else's is 404.
    #[oai(path = "/:id", method = "get", operation_id = "addresses_get")]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<Envelope<AddressView>>, Failure<outcomes::SignedInItem>> {
        let address = service::get(&state.db, auth.0.sub, id.0).await?;
        Ok(Json(Envelope::new(address.into(), "address")))
    }

    /// Change some fields of one of my addresses; someone else's is 404.
    #[oai(path = "/:id", method = "patch", operation_id = "addresses_update")]
    async fn update(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: JsonBody<AddressChanges>,
    ) -> Result<Json<Envelope<AddressView>>, Failure<outcomes::SignedInItem>> {
        let b = &body.0;
        let patch = AddressPatch::parse(RawPatch {
            name: b.name.as_deref(),
            line1: b.line1.as_deref(),
            line2: change(&b.line2),
            city: b.city.as_deref(),
            region: change(&b.region),
            postal_code: b.postal_code.as_deref(),
            country: b.country.as_deref(),
            phone: change(&b.phone),
            is_default_shipping: b.is_default_shipping,
            is_default_billing: b.is_default_billing,
        })?;
        let updated = service::update(&state.db, auth.0.sub, id.0, patch).await?;
        Ok(Json(Envelope::new(updated.into(), "address updated")))
    }

    /// Delete one of my addresses; someone else's is 404. A default it was passes to
    /// the oldest address left.
    #[oai(path = "/:id", method = "delete", operation_id = "addresses_delete")]
    async fn delete(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Deleted, Failure<outcomes::SignedInItem>> {
        service::delete(&state.db, auth.0.sub, id.0).await?;
        Ok(Deleted::NoContent)
    }
}
