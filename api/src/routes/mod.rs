//! HTTP resources, one module each. Handlers are thin: parse, call the domain, map the
//! outcome to a documented response.

/// Implements `Debug` for a request type, printing the `shown` fields and
/// `<redacted>` for the `hidden` ones; every field must be named.
macro_rules! redacted_debug {
    ($ty:ident { shown: [$($shown:ident),*], hidden: [$($hidden:ident),*] }) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let Self { $($shown,)* $($hidden: _,)* } = self;
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($shown), $shown))*
                    $(.field(stringify!($hidden), &"<redacted>"))*
                    .finish()
            }
        }
    };
}

pub mod addresses;
pub mod admin;
pub mod admin_audit;
pub mod admin_categories;
pub mod admin_orders;
pub mod admin_products;
pub mod auth;
pub mod cart;
pub mod categories;
mod credentials;
pub mod docs;
pub mod health;
pub mod legacy;
pub mod orders;
pub mod outcomes;
pub mod payments;
pub mod products;
pub mod reviews;
pub mod search;
pub mod stats;

use poem_openapi::Tags;

/// Groups of operations in the OpenAPI document.
#[derive(Tags)]
pub enum ApiTags {
    /// Liveness and readiness of one instance.
    Health,
    /// Which instance answered, and how it is doing.
    Stats,
    /// Registration by e-mailed code, login, tokens.
    Auth,
    /// The public catalogue.
    Products,
    /// Catalogue writes (admin only).
    AdminProducts,
    /// The signed-in user's cart.
    Cart,
    /// Orders.
    Orders,
    /// The signed-in customer's address book.
    Addresses,
    /// Payment providers' webhooks.
    Payments,
    /// Product reviews by verified buyers, and helpful votes.
    Reviews,
    /// Admin-only operations.
    Admin,
    /// Deprecated: the routes and shapes of the Express shop this API replaces, kept
    /// so its frontend works unchanged. Use the canonical routes in new code.
    Legacy,
}
