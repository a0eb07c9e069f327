//! `/api/admin/categories`: create, change (rename, re-slug, move, reorder) and
//! delete categories. Admin only. Each write commits with its audit row, then
//! invalidates the catalogue cache, then answers (`catalogue::categories::service`).

use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi, param::Path, payload::Json, types::MaybeUndefined,
};
use uuid::Uuid;

use super::{ApiTags, outcomes};
use crate::{
    auth::extract::AdminAuth,
    catalogue::categories::{
        self, CategoryError, CategoryView, NewCategory,
        model::{self, CategoryPatch},
        service::Writer,
    },
    envelope::Envelope,
    error::{ApiError, Failure},
    json_body::JsonBody,
    middleware::RequestId,
    state::SharedState,
};

/// `POST /api/admin/categories`.
#[derive(Debug, Object)]
pub struct CreateCategory {
    /// URL name: lowercase letters and digits in words joined by single hyphens, at
    /// most 80 characters (`frozen-food`). The category's `code` is made from it
    /// (`FROZEN_FOOD`) and never changes.
    pub slug: String,
    /// Display name, 1 to 100 characters.
    pub name: String,
    /// The parent category; absent or `null` for a root.
    #[oai(nullable)]
    pub parent_id: Option<Uuid>,
    /// Order among siblings, 0 to 1000000 (default 0); ties go by name.
    pub position: Option<i64>,
}

/// `PATCH /api/admin/categories/{id}`: the fields to change. The code never changes.
#[derive(Debug, Object)]
pub struct PatchCategory {
    /// New slug.
    pub slug: Option<String>,
    /// New name.
    pub name: Option<String>,
    /// New parent: a category id moves it there (not under itself or its own
    /// descendants: 422); `null` makes it a root; absent leaves it.
    #[oai(nullable)]
    pub parent_id: MaybeUndefined<Uuid>,
    /// New position.
    pub position: Option<i64>,
}

/// 201 with the category.
#[derive(ApiResponse)]
pub enum CategoryCreated {
    /// The category was created.
    #[oai(status = 201)]
    Created(Json<Envelope<CategoryView>>),
}

/// 204.
#[derive(ApiResponse)]
pub enum CategoryDeleted {
    /// The category is gone.
    #[oai(status = 204)]
    NoContent,
}

fn writer(admin: &AdminAuth, req: &Request) -> Writer {
    Writer {
        admin_id: admin.0.sub,
        request_id: req.data::<RequestId>().map(|r| r.0.clone()),
    }
}

/// Admin category management.
pub struct AdminCategoriesApi;

#[OpenApi(prefix_path = "/api/admin/categories", tag = "ApiTags::AdminProducts")]
impl AdminCategoriesApi {
    /// Create a category (a root, or under `parent_id`). Admin only.
    #[oai(path = "/", method = "post", operation_id = "admin_categories_create")]
    async fn create(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        req: &Request,
        body: JsonBody<CreateCategory>,
    ) -> Result<CategoryCreated, Failure<outcomes::CreateCategory>> {
        let b = &body.0;
        let new = NewCategory::parse(&b.slug, &b.name, b.parent_id, b.position)
            .map_err(CategoryError::from)?;
        let view =
            categories::create(&state.db, &state.catalogue, &writer(&admin, req), &new).await?;
        Ok(CategoryCreated::Created(Json(Envelope::new(
            view,
            "category created",
        ))))
    }

    /// Change a category's slug, name, position or parent (a move). A move under the
    /// category itself or one of its descendants is refused (422). Admin only.
    #[oai(
        path = "/:id",
        method = "patch",
        operation_id = "admin_categories_update"
    )]
    async fn update(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        req: &Request,
        id: Path<Uuid>,
        body: JsonBody<PatchCategory>,
    ) -> Result<Json<Envelope<CategoryView>>, Failure<outcomes::UpdateCategory>> {
        let b = &body.0;
        let patch = CategoryPatch {
            slug: b
                .slug
                .as_deref()
                .map(model::check_slug)
                .transpose()
                .map_err(CategoryError::from)?,
            name: b
                .name
                .as_deref()
                .map(model::check_name)
                .transpose()
                .map_err(CategoryError::from)?,
            parent_id: match b.parent_id {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(parent) => Some(Some(parent)),
            },
            position: b
                .position
                .map(model::check_position)
                .transpose()
                .map_err(CategoryError::from)?,
        };
        let view = categories::update(
            &state.db,
            &state.catalogue,
            &writer(&admin, req),
            id.0,
            &patch,
        )
        .await?;
        Ok(Json(Envelope::new(view, "category updated")))
    }

    /// Delete a category that holds no product (of any status: 409 naming how many)
    /// and no sub-category (409 naming how many). Admin only.
    #[oai(
        path = "/:id",
        method = "delete",
        operation_id = "admin_categories_delete"
    )]
    async fn delete(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        req: &Request,
        id: Path<Uuid>,
    ) -> Result<CategoryDeleted, Failure<outcomes::DeleteCategory>> {
        categories::delete(&state.db, &state.catalogue, &writer(&admin, req), id.0)
            .await
            .map_err(ApiError::from)?;
        Ok(CategoryDeleted::NoContent)
    }
}
