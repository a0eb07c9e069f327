//! HTTP resources, one module each. Handlers are thin: parse, call the domain, map the
//! outcome to a documented response.

pub mod admin;
pub mod admin_products;
pub mod auth;
pub mod cart;
pub mod docs;
pub mod health;
pub mod legacy;
pub mod orders;
pub mod outcomes;
pub mod products;
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
    /// Admin-only operations.
    Admin,
    /// Deprecated: the routes and shapes of the Express shop this API replaces, kept
    /// so its frontend works unchanged. Use the canonical routes in new code.
    Legacy,
}
