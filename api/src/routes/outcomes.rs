//! What each operation documents of its failures (`error::Failure`): every status
//! it answers besides success, with the stable codes it carries. The catch-all
//! `4XX`/`5XX` ranges (malformed input, limits, a dependency down) come with every
//! operation. A test checks that every code the code can answer appears in the spec.

use crate::outcomes;

const UNAUTHORIZED: &str = "`UNAUTHORIZED`: no valid access token (missing, expired, \
    revoked, or signed with another key)";
const ADMIN_ONLY: &str = "`FORBIDDEN`: the token is not an admin's";
const UNAVAILABLE: &str = "`SERVICE_UNAVAILABLE`: PostgreSQL or Redis is down; retry \
    after `Retry-After`";
const CODE_LIMITS: &str = "`OTP_COOLDOWN`: a code was sent moments ago; \
    `TOO_MANY_REQUESTS`: the hourly caps on codes per e-mail or per address, or on \
    wrong codes. Both with `Retry-After`";
const LOGIN_LIMITS: &str = "`TOO_MANY_LOGIN_ATTEMPTS`: too many failed logins for the \
    account, the pair of account and address, or the address; with `Retry-After`";
const CODE_WRONG: &str = "`OTP_INVALID`: wrong code (`details.remaining_attempts`); \
    at 0 the code is spent";
const CODE_MISSING: &str = "`OTP_NOT_FOUND`: no code is pending for this registration \
    or e-mail; `VALIDATION_ERROR`: a field is malformed (named in `details.field`)";
const CART_REFUSALS: &str = "`INSUFFICIENT_STOCK`: not that much stock now \
    (`details.available`); `PRODUCT_UNAVAILABLE`: an archived product (named); \
    `QUANTITY_LIMIT`: over the per-product limit in one cart; `CART_FULL`: too many \
    lines; `CART_CURRENCY_MISMATCH`: the cart holds another currency";
const ORDER_REFUSALS: &str = "`INSUFFICIENT_STOCK`: a product has less stock than the \
    cart asks (each named in `details.products`, nothing written); \
    `IDEMPOTENCY_IN_PROGRESS`: a request with this `Idempotency-Key` is still running";
const ORDER_INVALID: &str = "`CART_EMPTY`: nothing to order; `MIXED_CURRENCIES`: the \
    cart mixes currencies; `IDEMPOTENCY_KEY_REUSED`: this `Idempotency-Key` came with \
    another body; `SHIPPING_ADDRESS_REQUIRED`: no default shipping address, or \
    `shipping_address_id` is not one of mine (`details.field`)";
const STATE_CONFLICT: &str = "`ORDER_STATE_CONFLICT`: the order is not in a state this \
    move starts from (`details.current_status`); of two concurrent moves one wins, the \
    other gets this";
const PRODUCT_MISSING: &str = "`NOT_FOUND`: no such product";
const PRODUCT_NOT_ON_SALE: &str = "`NOT_FOUND`: no such product on sale (a draft or an \
    archived product is answered as an unknown one)";
const IMAGE_REFUSALS: &str = "`UNSUPPORTED_IMAGE_TYPE`: an image that is not JPEG, PNG \
    or WebP by its bytes";
const IMAGE_TOO_LARGE: &str = "`IMAGE_TOO_LARGE`: an image over 5 MB; \
    `PAYLOAD_TOO_LARGE`: the whole body over the route's limit";
const UNKNOWN_CATEGORY: &str = "`UNKNOWN_CATEGORY`: `category` is no category's code or \
    slug (`GET /api/categories`), or the category was deleted meanwhile";
const CATEGORY_FIELDS: &str = "`UNKNOWN_PARENT`: `parent_id` is no category; \
    `CATEGORY_CYCLE`: `parent_id` is the category itself or one of its descendants; \
    `CATEGORY_TOO_DEEP`: the tree would be deeper than 8 levels (all with \
    `details.field` = `parent_id`)";
const LEGACY_ORDER: &str = "`CART_EMPTY`, `INSUFFICIENT_STOCK`, \
    `PRODUCT_UNAVAILABLE`: the legacy frontend's 400 for an order it cannot place";

outcomes!(
    /// `GET /health/ready`.
    pub Ready { 503 => "`NOT_READY`: a dependency is down or the instance drains (`details.failed`)" }
);
outcomes!(
    /// Any operation that reads PostgreSQL or Redis, and nothing else can refuse.
    pub ReadOnly { 503 => UNAVAILABLE }
);
outcomes!(
    /// `POST /api/auth/register`, `resend-otp`, `password/forgot`.
    pub SendsCode { 429 => CODE_LIMITS, 503 => UNAVAILABLE }
);
outcomes!(
    /// `POST /api/auth/verify-otp`, `password/reset`.
    pub ChecksCode {
        400 => CODE_MISSING,
        401 => CODE_WRONG,
        429 => CODE_LIMITS,
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `POST /api/auth/login`.
    pub Login {
        401 => "`INVALID_CREDENTIALS`: unknown e-mail or wrong password, alike",
        403 => "`EMAIL_NOT_VERIFIED`: the password is right but the e-mail is not verified",
        429 => LOGIN_LIMITS,
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `POST /api/auth/password/change`.
    pub ChangePassword {
        401 => "`INVALID_CREDENTIALS`: the current password is wrong; `UNAUTHORIZED`: no valid access token",
        429 => LOGIN_LIMITS,
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `POST /api/auth/refresh`.
    pub Refresh {
        401 => "`INVALID_REFRESH_TOKEN`: unknown or expired; `REFRESH_TOKEN_ROTATED`: another \
            request rotated it moments ago (use the newest); `REFRESH_TOKEN_REUSED`: it was \
            used before, the session is revoked",
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// Operations of a signed-in user that nothing else refuses.
    pub SignedIn { 401 => UNAUTHORIZED, 503 => UNAVAILABLE }
);
outcomes!(
    /// Admin operations that nothing else refuses.
    pub AdminRead { 401 => UNAUTHORIZED, 403 => ADMIN_ONLY, 503 => UNAVAILABLE }
);
outcomes!(
    /// `PUT /api/admin/users/{id}/role`.
    pub SetRole {
        401 => UNAUTHORIZED,
        403 => ADMIN_ONLY,
        404 => "`NOT_FOUND`: no such user",
        409 => "`OWN_ROLE`: an admin cannot change their own role",
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `GET /api/products`.
    pub ListProducts {
        422 => "`PAGE_TOO_DEEP`: past the deepest page served; narrow the query; \
            `UNKNOWN_CATEGORY`: `category` is no category's code or slug",
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `GET /api/products/search`.
    pub SearchProducts {
        422 => "`VALIDATION_ERROR`: `q` is missing, blank or over 200 characters \
            (`details.field`); `PAGE_TOO_DEEP`: past the deepest page served",
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `GET /api/products/{id}`, `GET /api/products/{id}/images/{image_id}`.
    pub ReadProduct { 404 => PRODUCT_NOT_ON_SALE, 503 => UNAVAILABLE }
);
outcomes!(
    /// `POST /api/cart/items`, `PATCH /api/cart/items/{product_id}`.
    pub ChangeCart {
        401 => UNAUTHORIZED,
        404 => "`NOT_FOUND`: no such product on sale, unknown or a draft alike (on add); the \
            product is not in the cart (on change)",
        409 => CART_REFUSALS,
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `DELETE /api/cart/items/{product_id}`, `GET /api/orders/{id}`, and
    /// `GET`/`PATCH`/`DELETE /api/me/addresses/{id}`.
    pub SignedInItem {
        401 => UNAUTHORIZED,
        404 => "`NOT_FOUND`: not there, or someone else's",
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `POST /api/orders`.
    pub PlaceOrder {
        401 => UNAUTHORIZED,
        409 => ORDER_REFUSALS,
        422 => ORDER_INVALID,
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `POST /api/orders/{id}/cancel`.
    pub OrderTransition {
        401 => UNAUTHORIZED,
        404 => "`NOT_FOUND`: no such order, or someone else's",
        409 => STATE_CONFLICT,
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// The admin's order transitions (`/api/admin/orders/{id}/...`).
    pub AdminOrderTransition {
        401 => UNAUTHORIZED,
        403 => ADMIN_ONLY,
        404 => "`NOT_FOUND`: no such order",
        409 => STATE_CONFLICT,
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `POST /api/me/addresses`.
    pub AddAddress {
        401 => UNAUTHORIZED,
        409 => "`ADDRESS_BOOK_FULL`: the book holds 20 addresses already \
            (`details.max_addresses`); delete one first",
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `POST /api/webhooks/payments/{provider}`.
    pub PaymentWebhook {
        400 => "`WEBHOOK_SIGNATURE_INVALID`: the `Stripe-Signature` is missing, malformed, \
            expired or does not match the body (`details.reason`), nothing written; \
            `INVALID_BODY`: a genuine event that is not JSON",
        404 => "`NOT_FOUND`: no such provider, or it is not configured on this shop",
        409 => "`WEBHOOK_DUPLICATE`: this event was received before, nothing changed; \
            `ORDER_STATE_CONFLICT`: the order is no longer pending (`details.current_status`), \
            the payment is recorded `refused` and must be refunded",
        422 => "`PAYMENT_MISMATCH`: the amount or currency is not the order's (`details.expected`, \
            `details.got`), the payment is recorded `mismatched` and the order stays pending; \
            `WEBHOOK_EVENT_INVALID`: no usable order id, amount or currency (`details.field`)",
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `POST /api/admin/orders/{id}/mark-paid`.
    pub MarkPaid {
        401 => UNAUTHORIZED,
        403 => ADMIN_ONLY,
        404 => "`NOT_FOUND`: no such order",
        409 => STATE_CONFLICT,
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `POST /api/orders/{id}/payment`.
    pub StartPayment {
        401 => UNAUTHORIZED,
        404 => "`NOT_FOUND`: not there, or someone else's",
        409 => STATE_CONFLICT,
        502 => "`PAYMENT_PROVIDER_UNAVAILABLE`: the provider could not be reached or refused",
        503 => "`PAYMENTS_NOT_CONFIGURED`: no payment provider is configured; \
            `SERVICE_UNAVAILABLE`: PostgreSQL or Redis is down, retry after `Retry-After`",
    }
);
outcomes!(
    /// `POST /api/admin/products`.
    pub CreateProduct {
        401 => UNAUTHORIZED,
        403 => ADMIN_ONLY,
        422 => UNKNOWN_CATEGORY,
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `POST /api/admin/products/upload`, `POST /upload-product`.
    pub UploadProduct {
        401 => UNAUTHORIZED,
        403 => ADMIN_ONLY,
        413 => IMAGE_TOO_LARGE,
        415 => IMAGE_REFUSALS,
        422 => UNKNOWN_CATEGORY,
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `POST /api/admin/products/bulk`.
    pub BulkImport {
        400 => "`INVALID_FILE`: the file is not CSV or JSON as documented",
        401 => UNAUTHORIZED,
        403 => ADMIN_ONLY,
        422 => "`BULK_VALIDATION_FAILED`: with `atomic=true`, a row is bad (each named in \
            `details`; a category no category's code or slug among them); \
            `UNKNOWN_CATEGORY`: a row's category was deleted during the import",
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `PATCH /api/admin/products/{id}`.
    pub UpdateProduct {
        401 => UNAUTHORIZED,
        403 => ADMIN_ONLY,
        404 => PRODUCT_MISSING,
        409 => "`VERSION_CONFLICT`: the product changed since the `version` sent (`details.current_version`)",
        422 => UNKNOWN_CATEGORY,
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `GET /api/admin/products`.
    pub AdminListProducts {
        401 => UNAUTHORIZED,
        403 => ADMIN_ONLY,
        422 => "`PAGE_TOO_DEEP`: past the deepest page served; filter by `status`",
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `GET /api/admin/products/{id}`.
    pub AdminReadProduct {
        401 => UNAUTHORIZED,
        403 => ADMIN_ONLY,
        404 => "`NOT_FOUND`: no such product",
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `POST /api/admin/products/{id}/publish`, `/unpublish`, `/archive`.
    pub ProductTransition {
        401 => UNAUTHORIZED,
        403 => ADMIN_ONLY,
        404 => "`NOT_FOUND`: no such product",
        409 => "`PRODUCT_STATE_CONFLICT`: the product is not in a status this move starts \
            from (`details.current_status`, `details.allowed_from`); of concurrent moves \
            of one product one wins, the others get this",
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `DELETE /api/admin/products/{id}`.
    pub ArchiveProduct {
        401 => UNAUTHORIZED,
        403 => ADMIN_ONLY,
        404 => PRODUCT_MISSING,
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `POST /api/admin/products/{id}/stock`.
    pub AdjustStock {
        401 => UNAUTHORIZED,
        403 => ADMIN_ONLY,
        404 => PRODUCT_MISSING,
        409 => "`INSUFFICIENT_STOCK`: the delta would take the stock below 0",
        422 => "`STOCK_LIMIT`: the delta would take the stock above 1,000,000,000",
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// The legacy registration and code routes.
    pub LegacyCode {
        400 => CODE_MISSING,
        401 => CODE_WRONG,
        429 => CODE_LIMITS,
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `POST /api/userLogin`.
    pub LegacyLogin {
        401 => "`INVALID_CREDENTIALS`: unknown e-mail or wrong password, alike",
        403 => "`EMAIL_NOT_VERIFIED`: the e-mail is not verified",
        429 => LOGIN_LIMITS,
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `POST /products/addtocart`, `PUT /products/updatecartitem/{id}`, `GET /products/cartitems`.
    pub LegacyCart {
        401 => UNAUTHORIZED,
        404 => "`NOT_FOUND`: no cart, no such item, or someone else's; no such product \
            (unknown or a draft alike)",
        409 => CART_REFUSALS,
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `POST /products/placeorder`.
    pub LegacyPlaceOrder {
        400 => LEGACY_ORDER,
        401 => UNAUTHORIZED,
        409 => "`IDEMPOTENCY_IN_PROGRESS`",
        422 => "`MIXED_CURRENCIES`: the cart mixes currencies",
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `POST /api/admin/categories`.
    pub CreateCategory {
        401 => UNAUTHORIZED,
        403 => ADMIN_ONLY,
        409 => "`SLUG_TAKEN`: another category has this slug; `CODE_TAKEN`: another \
            category has the code this slug makes; `CATEGORY_LIMIT`: the shop holds 1000 \
            categories already",
        422 => CATEGORY_FIELDS,
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `POST /api/products/{id}/reviews`.
    pub SubmitReview {
        401 => UNAUTHORIZED,
        403 => "`REVIEW_NOT_VERIFIED_BUYER`: you have no paid, shipped or delivered order \
            of this product (a pending, cancelled or refunded one does not count)",
        404 => PRODUCT_MISSING,
        409 => "`REVIEW_ALREADY_EXISTS`: you reviewed this product before (one review per \
            customer per product; of concurrent submissions one is stored)",
        429 => "`TOO_MANY_REVIEWS`: past the reviews a user may submit in an hour \
            (`details.limit_per_hour`); with `Retry-After`",
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `PATCH /api/admin/categories/{id}`.
    pub UpdateCategory {
        401 => UNAUTHORIZED,
        403 => ADMIN_ONLY,
        404 => "`NOT_FOUND`: no such category",
        409 => "`SLUG_TAKEN`: another category has this slug",
        422 => CATEGORY_FIELDS,
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `GET /api/products/{id}/reviews`.
    pub ListReviews {
        404 => PRODUCT_MISSING,
        422 => "`PAGE_TOO_DEEP`: past the deepest page served",
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `DELETE /api/admin/categories/{id}`.
    pub DeleteCategory {
        401 => UNAUTHORIZED,
        403 => ADMIN_ONLY,
        404 => "`NOT_FOUND`: no such category",
        409 => "`CATEGORY_NOT_EMPTY`: products of any status are in it (`details.products`); \
            `CATEGORY_HAS_CHILDREN`: it has sub-categories (`details.children`); \
            `CATEGORY_PROTECTED`: one of the original shop's 12, which its frontend offers",
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `POST /api/admin/reviews/{id}/approve` and `.../reject`.
    pub ModerateReview {
        401 => UNAUTHORIZED,
        403 => ADMIN_ONLY,
        404 => "`NOT_FOUND`: no such review",
        409 => "`REVIEW_STATE_CONFLICT`: the review is not in a state this moderation \
            starts from (`details.current_status`); of two concurrent moderations one wins, \
            the other gets this",
        503 => UNAVAILABLE,
    }
);
outcomes!(
    /// `POST /api/reviews/{id}/helpful`.
    pub VoteReview {
        401 => UNAUTHORIZED,
        403 => "`REVIEW_OWN_VOTE`: a vote on your own review",
        404 => "`NOT_FOUND`: no such review, or not approved",
        503 => UNAVAILABLE,
    }
);
