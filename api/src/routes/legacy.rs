//! The Express original's routes and response shapes, so its frontend works against
//! this API unchanged. A thin layer: every handler parses the old shape, calls the
//! same domain code as the canonical `/api/...` route, and maps the answer back.
//!
//! Deliberately stricter than the original: uploads and every `/stats/*` route need an
//! admin token, and a cart item can only be changed by its owner. Errors keep the one
//! error shape; it carries both `error` and `message` strings, which is what the old
//! frontend reads (`{error}` after a wrong code, `{message}` elsewhere).

use poem::{Request, http::StatusCode, web::Data};
use poem_openapi::{
    ApiResponse, Multipart, Object, OpenApi, param::Path, payload::Json, types::multipart::Upload,
};
use uuid::Uuid;

use super::{
    ApiTags,
    admin_products::{create_with_images, created_product},
    auth,
    orders::place_order as place_from_cart,
};
use crate::{
    auth::{
        extract::{AdminAuth, BearerAuth},
        service::IssuedTokens,
    },
    catalogue::{
        cache,
        model::{Category, ImageRef, NewProduct, ProductView, field_error},
        repo,
    },
    error::ApiError,
    json_body::JsonBody,
    money::{format_cents, parse_decimal_cents},
    orders::cart::{self, CartLine},
    shop_stats::{self, ShopStats},
    state::SharedState,
};

/// `POST /api/userRegister`.
#[derive(Debug, Object)]
pub struct LegacyRegisterRequest {
    /// Display name.
    pub name: String,
    /// E-mail address; the code is sent there.
    pub email: String,
    /// The same rules as `POST /api/auth/register`.
    pub password: String,
    /// Accepted for compatibility and not stored.
    pub phone: Option<String>,
    /// Accepted for compatibility and not stored.
    pub address: Option<String>,
}

/// A registration.
#[derive(Debug, Object)]
pub struct LegacyUserRef {
    /// Opaque registration id (not the account id, which `verify-otp` returns).
    pub id: Uuid,
    /// E-mail address.
    pub email: String,
}

/// 201 of `POST /api/userRegister`.
#[derive(Debug, Object)]
pub struct LegacyRegistered {
    /// What happened.
    pub message: String,
    /// The pending account.
    pub user: LegacyUserRef,
}

/// `POST /api/verify-otp`.
#[derive(Debug, Object)]
pub struct LegacyVerifyRequest {
    /// The address the code was sent to.
    pub email: String,
    /// The 6-digit code.
    pub otp: String,
}

/// `POST /api/userLogin`.
#[derive(Debug, Object)]
pub struct LegacyLoginRequest {
    /// E-mail address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// The signed-in user, old style.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct LegacyUser {
    /// Account id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// Whether the account is an admin.
    pub is_admin: bool,
}

/// 200 of verify and login.
#[derive(Debug, Object)]
pub struct LegacySession {
    /// What happened.
    pub message: String,
    /// `"Bearer <jwt>"`: send it as-is in `Authorization`.
    pub token: String,
    /// The user.
    pub user: LegacyUser,
}

impl LegacySession {
    fn new(message: &str, tokens: IssuedTokens) -> Self {
        Self {
            message: message.to_owned(),
            token: format!("Bearer {}", tokens.access_token),
            user: LegacyUser {
                id: tokens.user.id,
                name: tokens.user.name,
                email: tokens.user.email,
                is_admin: tokens.user.role == "admin",
            },
        }
    }
}

/// `POST /upload-product` (multipart).
#[derive(Debug, Multipart)]
#[oai(rename_all = "camelCase")]
pub struct LegacyUpload {
    /// The product image (JPEG, PNG or WebP, at most 5 MB).
    pub product_file: Upload,
    /// Name.
    pub name: String,
    /// Price as a decimal string such as `12.50`.
    pub price: String,
    /// Units in stock.
    pub stock: String,
    /// One of the catalogue categories, e.g. `STAPLES`.
    pub category: String,
    /// Description.
    pub description: Option<String>,
}

/// 201 of `POST /upload-product`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct LegacyUploaded {
    /// What happened.
    pub message: String,
    /// The product as the canonical API shows it.
    pub product: ProductView,
    /// The stored image.
    pub image: ImageRef,
    /// Path that serves the image from any instance.
    pub file_url: String,
    /// The new product's id.
    pub product_id: Uuid,
}

/// A product, old style.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct LegacyProduct {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Price as a decimal string, e.g. `12.50`.
    pub price: String,
    /// Units in stock.
    pub stock: i32,
    /// Category.
    pub category: Category,
    /// Path of the main image (served by every instance); `null` without images.
    #[oai(nullable)]
    pub image_url: Option<String>,
}

impl From<ProductView> for LegacyProduct {
    fn from(p: ProductView) -> Self {
        Self {
            image_url: p.images.first().map(|i| i.url.clone()),
            id: p.id,
            name: p.name,
            description: p.description,
            price: format_cents(p.price_cents),
            stock: p.stock,
            category: p.category,
        }
    }
}

/// `POST /products/addtocart`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct LegacyAddToCart {
    /// Product to add.
    pub product_id: Uuid,
    /// Units to add (default 1).
    pub quantity: Option<i64>,
}

/// `PUT /products/updatecartitem/{id}`.
#[derive(Debug, Object)]
pub struct LegacyQuantity {
    /// New quantity, at least 1.
    pub quantity: i64,
}

/// A message.
#[derive(Debug, Object)]
pub struct LegacyMessage {
    /// What happened.
    pub message: String,
}

/// A cart item, old style.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct LegacyCartItem {
    /// Cart item id (for `updatecartitem`).
    pub id: Uuid,
    /// Product id.
    pub product_id: Uuid,
    /// Quantity.
    pub quantity: i32,
    /// Product name now.
    pub product_name: String,
    /// Unit price now, as a decimal string.
    pub product_price: String,
}

impl From<CartLine> for LegacyCartItem {
    fn from(l: CartLine) -> Self {
        Self {
            id: l.id,
            product_id: l.product_id,
            quantity: l.quantity,
            product_name: l.product_name,
            product_price: format_cents(l.unit_price_cents),
        }
    }
}

/// 200 of `POST /products/placeorder`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct LegacyOrderPlaced {
    /// What happened.
    pub message: String,
    /// The new order's id.
    pub order_id: Uuid,
    /// Total in currency units, exact to the cent (e.g. `25.5`).
    pub total_amount: f64,
}

/// A count.
#[derive(Debug, Object)]
pub struct LegacyTotal {
    /// The number.
    pub total: i64,
}

/// An amount.
#[derive(Debug, Object)]
pub struct LegacyAmount {
    /// Revenue in currency units, exact to the cent.
    pub total: f64,
}

/// 201 of `POST /api/userRegister`.
#[derive(ApiResponse)]
pub enum Registered {
    /// The account awaits verification.
    #[oai(status = 201)]
    Created(Json<LegacyRegistered>),
}

/// 201 of `POST /upload-product`.
#[derive(ApiResponse)]
pub enum Uploaded {
    /// The product and its image are stored.
    #[oai(status = 201)]
    Created(Json<LegacyUploaded>),
}

/// Cents to units: exact for every amount the shop can hold (< 2^53 cents).
fn units(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// The old API answered 400 where the canonical one answers 409/422.
fn as_bad_request(mut e: ApiError) -> ApiError {
    if matches!(
        e.code,
        "CART_EMPTY" | "INSUFFICIENT_STOCK" | "PRODUCT_UNAVAILABLE"
    ) {
        e.status = StatusCode::BAD_REQUEST;
    }
    e
}

async fn stats(state: &SharedState) -> Result<ShopStats, ApiError> {
    Ok(shop_stats::load(&state.db).await?)
}

fn total(n: i64) -> Json<LegacyTotal> {
    Json(LegacyTotal { total: n })
}

/// The original shop's routes.
pub struct LegacyApi;

#[OpenApi(tag = "ApiTags::Legacy")]
impl LegacyApi {
    /// Register (old route): 201; the code goes out by e-mail. Same answer whether or
    /// not the address is taken: `user.id` identifies the registration (the same for
    /// every registration of the address), never an account; the account id comes
    /// with `verify-otp`. Use `POST /api/auth/register`.
    #[oai(
        path = "/api/userRegister",
        method = "post",
        operation_id = "legacy_user_register",
        deprecated
    )]
    async fn register(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        body: JsonBody<LegacyRegisterRequest>,
    ) -> Result<Registered, ApiError> {
        let email = auth::register(&state, req, &body.email, &body.name, &body.password)
            .await?
            .email;
        Ok(Registered::Created(Json(LegacyRegistered {
            message: "registered; a verification code is on its way by e-mail".into(),
            user: LegacyUserRef {
                id: state.auth.registration_id(&email),
                email: email.as_str().to_owned(),
            },
        })))
    }

    /// Verify the e-mailed code (old route): 200 with `token: "Bearer <jwt>"`. Wrong
    /// code 401, no pending code 400. Weaker than `POST /api/auth/verify-otp`, which
    /// names its registration: when someone else also registered the address, the
    /// inbox owner is verified and signed in but no password is applied (set one with
    /// `POST /api/auth/password/forgot`), so no stranger's password is ever active.
    #[oai(
        path = "/api/verify-otp",
        method = "post",
        operation_id = "legacy_verify_otp",
        deprecated
    )]
    async fn verify_otp(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        body: JsonBody<LegacyVerifyRequest>,
    ) -> Result<Json<LegacySession>, ApiError> {
        let tokens = auth::verify_otp(
            &state,
            req,
            &body.email,
            crate::auth::service::Proof::CodeOnly,
            &body.otp,
        )
        .await?;
        Ok(Json(LegacySession::new("e-mail verified", tokens)))
    }

    /// Log in (old route): 200 with `token: "Bearer <jwt>"`; 401 for unknown e-mail
    /// or wrong password alike, 403 when unverified. Use `POST /api/auth/login`.
    #[oai(
        path = "/api/userLogin",
        method = "post",
        operation_id = "legacy_user_login",
        deprecated
    )]
    async fn login(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        body: JsonBody<LegacyLoginRequest>,
    ) -> Result<Json<LegacySession>, ApiError> {
        let LegacyLoginRequest { email, password } = body.0;
        let tokens = auth::login(&state, req, &email, password).await?;
        Ok(Json(LegacySession::new("logged in", tokens)))
    }

    /// Upload a product with its image (old route, multipart). Admin only (the
    /// original accepted anyone). Use `POST /api/admin/products/upload`.
    #[oai(
        path = "/upload-product",
        method = "post",
        operation_id = "legacy_upload_product",
        deprecated
    )]
    async fn upload(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
        form: LegacyUpload,
    ) -> Result<Uploaded, ApiError> {
        let price = parse_decimal_cents(&form.price)
            .map_err(|problem| ApiError::validation("price", problem))?;
        let stock: i64 = form
            .stock
            .trim()
            .parse()
            .map_err(|_| ApiError::validation("stock", "must be a whole number"))?;
        let category = Category::parse(&form.category).ok_or_else(|| {
            ApiError::validation(
                "category",
                format!("`{}` is not a known category", form.category),
            )
        })?;
        let product = NewProduct::parse(
            &form.name,
            form.description.as_deref(),
            price,
            None,
            category,
            stock,
            None,
        )
        .map_err(|(field, problem)| {
            field_error((
                if field == "price_cents" {
                    "price"
                } else {
                    field
                },
                problem,
            ))
        })?;
        let id = create_with_images(&state, &product, vec![form.product_file]).await?;
        let product = created_product(&state, id).await?;
        let image = product
            .images
            .first()
            .cloned()
            .ok_or_else(|| ApiError::internal("uploaded product has no image"))?;
        Ok(Uploaded::Created(Json(LegacyUploaded {
            message: "product uploaded".into(),
            file_url: image.url.clone(),
            product_id: product.id,
            image,
            product,
        })))
    }

    /// Every product on sale with its main image URL (old route; served from the
    /// same Redis cache as the canonical listings). Use `GET /api/products`.
    #[oai(
        path = "/products/productimage",
        method = "get",
        operation_id = "legacy_products_with_image",
        deprecated
    )]
    async fn products(
        &self,
        state: Data<&SharedState>,
    ) -> Result<Json<Vec<LegacyProduct>>, ApiError> {
        let db = state.db.clone();
        let (products, _) = state
            .catalogue
            .get_or_load(cache::ALL_PRODUCTS, || async move {
                repo::all_active(&db).await
            })
            .await?;
        Ok(Json(
            products
                .into_iter()
                .map(LegacyProduct::from)
                .collect::<Vec<_>>(),
        ))
    }

    /// Add a product to my cart (old route). Use `POST /api/cart/items`.
    #[oai(
        path = "/products/addtocart",
        method = "post",
        operation_id = "legacy_add_to_cart",
        deprecated
    )]
    async fn add_to_cart(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        body: JsonBody<LegacyAddToCart>,
    ) -> Result<Json<LegacyMessage>, ApiError> {
        let max = state.settings.max_quantity_per_product;
        let quantity = cart::check_quantity("quantity", body.quantity.unwrap_or(1), max)?;
        cart::add(&state.db, auth.0.sub, body.product_id, quantity, max).await?;
        Ok(Json(LegacyMessage {
            message: "added to cart".into(),
        }))
    }

    /// My cart items (old route); 404 when I never had a cart. Use `GET /api/cart`.
    #[oai(
        path = "/products/cartitems",
        method = "get",
        operation_id = "legacy_cart_items",
        deprecated
    )]
    async fn cart_items(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
    ) -> Result<Json<Vec<LegacyCartItem>>, ApiError> {
        if !cart::exists(&state.db, auth.0.sub).await? {
            return Err(ApiError::not_found("cart"));
        }
        let lines = cart::lines(&state.db, auth.0.sub).await?;
        Ok(Json(lines.into_iter().map(LegacyCartItem::from).collect()))
    }

    /// Set the quantity of one of my cart items (old route); someone else's item is
    /// 404. Use `PATCH /api/cart/items/{product_id}`.
    #[oai(
        path = "/products/updatecartitem/:id",
        method = "put",
        operation_id = "legacy_update_cart_item",
        deprecated
    )]
    async fn update_cart_item(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        /// Cart item id.
        id: Path<Uuid>,
        body: JsonBody<LegacyQuantity>,
    ) -> Result<Json<LegacyCartItem>, ApiError> {
        let quantity = cart::check_quantity(
            "quantity",
            body.quantity,
            state.settings.max_quantity_per_product,
        )?;
        cart::set_item_quantity(&state.db, auth.0.sub, id.0, quantity).await?;
        let line = cart::lines(&state.db, auth.0.sub)
            .await?
            .into_iter()
            .find(|l| l.id == id.0)
            .ok_or_else(|| ApiError::not_found("cart item"))?;
        Ok(Json(line.into()))
    }

    /// Place an order from my cart (old route): the same transaction as
    /// `POST /api/orders`. Empty cart or not enough stock: 400 naming the product.
    #[oai(
        path = "/products/placeorder",
        method = "post",
        operation_id = "legacy_place_order",
        deprecated
    )]
    async fn place_order(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        req: &Request,
    ) -> Result<Json<LegacyOrderPlaced>, ApiError> {
        let order = place_from_cart(&state, auth.0.sub, req, None, None)
            .await
            .map_err(as_bad_request)?;
        state.catalogue.invalidate().await;
        Ok(Json(LegacyOrderPlaced {
            message: "order placed".into(),
            order_id: order.id,
            total_amount: units(order.total_cents),
        }))
    }

    /// Number of users (old route). Admin only. Use `GET /api/admin/stats`.
    #[oai(
        path = "/stats/totalusers",
        method = "get",
        operation_id = "legacy_stats_total_users",
        deprecated
    )]
    async fn total_users(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
    ) -> Result<Json<LegacyTotal>, ApiError> {
        Ok(total(stats(&state).await?.users.total))
    }

    /// Number of orders (old route). Admin only.
    #[oai(
        path = "/stats/totalorders",
        method = "get",
        operation_id = "legacy_stats_total_orders",
        deprecated
    )]
    async fn total_orders(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
    ) -> Result<Json<LegacyTotal>, ApiError> {
        Ok(total(stats(&state).await?.orders.total))
    }

    /// Number of pending orders (old route). Admin only.
    #[oai(
        path = "/stats/totalpendingorders",
        method = "get",
        operation_id = "legacy_stats_pending_orders",
        deprecated
    )]
    async fn total_pending_orders(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
    ) -> Result<Json<LegacyTotal>, ApiError> {
        Ok(total(stats(&state).await?.orders.pending))
    }

    /// Number of completed orders (old route). Admin only.
    #[oai(
        path = "/stats/totalcompletedorders",
        method = "get",
        operation_id = "legacy_stats_completed_orders",
        deprecated
    )]
    async fn total_completed_orders(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
    ) -> Result<Json<LegacyTotal>, ApiError> {
        Ok(total(stats(&state).await?.orders.completed))
    }

    /// Number of products on sale (old route). Admin only.
    #[oai(
        path = "/stats/totalproducts",
        method = "get",
        operation_id = "legacy_stats_total_products",
        deprecated
    )]
    async fn total_products(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
    ) -> Result<Json<LegacyTotal>, ApiError> {
        Ok(total(stats(&state).await?.products.total))
    }

    /// Revenue of all orders that are not cancelled, in currency units (old route):
    /// in the shop's main currency (the one with the most orders), never a sum across
    /// currencies. Admin only.
    #[oai(
        path = "/stats/revenue",
        method = "get",
        operation_id = "legacy_stats_revenue",
        deprecated
    )]
    async fn revenue(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
    ) -> Result<Json<LegacyAmount>, ApiError> {
        Ok(Json(LegacyAmount {
            total: units(stats(&state).await?.revenue.main_total_cents()),
        }))
    }

    /// Every product on sale, read from PostgreSQL (old route). Admin only.
    #[oai(
        path = "/stats/products",
        method = "get",
        operation_id = "legacy_stats_products",
        deprecated
    )]
    async fn stats_products(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
    ) -> Result<Json<Vec<LegacyProduct>>, ApiError> {
        let products = repo::all_active(&state.db).await?;
        Ok(Json(
            products.into_iter().map(LegacyProduct::from).collect(),
        ))
    }
}
