//! Draft, published and archived products: a draft is seen by admins only, on every
//! public route (canonical and legacy) and through every cache; moves between states
//! are explicit, atomic and audited.

use serde_json::{Value, json};

use crate::support::{Reply, TestApp};

/// A PNG (by its signature) unlike any other.
fn png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes
}

/// Uploads a product with one image, in `status` (none: the default); returns its id
/// and the path of its image.
async fn upload(
    app: &TestApp,
    admin: &str,
    name: &str,
    status: Option<&str>,
) -> anyhow::Result<(String, String)> {
    let mut form = reqwest::multipart::Form::new()
        .text("name", name.to_owned())
        .text("price_cents", "250")
        .text("category", "STAPLES")
        .text("stock", "10")
        .part(
            "images",
            reqwest::multipart::Part::bytes(png())
                .file_name("a.png")
                .mime_str("image/png")?,
        );
    if let Some(status) = status {
        form = form.text("status", status.to_owned());
    }
    let reply = app
        .send(
            app.http
                .post(app.url("/api/admin/products/upload"))
                .bearer_auth(admin)
                .multipart(form),
        )
        .await?;
    anyhow::ensure!(reply.status == 201, "upload: {}", reply.text);
    let image = reply.json["data"]["images"][0]["url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok((reply.data_id(), image))
}

/// `POST /api/admin/products/{id}/{verb}` on the instance at `base`.
async fn move_product(
    app: &TestApp,
    base: &str,
    admin: &str,
    id: &str,
    verb: &str,
) -> anyhow::Result<Reply> {
    app.send(
        app.http
            .post(format!("{base}/api/admin/products/{id}/{verb}"))
            .bearer_auth(admin),
    )
    .await
}

/// The ids a JSON array of products holds.
fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// What a customer sees of product `id` on the instance at `base`, route by route:
/// `(listed, listed with images, legacy listed, detail status, image status)`.
async fn seen(
    app: &TestApp,
    base: &str,
    id: &str,
    image: &str,
) -> anyhow::Result<(bool, bool, bool, u16, u16)> {
    let get = |path: String| app.send(app.http.get(format!("{base}{path}")));
    let listing = get("/api/products?page_size=100".into()).await?;
    anyhow::ensure!(listing.status == 200, "listing: {}", listing.text);
    let with_images = get("/api/products/with-images".into()).await?;
    anyhow::ensure!(
        with_images.status == 200,
        "with-images: {}",
        with_images.text
    );
    let legacy = get("/products/productimage".into()).await?;
    anyhow::ensure!(legacy.status == 200, "legacy listing: {}", legacy.text);
    let detail = get(format!("/api/products/{id}")).await?;
    let picture = get(image.to_owned()).await?;
    let id = id.to_owned();
    Ok((
        ids(&listing.json["data"]).contains(&id),
        ids(&with_images.json["data"]).contains(&id),
        ids(&legacy.json).contains(&id),
        detail.status,
        picture.status,
    ))
}

const HIDDEN: (bool, bool, bool, u16, u16) = (false, false, false, 404, 404);
const SHOWN: (bool, bool, bool, u16, u16) = (true, true, true, 200, 200);

/// The status, code and message of an answer: what tells one refusal from another.
fn answer(r: &Reply) -> (u16, Value, Value) {
    (r.status, r.json["error"].clone(), r.json["message"].clone())
}

#[tokio::test]
async fn a_draft_is_invisible_on_every_public_route_and_visible_to_admins() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let customer = app.customer().await?;
    let (draft, image) = upload(&app, &admin, "Secret draft", Some("draft")).await?;
    let (on_sale, on_sale_image) = upload(&app, &admin, "On sale", None).await?;

    assert_eq!(seen(&app, &app.base, &draft, &image).await?, HIDDEN);
    assert_eq!(
        seen(&app, &app.base, &on_sale, &on_sale_image).await?,
        SHOWN
    );
    // Read twice: a cached answer hides it too.
    assert_eq!(seen(&app, &app.base, &draft, &image).await?, HIDDEN);
    let count = app.get("/api/products/count", None).await?;
    assert_eq!(count.json["data"]["total"], 1, "{}", count.text);

    // The cart, canonical and legacy, answers a draft as it answers no product.
    let unknown = uuid::Uuid::now_v7().to_string();
    for (path, field) in [
        ("/api/cart/items", "product_id"),
        ("/products/addtocart", "productId"),
    ] {
        let to_draft = app
            .post(
                path,
                &json!({ field: draft, "quantity": 1 }),
                Some(&customer),
            )
            .await?;
        let to_nothing = app
            .post(
                path,
                &json!({ field: unknown, "quantity": 1 }),
                Some(&customer),
            )
            .await?;
        to_draft.assert_error(404, "NOT_FOUND");
        assert_eq!(answer(&to_draft), answer(&to_nothing), "{path}");
        assert!(!to_draft.text.contains("Secret"), "{}", to_draft.text);
    }
    assert_eq!(
        app.scalar(&format!(
            "SELECT count(*) FROM cart_items WHERE product_id = '{draft}'"
        ))
        .await?,
        0
    );

    // Admins see it: in the list (all, and by status) and by id.
    let all = app.get("/api/admin/products", Some(&admin)).await?;
    assert_eq!(all.status, 200, "{}", all.text);
    assert!(ids(&all.json["data"]).contains(&draft));
    assert!(ids(&all.json["data"]).contains(&on_sale));
    let drafts = app
        .get("/api/admin/products?status=draft", Some(&admin))
        .await?;
    assert_eq!(
        ids(&drafts.json["data"]),
        std::slice::from_ref(&draft),
        "{}",
        drafts.text
    );
    assert_eq!(drafts.json["pagination"]["total"], 1);
    let one = app
        .get(&format!("/api/admin/products/{draft}"), Some(&admin))
        .await?;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.json["data"]["status"], "draft");
    // Not to customers.
    app.get("/api/admin/products", Some(&customer))
        .await?
        .assert_error(403, "FORBIDDEN");
    let stats = app.get("/api/admin/stats", Some(&admin)).await?;
    assert_eq!(stats.json["data"]["products"]["total"], 1, "{}", stats.text);
    assert_eq!(stats.json["data"]["products"]["draft"], 1, "{}", stats.text);
    let legacy_total = app.get("/stats/totalproducts", Some(&admin)).await?;
    assert_eq!(legacy_total.json["total"], 1, "{}", legacy_total.text);
    Ok(())
}

#[tokio::test]
async fn an_order_holding_a_product_unpublished_or_archived_since_it_was_added_is_refused_naming_it()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let customer = app.customer().await?;
    let kept = app.product(&admin, "Kept tea", 5, 100).await?;
    let later_draft = app.product(&admin, "Pulled biscuits", 5, 100).await?;
    let later_archived = app.product(&admin, "Retired jam", 5, 100).await?;
    for id in [&kept, &later_draft, &later_archived] {
        let added = app
            .post(
                "/api/cart/items",
                &json!({ "product_id": id, "quantity": 1 }),
                Some(&customer),
            )
            .await?;
        assert_eq!(added.status, 200, "{}", added.text);
    }
    assert_eq!(
        move_product(&app, &app.base, &admin, &later_draft, "unpublish")
            .await?
            .status,
        200
    );
    let archived = move_product(&app, &app.base, &admin, &later_archived, "archive").await?;
    assert_eq!(archived.status, 200, "{}", archived.text);
    assert_eq!(archived.json["data"]["status"], "archived");

    // The cart shows nothing of the draft (its name may be an upcoming product's),
    // and nothing available of either.
    let cart = app.get("/api/cart", Some(&customer)).await?;
    assert_eq!(cart.status, 200, "{}", cart.text);
    assert!(!cart.text.contains("Pulled biscuits"), "{}", cart.text);
    let items = cart.json["data"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let line = |id: &str| items.iter().find(|l| l["product_id"] == id).cloned();
    let draft_line = line(&later_draft).unwrap_or_default();
    assert_eq!(
        draft_line["product_name"], "(unavailable product)",
        "{}",
        cart.text
    );
    assert_eq!(draft_line["unit_price_cents"], 0, "{}", cart.text);
    assert_eq!(draft_line["available"], 0, "{}", cart.text);
    assert_eq!(line(&later_archived).unwrap_or_default()["available"], 0);
    assert_eq!(cart.json["data"]["total_cents"], 200, "{}", cart.text);
    let legacy_cart = app.get("/products/cartitems", Some(&customer)).await?;
    assert!(
        !legacy_cart.text.contains("Pulled biscuits"),
        "{}",
        legacy_cart.text
    );

    let refused = app.post("/api/orders", &json!({}), Some(&customer)).await?;
    refused.assert_error(409, "INSUFFICIENT_STOCK");
    let message = refused.json["message"].as_str().unwrap_or_default();
    for name in [
        "Retired jam (requested 1, available 0)",
        "(unavailable product)",
    ] {
        assert!(message.contains(name), "{message}");
    }
    assert!(!message.contains("Kept tea"), "{message}");
    assert!(!message.contains("Pulled biscuits"), "{message}");
    // The old frontend's route refuses it too (its 400), naming it.
    let legacy = app
        .post("/products/placeorder", &json!({}), Some(&customer))
        .await?;
    legacy.assert_error(400, "INSUFFICIENT_STOCK");
    assert!(legacy.text.contains("Retired jam"), "{}", legacy.text);
    assert_eq!(app.scalar("SELECT count(*) FROM orders").await?, 0);
    assert_eq!(
        app.scalar(&format!(
            "SELECT stock::int8 FROM products WHERE id = '{kept}'"
        ))
        .await?,
        5
    );

    // Adding an archived product is refused by name; a draft as no product.
    let again = app
        .post(
            "/api/cart/items",
            &json!({ "product_id": later_archived, "quantity": 1 }),
            Some(&customer),
        )
        .await?;
    again.assert_error(409, "PRODUCT_UNAVAILABLE");
    assert!(again.text.contains("Retired jam"), "{}", again.text);
    app.post(
        "/api/cart/items",
        &json!({ "product_id": later_draft, "quantity": 1 }),
        Some(&customer),
    )
    .await?
    .assert_error(404, "NOT_FOUND");
    Ok(())
}

#[tokio::test]
async fn publishing_shows_a_draft_on_another_instance_once_the_admin_is_answered_and_unpublishing_hides_it_again()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let other = app.sibling().await?;
    let admin = app.admin().await?;
    let (id, image) = upload(&app, &admin, "Coming soon", Some("draft")).await?;
    // The other instance has read (and cached) the draft's absence.
    assert_eq!(seen(&app, &other.base, &id, &image).await?, HIDDEN);

    let published = move_product(&app, &app.base, &admin, &id, "publish").await?;
    assert_eq!(published.status, 200, "{}", published.text);
    assert_eq!(published.json["data"]["status"], "published");
    assert_eq!(seen(&app, &other.base, &id, &image).await?, SHOWN);
    // Twice: now the listings, the detail and the image's bytes are cached there.
    assert_eq!(seen(&app, &other.base, &id, &image).await?, SHOWN);
    let etag = app
        .send(app.http.get(format!("{}{image}", other.base)))
        .await?
        .header("etag")
        .unwrap_or_default()
        .to_owned();

    let unpublished = move_product(&app, &app.base, &admin, &id, "unpublish").await?;
    assert_eq!(unpublished.status, 200, "{}", unpublished.text);
    assert_eq!(unpublished.json["data"]["status"], "draft");
    // Gone at once, though the other instance holds the image's bytes in memory.
    assert_eq!(seen(&app, &other.base, &id, &image).await?, HIDDEN);
    let revalidated = app
        .send(
            app.http
                .get(format!("{}{image}", other.base))
                .header("if-none-match", etag),
        )
        .await?;
    assert_eq!(revalidated.status, 404, "a 304 would keep it shown");
    Ok(())
}

#[tokio::test]
async fn ten_concurrent_publishes_of_one_draft_over_four_instances_make_one_200_and_nine_409s()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let (_siblings, bases) = app.four_instances().await?;
    let admin = app.admin().await?;
    let (id, _) = upload(&app, &admin, "Race", Some("draft")).await?;
    let replies = futures_util::future::try_join_all(
        (0..10).map(|i| move_product(&app, &bases[i % bases.len()], &admin, &id, "publish")),
    )
    .await?;
    let won = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        won,
        1,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for lost in replies.iter().filter(|r| r.status != 200) {
        lost.assert_error(409, "PRODUCT_STATE_CONFLICT");
        assert_eq!(lost.json["details"]["current_status"], "published");
    }
    assert_eq!(
        app.scalar(&format!(
            "SELECT count(*) FROM audit_log WHERE action = 'product.publish' AND target_id = '{id}'"
        ))
        .await?,
        1
    );
    // Moves that do not start from the product's state: 409 naming it; unknown: 404.
    move_product(&app, &app.base, &admin, &id, "publish")
        .await?
        .assert_error(409, "PRODUCT_STATE_CONFLICT");
    let missing = uuid::Uuid::now_v7().to_string();
    move_product(&app, &app.base, &admin, &missing, "archive")
        .await?
        .assert_error(404, "NOT_FOUND");
    Ok(())
}

#[tokio::test]
async fn a_bulk_import_gives_each_row_its_status_and_refuses_an_unknown_one() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let rows = json!([
        {"name": "Bulk draft", "price_cents": 100, "category": "STAPLES", "stock": 1, "status": "draft"},
        {"name": "Bulk published", "price_cents": 100, "category": "STAPLES", "stock": 1, "status": "published"},
        {"name": "Bulk default", "price_cents": 100, "category": "STAPLES", "stock": 1},
        {"name": "Bulk archived", "price_cents": 100, "category": "STAPLES", "stock": 1, "status": "archived"},
        {"name": "Bulk odd", "price_cents": 100, "category": "STAPLES", "stock": 1, "status": "live"},
    ]);
    let reply = app
        .send(
            app.http
                .post(app.url("/api/admin/products/bulk"))
                .bearer_auth(&admin)
                .header("x-request-id", "bulk-status-import")
                .json(&rows),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["data"]["created"], 3, "{}", reply.text);
    let errors: Vec<(i64, String)> = reply.json["data"]["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e["row"].as_i64().unwrap_or(0),
                e["field"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(errors, [(4, "status".to_owned()), (5, "status".to_owned())]);
    let mut stored = app
        .strings("SELECT name || '=' || status FROM products ORDER BY name")
        .await?;
    stored.sort();
    assert_eq!(
        stored,
        [
            "Bulk default=published",
            "Bulk draft=draft",
            "Bulk published=published"
        ]
    );
    let listed = app.get("/api/products?page_size=100", None).await?;
    assert_eq!(listed.json["pagination"]["total"], 2, "{}", listed.text);
    // One audit row for the import, naming the three products.
    let audit = app
        .strings(
            "SELECT after::text FROM audit_log WHERE action = 'product.import'
             AND request_id = 'bulk-status-import'",
        )
        .await?;
    assert_eq!(audit.len(), 1);
    let after: Value = serde_json::from_str(&audit[0])?;
    assert_eq!(after["ids"].as_array().map(Vec::len), Some(3), "{after}");
    assert_eq!(after["draft"], 1);
    Ok(())
}

/// The audit rows of product `id`: `(action, request id, before, after)`, oldest first.
async fn audit_of(app: &TestApp, id: &str) -> anyhow::Result<Vec<(String, String, Value, Value)>> {
    let rows = app
        .strings(&format!(
            "SELECT json_build_array(action, request_id, before, after, actor_id)::text
             FROM audit_log WHERE target_type = 'product' AND target_id = '{id}' ORDER BY id"
        ))
        .await?;
    rows.iter()
        .map(|r| {
            let v: Value = serde_json::from_str(r)?;
            anyhow::ensure!(v[4].is_string(), "no actor: {v}");
            Ok((
                v[0].as_str().unwrap_or_default().to_owned(),
                v[1].as_str().unwrap_or_default().to_owned(),
                v[2].clone(),
                v[3].clone(),
            ))
        })
        .collect()
}

#[tokio::test]
async fn every_admin_product_write_appends_an_audit_row_with_its_request_id() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let send = |req: reqwest::RequestBuilder, request_id: &str| {
        app.send(
            req.bearer_auth(&admin)
                .header("x-request-id", request_id.to_owned()),
        )
    };
    let created = send(
        app.http.post(app.url("/api/admin/products")).json(&json!({
            "name": "Audited", "price_cents": 500, "category": "STAPLES", "stock": 4,
            "status": "draft"
        })),
        "audit-create",
    )
    .await?;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["data"]["status"], "draft");
    let id = created.data_id();
    let path = format!("/api/admin/products/{id}");
    let updated = send(
        app.http
            .patch(app.url(&path))
            .json(&json!({ "version": created.json["data"]["version"], "price_cents": 650 })),
        "audit-update",
    )
    .await?;
    assert_eq!(updated.status, 200, "{}", updated.text);
    // PATCH never moves the status.
    send(
        app.http
            .patch(app.url(&path))
            .json(&json!({ "version": updated.json["data"]["version"], "status": "published" })),
        "audit-refused",
    )
    .await?
    .assert_error(400, "VALIDATION_ERROR");
    for verb in ["publish", "unpublish", "archive"] {
        let moved = send(
            app.http.post(app.url(&format!("{path}/{verb}"))),
            &format!("audit-{verb}"),
        )
        .await?;
        assert_eq!(moved.status, 200, "{verb}: {}", moved.text);
    }
    // Refused and repeated moves write nothing.
    send(
        app.http.post(app.url(&format!("{path}/unpublish"))),
        "audit-refused",
    )
    .await?
    .assert_error(409, "PRODUCT_STATE_CONFLICT");
    let deleted = send(app.http.delete(app.url(&path)), "audit-refused").await?;
    assert_eq!(deleted.status, 204, "already archived: {}", deleted.text);
    let stock = send(
        app.http
            .post(app.url(&format!("{path}/stock")))
            .json(&json!({ "delta": 3, "reason": "recount" })),
        "audit-stock",
    )
    .await?;
    assert_eq!(stock.status, 200, "{}", stock.text);

    let rows = audit_of(&app, &id).await?;
    let actions: Vec<(&str, &str)> = rows
        .iter()
        .map(|(a, r, _, _)| (a.as_str(), r.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("product.create", "audit-create"),
            ("product.update", "audit-update"),
            ("product.publish", "audit-publish"),
            ("product.unpublish", "audit-unpublish"),
            ("product.archive", "audit-archive"),
            ("product.stock", "audit-stock"),
        ]
    );
    let (_, _, before, after) = &rows[0];
    assert!(before.is_null());
    assert_eq!(after["name"], "Audited");
    assert_eq!(after["status"], "draft");
    let (_, _, before, after) = &rows[1];
    assert_eq!(
        (&before["price_cents"], &after["price_cents"]),
        (&json!(500), &json!(650))
    );
    let statuses: Vec<(Value, Value)> = rows[2..5]
        .iter()
        .map(|(_, _, b, a)| (b["status"].clone(), a["status"].clone()))
        .collect();
    assert_eq!(
        statuses,
        [
            (json!("draft"), json!("published")),
            (json!("published"), json!("draft")),
            (json!("draft"), json!("archived")),
        ]
    );
    let (_, _, before, after) = &rows[5];
    assert_eq!((&before["stock"], &after["stock"]), (&json!(4), &json!(7)));
    assert_eq!(after["reason"], "recount");

    // The legacy upload is audited too.
    let form = reqwest::multipart::Form::new()
        .text("name", "Old style")
        .text("price", "2.50")
        .text("stock", "3")
        .text("category", "STAPLES")
        .part(
            "productFile",
            reqwest::multipart::Part::bytes(png())
                .file_name("a.png")
                .mime_str("image/png")?,
        );
    let legacy = send(
        app.http.post(app.url("/upload-product")).multipart(form),
        "audit-legacy",
    )
    .await?;
    assert_eq!(legacy.status, 201, "{}", legacy.text);
    let legacy_id = legacy.json["productId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let rows = audit_of(&app, &legacy_id).await?;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str()),
        ("product.create", "audit-legacy")
    );
    assert_eq!(rows[0].3["status"], "published");
    Ok(())
}
