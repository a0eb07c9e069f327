//! The Express original's routes, against the real stack: their exact field names and
//! types, a whole journey through them only, the storm, and the stricter rules.

use e2e::{
    Reply, admin_token, client, create_product, customer_token, get, instance_urls, nginx_url, png,
    send, unique_email, wait_for_code, wait_for_mail,
};
use serde_json::{Value, json};

const PASSWORD: &str = "legacy password";

fn tag() -> String {
    format!("l{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

fn is_uuid(v: &Value) -> bool {
    v.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok())
}

/// Asserts that `v` is an object with exactly `fields`.
fn has_exactly(v: &Value, fields: &[&str]) {
    let mut keys: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    let mut want = fields.to_vec();
    want.sort_unstable();
    assert_eq!(keys, want, "fields of {v}");
}

async fn post(c: &reqwest::Client, path: &str, token: Option<&str>, body: &Value) -> Reply {
    let mut req = c.post(format!("{}{path}", nginx_url())).json(body);
    if let Some(token) = token {
        // The old frontend sends the `token` string ("Bearer <jwt>") as-is.
        req = req.header("authorization", token);
    }
    send(req)
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

async fn get_with(base: &str, path: &str, token: &str) -> Reply {
    send(
        client()
            .get(format!("{base}{path}"))
            .header("authorization", token),
    )
    .await
    .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// Registers through the old routes and returns `(client, "Bearer <jwt>", e-mail, id)`.
async fn legacy_customer(name: &str) -> anyhow::Result<(reqwest::Client, String, String, String)> {
    let c = client();
    let email = unique_email(name);
    let reply = post(
        &c,
        "/api/userRegister",
        None,
        &json!({"name": "Old Frontend", "email": email, "password": PASSWORD, "phone": "555-0100", "address": "1 Main St"}),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    has_exactly(&reply.json, &["message", "user"]);
    has_exactly(&reply.json["user"], &["id", "email"]);
    assert!(reply.json["message"].is_string());
    assert!(is_uuid(&reply.json["user"]["id"]));
    assert_eq!(reply.json["user"]["email"], email.as_str());
    let id = reply.json["user"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let code = wait_for_code(&email, 0).await?;
    let reply = post(
        &c,
        "/api/verify-otp",
        None,
        &json!({"email": email, "otp": code}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_session(&reply.json, &email, false);
    // The registration id is no account id: it would tell who is registered.
    assert_ne!(reply.json["user"]["id"], id.as_str());
    let token = reply.json["token"].as_str().unwrap_or_default().to_owned();
    Ok((c, token, email, id))
}

fn assert_session(v: &Value, email: &str, admin: bool) {
    has_exactly(v, &["message", "token", "user"]);
    has_exactly(&v["user"], &["id", "name", "email", "isAdmin"]);
    assert!(v["message"].is_string());
    let token = v["token"].as_str().unwrap_or_default();
    assert!(
        token.starts_with("Bearer ") && token.matches('.').count() == 2,
        "token is `Bearer <jwt>`: {token}"
    );
    assert!(is_uuid(&v["user"]["id"]));
    assert!(v["user"]["name"].is_string());
    assert_eq!(v["user"]["email"], email);
    assert_eq!(v["user"]["isAdmin"], admin);
}

async fn legacy_admin() -> anyhow::Result<String> {
    let email = std::env::var("ADMIN_EMAIL")?;
    let reply = post(
        &client(),
        "/api/userLogin",
        None,
        &json!({"email": email, "password": std::env::var("ADMIN_PASSWORD")?}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_session(&reply.json, &email, true);
    Ok(reply.json["token"].as_str().unwrap_or_default().to_owned())
}

fn upload_form(name: &str, price: &str, stock: &str, image: Vec<u8>) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("name", name.to_owned())
        .text("price", price.to_owned())
        .text("stock", stock.to_owned())
        .text("category", "BEVERAGES")
        .text("description", "uploaded through the old route")
        .part(
            "productFile",
            reqwest::multipart::Part::bytes(image)
                .file_name("tea.png")
                .mime_str("image/png")
                .unwrap_or_else(|e| panic!("mime: {e}")),
        )
}

async fn upload(token: Option<&str>, form: reqwest::multipart::Form) -> anyhow::Result<Reply> {
    let mut req = client()
        .post(format!("{}/upload-product", nginx_url()))
        .multipart(form);
    if let Some(token) = token {
        req = req.header("authorization", token);
    }
    send(req).await
}

fn assert_product(p: &Value) {
    has_exactly(
        p,
        &[
            "id",
            "name",
            "description",
            "price",
            "stock",
            "category",
            "imageUrl",
        ],
    );
    assert!(is_uuid(&p["id"]));
    assert!(p["name"].is_string() && p["description"].is_string());
    let price = p["price"].as_str().unwrap_or_default();
    assert!(
        price.split_once('.').is_some_and(|(u, c)| !u.is_empty()
            && c.len() == 2
            && (u.to_owned() + c).bytes().all(|b| b.is_ascii_digit())),
        "price is a decimal string: {p}"
    );
    assert!(p["stock"].is_i64());
    assert!(p["category"].is_string());
    assert!(p["imageUrl"].is_string() || p["imageUrl"].is_null());
}

#[tokio::test]
async fn the_whole_journey_through_the_legacy_routes_only() -> anyhow::Result<()> {
    let admin = legacy_admin().await?;
    let (c, token, email, _) = legacy_customer("legacy-journey").await?;
    // Logging in again gives the same shape.
    let login = post(
        &c,
        "/api/userLogin",
        None,
        &json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_session(&login.json, &email, false);
    let token_again = login.json["token"].as_str().unwrap_or_default().to_owned();

    let name = format!("Legacy tea {}", tag());
    let image = png(&name);
    let up = upload(
        Some(&admin),
        upload_form(&name, "12.50", "20", image.clone()),
    )
    .await?;
    assert_eq!(up.status, 201, "{}", up.text);
    has_exactly(
        &up.json,
        &["message", "product", "image", "fileUrl", "productId"],
    );
    assert!(up.json["message"].is_string());
    assert!(is_uuid(&up.json["productId"]));
    assert_eq!(up.json["product"]["id"], up.json["productId"]);
    assert_eq!(up.json["product"]["price_cents"], 1250);
    assert_eq!(up.json["product"]["name"], name.as_str());
    assert!(is_uuid(&up.json["image"]["id"]));
    assert_eq!(up.json["fileUrl"], up.json["image"]["url"]);
    let product_id = up.json["productId"].as_str().unwrap_or_default().to_owned();

    // The listing shows it (fresh: the upload invalidated every instance's cache).
    let list = get(&format!("{}/products/productimage", nginx_url())).await?;
    assert_eq!(list.status, 200, "{}", list.text);
    let products = list.json.as_array().cloned().unwrap_or_default();
    assert!(!products.is_empty(), "{}", list.text);
    for p in &products {
        assert_product(p);
    }
    let mine = products
        .iter()
        .find(|p| p["id"] == product_id.as_str())
        .unwrap_or_else(|| panic!("the upload is listed: {}", list.text));
    assert_eq!(mine["price"], "12.50");
    assert_eq!(mine["stock"], 20);
    assert_eq!(mine["category"], "BEVERAGES");
    // The image loads from an instance other than the one that stored it.
    let image_url = mine["imageUrl"].as_str().unwrap_or_default();
    assert!(
        image_url.starts_with('/'),
        "a path on this server: {image_url}"
    );
    for base in instance_urls() {
        let resp = client().get(format!("{base}{image_url}")).send().await?;
        assert_eq!(resp.status().as_u16(), 200, "{base}{image_url}");
        assert_eq!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("image/png")
        );
        assert_eq!(resp.bytes().await?.as_ref(), image.as_slice());
    }

    // Cart: no cart yet is 404 with a message.
    let none = get_with(&nginx_url(), "/products/cartitems", &token).await;
    assert_eq!(none.status, 404, "{}", none.text);
    assert!(none.json["message"].is_string());

    let added = post(
        &c,
        "/products/addtocart",
        Some(&token_again),
        &json!({"productId": product_id}),
    )
    .await;
    assert_eq!(added.status, 200, "{}", added.text);
    has_exactly(&added.json, &["message"]);
    let items = get_with(&nginx_url(), "/products/cartitems", &token).await;
    assert_eq!(items.status, 200, "{}", items.text);
    let items = items.json.as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1);
    has_exactly(
        &items[0],
        &["id", "productId", "quantity", "productName", "productPrice"],
    );
    assert!(is_uuid(&items[0]["id"]));
    assert_eq!(items[0]["productId"], product_id.as_str());
    assert_eq!(items[0]["quantity"], 1, "quantity defaults to 1");
    assert_eq!(items[0]["productName"], name.as_str());
    assert_eq!(items[0]["productPrice"], "12.50");
    let item_id = items[0]["id"].as_str().unwrap_or_default().to_owned();

    let updated = send(
        c.put(format!("{}/products/updatecartitem/{item_id}", nginx_url()))
            .header("authorization", &token)
            .json(&json!({"quantity": 3})),
    )
    .await?;
    assert_eq!(updated.status, 200, "{}", updated.text);
    has_exactly(
        &updated.json,
        &["id", "productId", "quantity", "productName", "productPrice"],
    );
    assert_eq!(updated.json["id"], item_id.as_str());
    assert_eq!(updated.json["quantity"], 3);
    let zero = send(
        c.put(format!("{}/products/updatecartitem/{item_id}", nginx_url()))
            .header("authorization", &token)
            .json(&json!({"quantity": 0})),
    )
    .await?;
    zero.assert_error(400, "VALIDATION_ERROR");

    let placed = post(&c, "/products/placeorder", Some(&token), &Value::Null).await;
    assert_eq!(placed.status, 200, "{}", placed.text);
    has_exactly(&placed.json, &["message", "orderId", "totalAmount"]);
    assert!(is_uuid(&placed.json["orderId"]));
    assert_eq!(placed.json["totalAmount"].as_f64(), Some(37.5));
    let order_id = placed.json["orderId"].as_str().unwrap_or_default();
    wait_for_mail(&email, &e2e::order_subject_by_id(order_id).await?, 0).await?;
    // The address and phone the old registration form sent ship the order; an order
    // of the old frontend (no payment step) does not expire.
    let order = get_with(&nginx_url(), &format!("/api/orders/{order_id}"), &token).await;
    assert_eq!(order.status, 200, "{}", order.text);
    let shipping = &order.json["data"]["shipping_address"];
    assert_eq!(shipping["line1"], "1 Main St", "{}", order.text);
    assert_eq!(shipping["phone"], "555-0100", "{}", order.text);
    assert_eq!(shipping["name"], "Old Frontend", "{}", order.text);
    assert!(order.json["data"]["expires_at"].is_null(), "{}", order.text);

    // The cart is empty now; placing again is 400 with a message.
    let again = post(&c, "/products/placeorder", Some(&token), &Value::Null).await;
    again.assert_error(400, "CART_EMPTY");
    assert!(again.json["message"].is_string());
    Ok(())
}

#[tokio::test]
async fn registering_a_taken_address_answers_exactly_as_for_a_new_one() -> anyhow::Result<()> {
    let (c, _, email, first_id) = legacy_customer("legacy-taken").await?;
    let again = post(
        &c,
        "/api/userRegister",
        None,
        &json!({"name": "Someone Else", "email": email, "password": "another password"}),
    )
    .await;
    assert_eq!(again.status, 201, "{}", again.text);
    has_exactly(&again.json, &["message", "user"]);
    assert_eq!(again.json["user"]["id"], first_id.as_str(), "the same id");
    // The verified account is untouched: its password still works.
    let login = post(
        &c,
        "/api/userLogin",
        None,
        &json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(login.json["user"]["name"], "Old Frontend");
    Ok(())
}

#[tokio::test]
async fn errors_keep_the_fields_the_old_frontend_reads() -> anyhow::Result<()> {
    let c = client();
    let email = unique_email("legacy-errors");
    let reply = post(
        &c,
        "/api/userRegister",
        None,
        &json!({"name": "Err", "email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    // Unverified: 403 with a message, only after the right password.
    let unverified = post(
        &c,
        "/api/userLogin",
        None,
        &json!({"email": email, "password": PASSWORD}),
    )
    .await;
    unverified.assert_error(403, "EMAIL_NOT_VERIFIED");
    assert!(unverified.json["message"].is_string());

    let code = wait_for_code(&email, 0).await?;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let bad = post(
        &c,
        "/api/verify-otp",
        None,
        &json!({"email": email, "otp": wrong}),
    )
    .await;
    bad.assert_error(401, "OTP_INVALID");
    assert!(bad.json["error"].is_string());
    let missing = post(
        &c,
        "/api/verify-otp",
        None,
        &json!({"email": unique_email("nobody"), "otp": "123456"}),
    )
    .await;
    missing.assert_error(400, "OTP_NOT_FOUND");
    assert!(missing.json["error"].is_string());

    // One message for an unknown e-mail and a wrong password.
    let wrong_password = post(
        &c,
        "/api/userLogin",
        None,
        &json!({"email": email, "password": "not the password"}),
    )
    .await;
    let unknown = post(
        &c,
        "/api/userLogin",
        None,
        &json!({"email": unique_email("unknown"), "password": PASSWORD}),
    )
    .await;
    wrong_password.assert_error(401, "INVALID_CREDENTIALS");
    unknown.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(wrong_password.json["message"], unknown.json["message"]);

    // A missing field is named.
    let incomplete = post(&c, "/api/userRegister", None, &json!({"email": email})).await;
    incomplete.assert_error(400, "VALIDATION_ERROR");
    assert!(incomplete.json["details"]["field"].is_string());
    Ok(())
}

#[tokio::test]
async fn the_storm_through_placeorder_does_not_oversell() -> anyhow::Result<()> {
    let admin = admin_token(&client()).await?;
    let name = format!("Legacy last units {}", tag());
    let product = create_product(&client(), &nginx_url(), &admin, &name, 10, 300).await?;
    let id = product["id"].as_str().unwrap_or_default().to_owned();
    let buyers =
        futures_util::future::try_join_all((0..30).map(|_| e2e::new_customer("legacy-storm")))
            .await?;
    for (c, token, _) in &buyers {
        let added = post(
            c,
            "/products/addtocart",
            Some(&format!("Bearer {token}")),
            &json!({"productId": id, "quantity": 1}),
        )
        .await;
        assert_eq!(added.status, 200, "{}", added.text);
    }
    let instances = instance_urls();
    let replies =
        futures_util::future::try_join_all(buyers.iter().enumerate().map(|(i, (c, token, _))| {
            send(
                c.post(format!(
                    "{}/products/placeorder",
                    instances[i % instances.len()]
                ))
                .bearer_auth(token),
            )
        }))
        .await?;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        10,
        "{statuses:?}"
    );
    let refused: Vec<&Reply> = replies.iter().filter(|r| r.status == 400).collect();
    assert_eq!(refused.len(), 20, "{statuses:?}");
    for r in refused {
        r.assert_error(400, "INSUFFICIENT_STOCK");
        let message = r.json["message"].as_str().unwrap_or_default();
        assert!(message.contains(&name), "names the product: {message}");
    }
    e2e::assert_stock(&id, 0).await?;
    Ok(())
}

#[tokio::test]
async fn the_stricter_rules_hold() -> anyhow::Result<()> {
    let name = format!("Legacy denied {}", tag());
    let anonymous = upload(None, upload_form(&name, "1.00", "1", png(&name))).await?;
    anonymous.assert_error(401, "UNAUTHORIZED");
    let customer = format!("Bearer {}", customer_token().await?);
    let forbidden = upload(Some(&customer), upload_form(&name, "1.00", "1", png(&name))).await?;
    forbidden.assert_error(403, "FORBIDDEN");
    let admin = legacy_admin().await?;
    let bad_price = upload(Some(&admin), upload_form(&name, "1.005", "1", png(&name))).await?;
    bad_price.assert_error(400, "VALIDATION_ERROR");
    assert_eq!(bad_price.json["details"]["field"], "price");

    // Another user's cart item is 404 and stays as it was.
    let (c, owner, _, _) = legacy_customer("legacy-owner").await?;
    let up = upload(Some(&admin), upload_form(&name, "2.00", "5", png(&name))).await?;
    assert_eq!(up.status, 201, "{}", up.text);
    let product_id = up.json["productId"].as_str().unwrap_or_default().to_owned();
    let added = post(
        &c,
        "/products/addtocart",
        Some(&owner),
        &json!({"productId": product_id, "quantity": 2}),
    )
    .await;
    assert_eq!(added.status, 200, "{}", added.text);
    let items = get_with(&nginx_url(), "/products/cartitems", &owner).await;
    let item_id = items.json[0]["id"].as_str().unwrap_or_default().to_owned();
    assert!(is_uuid(&items.json[0]["id"]), "{}", items.text);
    let other = send(
        client()
            .put(format!("{}/products/updatecartitem/{item_id}", nginx_url()))
            .header("authorization", &customer)
            .json(&json!({"quantity": 5})),
    )
    .await?;
    other.assert_error(404, "NOT_FOUND");
    let items = get_with(&nginx_url(), "/products/cartitems", &owner).await;
    assert_eq!(items.json[0]["quantity"], 2, "{}", items.text);

    // Stats: admin only, each `{total}` (or the product array).
    for path in [
        "/stats/totalusers",
        "/stats/totalorders",
        "/stats/totalpendingorders",
        "/stats/totalcompletedorders",
        "/stats/totalproducts",
        "/stats/revenue",
        "/stats/products",
    ] {
        get_with(&nginx_url(), path, &customer)
            .await
            .assert_error(403, "FORBIDDEN");
        get(&format!("{}{path}", nginx_url()))
            .await?
            .assert_error(401, "UNAUTHORIZED");
        let ok = get_with(&nginx_url(), path, &admin).await;
        assert_eq!(ok.status, 200, "{path}: {}", ok.text);
        if path == "/stats/products" {
            let products = ok.json.as_array().cloned().unwrap_or_default();
            assert!(products.iter().any(|p| p["id"] == product_id.as_str()));
            products.iter().for_each(assert_product);
        } else {
            has_exactly(&ok.json, &["total"]);
            assert!(ok.json["total"].is_number(), "{path}: {}", ok.text);
        }
    }
    Ok(())
}

#[tokio::test]
async fn every_legacy_route_is_documented_deprecated_under_its_own_tag() -> anyhow::Result<()> {
    let spec = get(&format!("{}/openapi.json", nginx_url())).await?;
    let routes = [
        ("/api/userRegister", "post"),
        ("/api/verify-otp", "post"),
        ("/api/userLogin", "post"),
        ("/upload-product", "post"),
        ("/products/productimage", "get"),
        ("/products/addtocart", "post"),
        ("/products/cartitems", "get"),
        ("/products/updatecartitem/{id}", "put"),
        ("/products/placeorder", "post"),
        ("/stats/totalusers", "get"),
        ("/stats/totalorders", "get"),
        ("/stats/totalpendingorders", "get"),
        ("/stats/totalcompletedorders", "get"),
        ("/stats/totalproducts", "get"),
        ("/stats/revenue", "get"),
        ("/stats/products", "get"),
    ];
    for (path, method) in routes {
        let op = &spec.json["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is documented");
        assert_eq!(op["deprecated"], true, "{method} {path} is deprecated");
        assert_eq!(op["tags"], json!(["Legacy"]), "{method} {path}");
    }
    // Canonical routes are not deprecated.
    assert_ne!(
        spec.json["paths"]["/api/orders"]["post"]["deprecated"],
        true
    );
    Ok(())
}

#[tokio::test]
async fn the_old_frontend_origin_passes_preflight_for_legacy_routes() -> anyhow::Result<()> {
    let ok = e2e::preflight_post("/products/addtocart", "http://localhost:3000").await?;
    assert!(ok.status < 300, "{} {}", ok.status, ok.text);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    let headers = ok
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_lowercase();
    assert!(headers.contains("authorization"), "{headers}");
    let methods = ok
        .header("access-control-allow-methods")
        .unwrap_or_default()
        .to_uppercase();
    assert!(methods.contains("POST"), "{methods}");

    let evil = e2e::preflight_post("/products/addtocart", "http://unknown.example").await?;
    assert!(evil.header("access-control-allow-origin").is_none());
    assert!(evil.status >= 400, "{}", evil.status);
    Ok(())
}
