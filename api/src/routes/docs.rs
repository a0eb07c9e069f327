//! Swagger UI at `/docs/` from vendored assets (nothing is downloaded at build time),
//! and the Prometheus endpoint.

use std::sync::{Arc, LazyLock};

use poem::{
    Response, handler,
    http::{StatusCode, header},
    web::{Data, Path, Redirect},
};
use utoipa_swagger_ui::Config;

use crate::{error::ApiError, state::SharedState};

static SWAGGER_CONFIG: LazyLock<Arc<Config<'static>>> =
    LazyLock::new(|| Arc::new(Config::new(["/openapi.json"])));

/// `/docs` → `/docs/`, so the UI's relative asset paths resolve.
#[handler]
pub fn docs_root() -> Redirect {
    Redirect::permanent("/docs/")
}

/// `/docs/` and its assets.
#[handler]
pub fn docs_index() -> Result<Response, ApiError> {
    serve("")
}

/// `/docs/<asset>`.
#[handler]
pub fn docs_asset(Path(tail): Path<String>) -> Result<Response, ApiError> {
    serve(&tail)
}

fn serve(tail: &str) -> Result<Response, ApiError> {
    match utoipa_swagger_ui::serve(tail, SWAGGER_CONFIG.clone()) {
        Ok(Some(file)) => {
            let mut builder = Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, file.content_type);
            if file.gzpipped {
                builder = builder.header(header::CONTENT_ENCODING, "gzip");
            }
            Ok(builder.body(file.bytes.into_owned()))
        }
        Ok(None) => Err(ApiError::not_found("documentation asset")),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// Prometheus text exposition.
#[handler]
pub fn metrics(state: Data<&SharedState>) -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
