use poem::error::NotFoundError;

use super::*;

#[tokio::test]
async fn an_unknown_route_renders_as_not_found_in_the_error_shape() {
    let resp = render(NotFoundError.into()).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value =
        serde_json::from_slice(&resp.into_body().into_vec().await.unwrap_or_default())
            .unwrap_or_default();
    assert_eq!(body["success"], false);
    assert_eq!(body["error"], "NOT_FOUND");
    assert_eq!(body["statusCode"], 404);
    assert!(body["details"].is_object());
}

#[tokio::test]
async fn an_internal_error_never_reveals_its_cause() {
    let resp = ApiError::internal("password=hunter2 leaked").into_response();
    let text = resp.into_body().into_string().await.unwrap_or_default();
    assert!(!text.contains("hunter2"));
    assert!(text.contains("INTERNAL_ERROR"));
}
