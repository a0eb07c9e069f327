//! Old-style product routes: the multipart upload and the product list with image
//! URLs (prices as decimal strings).

use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Multipart, Object, OpenApi, payload::Json, types::multipart::Upload,
};
use uuid::Uuid;

use crate::{
    auth::extract::AdminAuth,
    catalogue::{
        cache, categories,
        error::CatalogueError,
        model::{ImageRef, NewProduct, ProductView},
        repo,
        service::{self, Author},
    },
    error::ApiError,
    middleware::RequestId,
    money::{format_cents, parse_decimal_cents},
    routes::ApiTags,
    state::SharedState,
};
use crate::{error::Failure, routes::outcomes};

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
    /// Category code, e.g. `STAPLES` (the original shop's 12, and any added since).
    pub category: String,
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

/// 201 of `POST /upload-product`.
#[derive(ApiResponse)]
pub enum Uploaded {
    /// The product and its image are stored.
    #[oai(status = 201)]
    Created(Json<LegacyUploaded>),
}

/// The original shop's product routes.
pub struct LegacyProductsApi;

#[OpenApi(tag = "ApiTags::Legacy")]
impl LegacyProductsApi {
    /// Upload a product with its image (old route, multipart), published at once as
    /// the original did. Admin only (the original accepted anyone). Use
    /// `POST /api/admin/products/upload`.
    #[oai(
        path = "/upload-product",
        method = "post",
        operation_id = "legacy_upload_product",
        deprecated
    )]
    async fn upload(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        req: &Request,
        form: LegacyUpload,
    ) -> Result<Uploaded, Failure<outcomes::UploadProduct>> {
        let price = parse_decimal_cents(&form.price)
            .map_err(|problem| ApiError::validation("price", problem))?;
        let stock: i64 = form
            .stock
            .trim()
            .parse()
            .map_err(|_| ApiError::validation("stock", "must be a whole number"))?;
        // As the original shop did: 400 for a category it does not know.
        let category = categories::resolve(&state.db, &form.category)
            .await
            .map_err(categories::CategoryError::into_legacy)?;
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
            CatalogueError::from((
                if field == "price_cents" {
                    "price"
                } else {
                    field
                },
                problem,
            ))
        })?;
        let by = Author {
            admin: admin.0.sub,
            request_id: req.data::<RequestId>().map(|r| r.0.clone()),
        };
        let product = ProductView::from(
            service::create(
                &state.db,
                &state.catalogue,
                &by,
                &product,
                vec![form.product_file],
            )
            .await?,
        );
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
    ) -> Result<Json<Vec<LegacyProduct>>, Failure<outcomes::ReadOnly>> {
        let db = state.db.clone();
        let (products, _) = state
            .catalogue
            .get_or_load(cache::ALL_PRODUCTS, || async move {
                let products = repo::all_active(&db).await?;
                Ok(products
                    .into_iter()
                    .map(ProductView::from)
                    .collect::<Vec<_>>())
            })
            .await?;
        Ok(Json(
            products
                .into_iter()
                .map(LegacyProduct::from)
                .collect::<Vec<_>>(),
        ))
    }
}
