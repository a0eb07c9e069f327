//! The address book: CRUD, each field's limits, ownership, defaults, the limit of 20
//! under concurrent writes over four instances, and the legacy registration's address.

use serde_json::{Value, json};

use crate::support::{Reply, TestApp, valid_address};

const BOOK: &str = "/api/me/addresses";

/// A fresh verified customer with an empty address book.
async fn bare_customer(app: &TestApp) -> anyhow::Result<String> {
    let email = format!("a-{}@example.com", uuid::Uuid::new_v4().simple());
    let tokens = app
        .register_verified_bare(&email, "customer password")
        .await?;
    Ok(tokens["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// `valid_address()` with `changes` over it.
fn address_with(changes: &Value) -> Value {
    let mut body = valid_address();
    for (k, v) in changes.as_object().cloned().unwrap_or_default() {
        body[k] = v;
    }
    body
}

async fn add(app: &TestApp, base: &str, token: &str, body: &Value) -> anyhow::Result<Reply> {
    app.send(
        app.http
            .post(format!("{base}{BOOK}"))
            .bearer_auth(token)
            .json(body),
    )
    .await
}

async fn patch(
    app: &TestApp,
    base: &str,
    token: &str,
    id: &str,
    body: &Value,
) -> anyhow::Result<Reply> {
    app.send(
        app.http
            .patch(format!("{base}{BOOK}/{id}"))
            .bearer_auth(token)
            .json(body),
    )
    .await
}

async fn delete(app: &TestApp, token: &str, id: &str) -> anyhow::Result<Reply> {
    app.send(
        app.http
            .delete(app.url(&format!("{BOOK}/{id}")))
            .bearer_auth(token),
    )
    .await
}

async fn list(app: &TestApp, token: &str) -> anyhow::Result<Vec<Value>> {
    let reply = app.get(BOOK, Some(token)).await?;
    anyhow::ensure!(reply.status == 200, "list: {}", reply.text);
    Ok(reply.json["data"].as_array().cloned().unwrap_or_default())
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}

/// The ids of the addresses of `token`'s book holding each default.
async fn defaults(app: &TestApp, token: &str) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let book = list(app, token).await?;
    let holding = |flag: &str| {
        book.iter()
            .filter(|a| a[flag] == true)
            .map(id_of)
            .collect::<Vec<_>>()
    };
    Ok((
        holding("is_default_shipping"),
        holding("is_default_billing"),
    ))
}

fn assert_refused(reply: &Reply, field: &str) {
    assert_eq!(reply.status, 400, "{field}: {}", reply.text);
    assert_eq!(reply.json["error"], "VALIDATION_ERROR", "{}", reply.text);
    assert_eq!(reply.json["details"]["field"], field, "{}", reply.text);
}

#[tokio::test]
async fn an_address_can_be_added_read_listed_changed_and_deleted() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let token = bare_customer(&app).await?;
    assert!(list(&app, &token).await?.is_empty());

    let reply = add(
        &app,
        &app.base,
        &token,
        &address_with(&json!({
            "name": "  Ada Lovelace ", "line2": "Flat 2", "region": "London",
            "postal_code": "SW1A 1AA", "country": "gb", "phone": "+44 (20) 7946-0000",
            "unknown_field": "ignored like everywhere else",
        })),
    )
    .await?;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let created = reply.json["data"].clone();
    let id = id_of(&created);
    assert_eq!(created["name"], "Ada Lovelace");
    assert_eq!(created["country"], "GB");
    assert_eq!(created["postal_code"], "SW1A 1AA");
    assert_eq!(created["phone"], "+44 (20) 7946-0000");

    let one = app.get(&format!("{BOOK}/{id}"), Some(&token)).await?;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.json["data"], created);
    assert_eq!(list(&app, &token).await?, vec![created.clone()]);

    let reply = patch(
        &app,
        &app.base,
        &token,
        &id,
        &json!({"city": " Manchester ", "line2": null, "country": "ie"}),
    )
    .await?;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let changed = &reply.json["data"];
    assert_eq!(changed["city"], "Manchester");
    assert_eq!(changed["line2"], Value::Null);
    assert_eq!(changed["country"], "IE");
    assert_eq!(changed["region"], "London", "a field not sent stays");
    assert_eq!(changed["name"], "Ada Lovelace");
    let stored = app
        .strings(&format!(
            "SELECT city || '|' || country || '|' || coalesce(line2, '-') FROM addresses WHERE id = '{id}'"
        ))
        .await?;
    assert_eq!(stored, vec!["Manchester|IE|-".to_owned()]);

    let reply = delete(&app, &token, &id).await?;
    assert_eq!(reply.status, 204, "{}", reply.text);
    assert_eq!(
        app.get(&format!("{BOOK}/{id}"), Some(&token)).await?.status,
        404
    );
    assert_eq!(delete(&app, &token, &id).await?.status, 404);
    assert!(list(&app, &token).await?.is_empty());
    assert_eq!(app.get(BOOK, None).await?.status, 401);
    Ok(())
}

#[tokio::test]
async fn each_field_is_accepted_at_its_limit_and_refused_past_it_naming_the_field()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let token = bare_customer(&app).await?;
    let long = |n: usize| "é".repeat(n);
    let digits = |n: usize| "1".repeat(n);
    let cases: Vec<(&str, Value, Value)> = vec![
        ("name", json!(long(200)), json!(long(201))),
        ("line1", json!(long(200)), json!(long(201))),
        ("line2", json!(long(200)), json!(long(201))),
        ("city", json!(long(100)), json!(long(101))),
        ("region", json!(long(100)), json!(long(101))),
        ("postal_code", json!(digits(20)), json!(digits(21))),
        ("phone", json!(digits(40)), json!(digits(41))),
        ("phone", json!("1234"), json!("123")),
    ];
    for (field, at_limit, past_limit) in cases {
        let reply = add(
            &app,
            &app.base,
            &token,
            &address_with(&json!({ field: at_limit })),
        )
        .await?;
        assert_eq!(reply.status, 201, "{field} at its limit: {}", reply.text);
        assert_eq!(reply.json["data"][field], at_limit);
        let reply = add(
            &app,
            &app.base,
            &token,
            &address_with(&json!({ field: past_limit })),
        )
        .await?;
        assert_refused(&reply, field);
    }
    for (field, bad) in [
        ("name", json!("   ")),
        ("line1", json!("")),
        ("city", json!(" ")),
        ("postal_code", json!("")),
        ("postal_code", json!("12/34")),
        ("phone", json!("555 CALL")),
        ("line1", json!("1 Main St\nSpringfield")),
    ] {
        let reply = add(
            &app,
            &app.base,
            &token,
            &address_with(&json!({ field: bad })),
        )
        .await?;
        assert_refused(&reply, field);
    }
    let mut missing = valid_address();
    missing.as_object_mut().map(|o| o.remove("city"));
    assert_refused(&add(&app, &app.base, &token, &missing).await?, "city");

    // A patch is held to the same rules, and a refused one changes nothing.
    let id = id_of(&list(&app, &token).await?[0]);
    let reply = patch(
        &app,
        &app.base,
        &token,
        &id,
        &json!({"city": long(101), "name": "New"}),
    )
    .await?;
    assert_refused(&reply, "city");
    let reply = patch(&app, &app.base, &token, &id, &json!({"country": "XX"})).await?;
    assert_refused(&reply, "country");
    assert_eq!(list(&app, &token).await?[0]["name"], long(200));
    assert_eq!(app.scalar("SELECT count(*) FROM addresses").await?, 8);
    Ok(())
}

#[tokio::test]
async fn an_unknown_country_is_refused_and_a_known_one_is_stored_upper_case() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let token = bare_customer(&app).await?;
    for bad in ["XX", "UK", "USA", "", "1"] {
        let reply = add(
            &app,
            &app.base,
            &token,
            &address_with(&json!({ "country": bad })),
        )
        .await?;
        assert_refused(&reply, "country");
    }
    for (sent, stored) in [("de", "DE"), (" Fr ", "FR"), ("AX", "AX")] {
        let reply = add(
            &app,
            &app.base,
            &token,
            &address_with(&json!({ "country": sent })),
        )
        .await?;
        assert_eq!(reply.status, 201, "{sent}: {}", reply.text);
        assert_eq!(reply.json["data"]["country"], stored);
    }
    Ok(())
}

#[tokio::test]
async fn another_customers_address_is_404_for_every_operation() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let owner = app.customer().await?;
    let other = app.customer().await?;
    let address = list(&app, &owner).await?[0].clone();
    let id = id_of(&address);
    let path = format!("{BOOK}/{id}");
    assert_eq!(app.get(&path, Some(&other)).await?.status, 404);
    let reply = patch(&app, &app.base, &other, &id, &json!({"city": "Elsewhere"})).await?;
    assert_eq!(reply.status, 404, "{}", reply.text);
    assert_eq!(reply.json["error"], "NOT_FOUND");
    assert_eq!(delete(&app, &other, &id).await?.status, 404);
    assert!(list(&app, &other).await?.iter().all(|a| id_of(a) != id));
    assert_eq!(list(&app, &owner).await?, vec![address]);
    Ok(())
}

#[tokio::test]
async fn the_first_address_is_the_default_for_shipping_and_billing() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let token = bare_customer(&app).await?;
    let first = add(
        &app,
        &app.base,
        &token,
        &address_with(&json!({"is_default_shipping": false, "is_default_billing": false})),
    )
    .await?;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.json["data"]["is_default_shipping"], true);
    assert_eq!(first.json["data"]["is_default_billing"], true);
    let second = add(&app, &app.base, &token, &valid_address()).await?;
    assert_eq!(second.json["data"]["is_default_shipping"], false);
    assert_eq!(second.json["data"]["is_default_billing"], false);
    let first_id = id_of(&first.json["data"]);
    assert_eq!(
        defaults(&app, &token).await?,
        (vec![first_id.clone()], vec![first_id])
    );
    Ok(())
}

#[tokio::test]
async fn a_new_default_takes_the_role_from_the_previous_one() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let token = bare_customer(&app).await?;
    let a = id_of(&add(&app, &app.base, &token, &valid_address()).await?.json["data"]);
    let b = add(
        &app,
        &app.base,
        &token,
        &address_with(&json!({"is_default_shipping": true})),
    )
    .await?;
    assert_eq!(b.status, 201, "{}", b.text);
    let b = id_of(&b.json["data"]);
    assert_eq!(
        defaults(&app, &token).await?,
        (vec![b.clone()], vec![a.clone()])
    );

    let c = id_of(&add(&app, &app.base, &token, &valid_address()).await?.json["data"]);
    let reply = patch(
        &app,
        &app.base,
        &token,
        &c,
        &json!({"is_default_billing": true}),
    )
    .await?;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["data"]["is_default_billing"], true);
    assert_eq!(
        defaults(&app, &token).await?,
        (vec![b.clone()], vec![c.clone()])
    );

    // Unsetting the default is refused: the book keeps one of each while it holds any.
    let reply = patch(
        &app,
        &app.base,
        &token,
        &b,
        &json!({"is_default_shipping": false}),
    )
    .await?;
    assert_refused(&reply, "is_default_shipping");
    // `false` on an address that is not the default changes nothing.
    let reply = patch(
        &app,
        &app.base,
        &token,
        &a,
        &json!({"is_default_shipping": false}),
    )
    .await?;
    assert_eq!(reply.status, 200, "{}", reply.text);

    // Deleting a default hands it to the oldest address left.
    assert_eq!(delete(&app, &token, &c).await?.status, 204);
    assert_eq!(
        defaults(&app, &token).await?,
        (vec![b.clone()], vec![a.clone()])
    );
    assert_eq!(delete(&app, &token, &b).await?.status, 204);
    assert_eq!(defaults(&app, &token).await?, (vec![a.clone()], vec![a]));
    Ok(())
}

#[tokio::test]
async fn concurrent_adds_over_four_instances_stop_at_twenty_and_refuse_the_rest()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let token = bare_customer(&app).await?;
    let (_siblings, bases) = app.four_instances().await?;
    // Every other one asks to be the default too: the defaults race as well.
    let replies = futures_util::future::try_join_all((0..28).map(|i| {
        let body = address_with(&json!({
            "name": format!("Recipient {i}"),
            "is_default_shipping": i % 2 == 0,
            "is_default_billing": i % 3 == 0,
        }));
        let base = bases[i % bases.len()].clone();
        let token = token.clone();
        let app = &app;
        async move { add(app, &base, &token, &body).await }
    }))
    .await?;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let full: Vec<&Reply> = replies.iter().filter(|r| r.status != 201).collect();
    assert_eq!(created, 20);
    assert_eq!(full.len(), 8);
    for reply in full {
        assert_eq!(reply.status, 409, "{}", reply.text);
        assert_eq!(reply.json["error"], "ADDRESS_BOOK_FULL", "{}", reply.text);
        assert_eq!(reply.json["details"]["max_addresses"], 20);
    }
    assert_eq!(app.scalar("SELECT count(*) FROM addresses").await?, 20);
    let (shipping, billing) = defaults(&app, &token).await?;
    assert_eq!((shipping.len(), billing.len()), (1, 1));
    // Full means full: one more is refused, and one deleted makes room for one.
    let reply = add(&app, &app.base, &token, &valid_address()).await?;
    assert_eq!(reply.status, 409, "{}", reply.text);
    let any = id_of(&list(&app, &token).await?[5]);
    assert_eq!(delete(&app, &token, &any).await?.status, 204);
    assert_eq!(
        add(&app, &app.base, &token, &valid_address()).await?.status,
        201
    );
    Ok(())
}

#[tokio::test]
async fn concurrent_make_default_over_four_instances_leaves_exactly_one_default()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let token = bare_customer(&app).await?;
    let mut ids = Vec::new();
    for _ in 0..12 {
        ids.push(id_of(
            &add(&app, &app.base, &token, &valid_address()).await?.json["data"],
        ));
    }
    let (_siblings, bases) = app.four_instances().await?;
    for _round in 0..3 {
        let replies = futures_util::future::try_join_all(ids.iter().enumerate().map(|(i, id)| {
            let base = bases[i % bases.len()].clone();
            let body = json!({"is_default_shipping": true, "is_default_billing": true});
            let (app, token) = (&app, &token);
            async move { patch(app, &base, token, id, &body).await }
        }))
        .await?;
        for reply in &replies {
            assert_eq!(reply.status, 200, "{}", reply.text);
        }
        let (shipping, billing) = defaults(&app, &token).await?;
        assert_eq!(
            (shipping.len(), billing.len()),
            (1, 1),
            "{shipping:?} {billing:?}"
        );
        assert_eq!(
            app.scalar("SELECT count(*) FROM addresses WHERE is_default_shipping")
                .await?,
            1
        );
    }
    Ok(())
}

/// Registers `email` through the legacy route from client address `ip`.
async fn legacy_register(
    app: &TestApp,
    ip: &str,
    email: &str,
    extra: &Value,
) -> anyhow::Result<()> {
    let mut body = json!({"name": "Old Frontend", "email": email, "password": "a long password"});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        body[k] = v;
    }
    let reply = app
        .send(
            app.http
                .post(app.url("/api/userRegister"))
                .header("x-real-ip", ip)
                .json(&body),
        )
        .await?;
    anyhow::ensure!(reply.status == 201, "legacy register: {}", reply.text);
    Ok(())
}

/// Verifies `email` through the legacy route with its `n`-th code; the `Bearer` token.
async fn legacy_verify(app: &TestApp, email: &str, n: usize) -> anyhow::Result<String> {
    let code = app.otp_for(email, n).await?;
    let reply = app
        .post(
            "/api/verify-otp",
            &json!({"email": email, "otp": code}),
            None,
        )
        .await?;
    anyhow::ensure!(reply.status == 200, "legacy verify: {}", reply.text);
    Ok(reply.json["token"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("Bearer ")
        .to_owned())
}

#[tokio::test]
async fn a_legacy_registration_makes_its_address_the_default_once_verified() -> anyhow::Result<()> {
    let app = TestApp::spawn_with(&[("SHOP_DEFAULT_COUNTRY", "DE")]).await;
    let email = "legacy-address@example.com";
    let text = format!("  1 Main St\n  Springfield {}", "ü".repeat(300));
    legacy_register(
        &app,
        "203.0.113.7",
        email,
        &json!({"phone": " 555-0100 ", "address": text}),
    )
    .await?;
    // Nothing is stored before the code is proven.
    assert_eq!(app.scalar("SELECT count(*) FROM addresses").await?, 0);
    let token = legacy_verify(&app, email, 0).await?;
    let book = list(&app, &token).await?;
    assert_eq!(book.len(), 1, "{book:?}");
    let a = &book[0];
    let line1 = a["line1"].as_str().unwrap_or_default();
    assert!(line1.starts_with("1 Main St Springfield üü"), "{line1}");
    assert_eq!(line1.chars().count(), 200);
    assert_eq!(a["name"], "Old Frontend");
    assert_eq!((&a["city"], &a["postal_code"]), (&json!(""), &json!("")));
    assert_eq!(a["region"], Value::Null);
    assert_eq!(a["country"], "DE");
    assert_eq!(a["phone"], "555-0100");
    assert_eq!(
        (&a["is_default_shipping"], &a["is_default_billing"]),
        (&json!(true), &json!(true))
    );

    // A phone that is not one is dropped, never refused; no address, no row.
    let other = "legacy-bad-phone@example.com";
    legacy_register(
        &app,
        "203.0.113.8",
        other,
        &json!({"phone": "call me", "address": "2 Side St"}),
    )
    .await?;
    let token = legacy_verify(&app, other, 0).await?;
    let book = list(&app, &token).await?;
    assert_eq!((book.len(), &book[0]["phone"]), (1, &Value::Null));
    let none = "legacy-no-address@example.com";
    legacy_register(
        &app,
        "203.0.113.9",
        none,
        &json!({"phone": "555-0100", "address": "  "}),
    )
    .await?;
    let token = legacy_verify(&app, none, 0).await?;
    assert!(list(&app, &token).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn registering_again_before_verifying_stores_one_address_the_last_one() -> anyhow::Result<()>
{
    let app = TestApp::spawn_with(&[("OTP_RESEND_COOLDOWN_SECONDS", "1")]).await;
    let email = "legacy-twice@example.com";
    legacy_register(
        &app,
        "203.0.113.20",
        email,
        &json!({"address": "1 First St"}),
    )
    .await?;
    // The same client may ask again once its cooldown (1 s here) is over.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    legacy_register(
        &app,
        "203.0.113.20",
        email,
        &json!({"address": "2 Second St"}),
    )
    .await?;
    let token = legacy_verify(&app, email, 1).await?;
    let book = list(&app, &token).await?;
    assert_eq!(book.len(), 1, "{book:?}");
    assert_eq!(book[0]["line1"], "2 Second St");
    assert_eq!(app.scalar("SELECT count(*) FROM addresses").await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_strangers_registration_never_plants_an_address() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let email = "legacy-owner@example.com";
    legacy_register(
        &app,
        "203.0.113.30",
        email,
        &json!({"address": "1 Owner St"}),
    )
    .await?;
    legacy_register(
        &app,
        "198.51.100.66",
        email,
        &json!({"address": "66 Stranger Rd"}),
    )
    .await?;
    // The inbox owner gets both codes; whichever is used, whose attempt it was cannot
    // be told, so no address applies (as no password does).
    let token = legacy_verify(&app, email, 1).await?;
    assert!(list(&app, &token).await?.is_empty());
    assert_eq!(app.scalar("SELECT count(*) FROM addresses").await?, 0);
    Ok(())
}
