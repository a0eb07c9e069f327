//! Draft, published and archived products through nginx and on every instance: a
//! draft never reaches a customer by any route (canonical or legacy, cached or not),
//! and concurrent status moves of one product are decided one at a time.

use e2e::{
    add_to_cart, admin_token, client, database, get, instance_urls, new_customer, nginx_url,
    place_order, png, scalar_i64, send,
};
use serde_json::{Value, json};
use shop_common::testing::Reply;

fn tag() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Every base a customer can reach: nginx and each instance.
fn bases() -> Vec<String> {
    let mut all = vec![nginx_url()];
    all.extend(instance_urls());
    all
}

/// Uploads a product named `name` with one image, in `status`; its id and image path.
async fn upload(
    c: &reqwest::Client,
    admin: &str,
    name: &str,
    status: &str,
) -> anyhow::Result<(String, String)> {
    let form = reqwest::multipart::Form::new()
        .text("name", name.to_owned())
        .text("price_cents", "321")
        .text("category", "STAPLES")
        .text("stock", "20")
        .text("status", status.to_owned())
        .part(
            "images",
            reqwest::multipart::Part::bytes(png(name))
                .file_name("p.png")
                .mime_str("image/png")?,
        );
    let reply = send(
        c.post(format!("{}/api/admin/products/upload", nginx_url()))
            .bearer_auth(admin)
            .multipart(form),
    )
    .await?;
    anyhow::ensure!(reply.status == 201, "upload: {}", reply.text);
    anyhow::ensure!(reply.json["data"]["status"] == status, "{}", reply.text);
    let image = reply.json["data"]["images"][0]["url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok((reply.data_id(), image))
}

/// `POST {base}/api/admin/products/{id}/{verb}`.
async fn move_product(
    c: &reqwest::Client,
    base: &str,
    admin: &str,
    id: &str,
    verb: &str,
) -> anyhow::Result<Reply> {
    send(
        c.post(format!("{base}/api/admin/products/{id}/{verb}"))
            .bearer_auth(admin),
    )
    .await
}

fn holds(items: &Value, id: &str) -> bool {
    items
        .as_array()
        .is_some_and(|a| a.iter().any(|p| p["id"].as_str() == Some(id)))
}

/// What a published product shows on whatever else the shared stack holds: the
/// newest listings may have moved past it (other tests import thousands), the search,
/// the image listing, the detail and the image never do.
const ALWAYS_SHOWN: [&str; 4] = ["search listing", "with images", "detail", "image"];

/// Every public read of product `id` at `base` that shows it, by name: empty when
/// the product is hidden everywhere there.
async fn leaks(base: &str, q: &str, id: &str, image: &str) -> anyhow::Result<Vec<String>> {
    let mut shown = Vec::new();
    for (what, path, pointer) in [
        (
            "search listing",
            format!("/api/products?q={q}&page_size=100"),
            "/data",
        ),
        (
            "newest listing",
            "/api/products?page_size=100".to_owned(),
            "/data",
        ),
        (
            "with images",
            "/api/products/with-images".to_owned(),
            "/data",
        ),
        (
            "legacy productimage",
            "/products/productimage".to_owned(),
            "",
        ),
    ] {
        let reply = get(&format!("{base}{path}")).await?;
        anyhow::ensure!(reply.status == 200, "{what} at {base}: {}", reply.text);
        if holds(reply.json.pointer(pointer).unwrap_or(&Value::Null), id) {
            shown.push(what.to_owned());
        }
    }
    for (what, path) in [
        ("detail", format!("/api/products/{id}")),
        ("image", image.to_owned()),
    ] {
        let reply = get(&format!("{base}{path}")).await?;
        match reply.status {
            200 => shown.push(what.to_owned()),
            404 => {}
            other => anyhow::bail!("{what} at {base}: {other} {}", reply.text),
        }
    }
    Ok(shown)
}

/// Asserts that product `id` shows at `base` wherever a published product must.
fn assert_shown(base: &str, shown: &[String]) {
    for what in ALWAYS_SHOWN {
        assert!(
            shown.iter().any(|s| s == what),
            "not shown at {base} by {what}: {shown:?}"
        );
    }
}

/// The status, error code and message: what tells one refusal from another.
fn answer(r: &Reply) -> (u16, Value, Value) {
    (r.status, r.json["error"].clone(), r.json["message"].clone())
}

#[tokio::test]
async fn a_draft_never_leaks_to_a_customer_by_any_route() -> anyhow::Result<()> {
    let c = client();
    let admin = admin_token(&c).await?;
    let (buyer, token, _) = new_customer("draft-leak").await?;
    let q = tag();
    let (draft, image) = upload(&c, &admin, &format!("Draft {q}"), "draft").await?;
    let (shown, shown_image) = upload(&c, &admin, &format!("Shown {q}"), "published").await?;

    // Twice everywhere: the second read is served from the caches the first filled.
    for _ in 0..2 {
        for base in bases() {
            let leaked = leaks(&base, &q, &draft, &image).await?;
            assert!(leaked.is_empty(), "draft shown at {base} by {leaked:?}");
            assert_shown(&base, &leaks(&base, &q, &shown, &shown_image).await?);
        }
    }

    // The cart, canonical and legacy, answers a draft as it answers no product.
    let unknown = uuid::Uuid::now_v7().to_string();
    for base in bases() {
        let to_draft = add_to_cart(&buyer, &base, &token, &draft, 1).await?;
        let to_nothing = add_to_cart(&buyer, &base, &token, &unknown, 1).await?;
        to_draft.assert_error(404, "NOT_FOUND");
        assert_eq!(answer(&to_draft), answer(&to_nothing), "{base}");
        let legacy = send(
            buyer
                .post(format!("{base}/products/addtocart"))
                .bearer_auth(&token)
                .json(&json!({ "productId": draft, "quantity": 1 })),
        )
        .await?;
        legacy.assert_error(404, "NOT_FOUND");
        assert!(!legacy.text.contains(&q), "{}", legacy.text);
    }

    // Admins see it, through any instance.
    for base in instance_urls() {
        let one = send(
            c.get(format!("{base}/api/admin/products/{draft}"))
                .bearer_auth(&admin),
        )
        .await?;
        assert_eq!(one.status, 200, "{}", one.text);
        assert_eq!(one.json["data"]["status"], "draft");
        let drafts = send(
            c.get(format!(
                "{base}/api/admin/products?status=draft&page_size=100"
            ))
            .bearer_auth(&admin),
        )
        .await?;
        assert_eq!(drafts.status, 200, "{}", drafts.text);
        assert!(holds(&drafts.json["data"], &draft), "{}", drafts.text);
    }

    // Published, it shows everywhere once the admin is answered; put in a cart, then
    // unpublished, it is gone everywhere at once (though every instance cached it,
    // its image's bytes included), and the order holding it is refused naming it.
    let published = move_product(&c, &instance_urls()[0], &admin, &draft, "publish").await?;
    assert_eq!(published.status, 200, "{}", published.text);
    let etag = get(&format!("{}{image}", nginx_url()))
        .await?
        .header("etag")
        .unwrap_or_default()
        .to_owned();
    for base in bases() {
        assert_shown(&base, &leaks(&base, &q, &draft, &image).await?);
    }
    let added = add_to_cart(&buyer, &nginx_url(), &token, &draft, 1).await?;
    assert_eq!(added.status, 200, "{}", added.text);
    let unpublished = move_product(&c, &instance_urls()[1], &admin, &draft, "unpublish").await?;
    assert_eq!(unpublished.status, 200, "{}", unpublished.text);
    for base in bases() {
        let leaked = leaks(&base, &q, &draft, &image).await?;
        assert!(
            leaked.is_empty(),
            "unpublished shown at {base} by {leaked:?}"
        );
        let revalidated = send(
            c.get(format!("{base}{image}"))
                .header("if-none-match", etag.clone()),
        )
        .await?;
        assert_eq!(revalidated.status, 404, "{base}: a 304 keeps it shown");
    }
    let refused = place_order(&buyer, &nginx_url(), &token).await?;
    refused.assert_error(409, "INSUFFICIENT_STOCK");
    // Refused naming the line by its id, never by the draft's name.
    assert!(
        refused.text.contains(&draft) && refused.text.contains("(unavailable product)"),
        "{}",
        refused.text
    );
    assert!(
        !refused.text.contains(&format!("Draft {q}")),
        "{}",
        refused.text
    );
    let cart = e2e::get_auth(&buyer, &format!("{}/api/cart", nginx_url()), &token).await?;
    assert!(!cart.text.contains(&format!("Draft {q}")), "{}", cart.text);
    let legacy = send(
        buyer
            .post(format!("{}/products/placeorder", nginx_url()))
            .bearer_auth(&token),
    )
    .await?;
    legacy.assert_error(400, "INSUFFICIENT_STOCK");
    let db = database().await?;
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT count(*) FROM order_items WHERE product_id = $1::uuid",
            &draft,
        )
        .await?,
        Some(0)
    );
    Ok(())
}

#[tokio::test]
async fn concurrent_publishes_and_unpublishes_over_every_instance_win_one_at_a_time()
-> anyhow::Result<()> {
    let c = client();
    let admin = admin_token(&c).await?;
    let q = tag();
    let (id, image) = upload(&c, &admin, &format!("Race {q}"), "draft").await?;
    let instances = instance_urls();

    // Ten publishes of one draft: one wins, nine are told it is published.
    let replies = futures_util::future::try_join_all(
        (0..10).map(|i| move_product(&c, &instances[i % instances.len()], &admin, &id, "publish")),
    )
    .await?;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    for lost in replies.iter().filter(|r| r.status != 200) {
        lost.assert_error(409, "PRODUCT_STATE_CONFLICT");
        assert_eq!(lost.json["details"]["current_status"], "published");
    }

    // Twenty publishes and unpublishes at once: each succeeds only from the state the
    // one before it left, so the winners alternate.
    let replies = futures_util::future::try_join_all((0..20).map(|i| {
        let verb = if i % 2 == 0 { "unpublish" } else { "publish" };
        let base = &instances[i % instances.len()];
        let (c, admin, id) = (&c, &admin, &id);
        async move {
            let r = move_product(c, base, admin, id, verb).await?;
            anyhow::Ok((verb, r))
        }
    }))
    .await?;
    let won = |verb: &str| {
        replies
            .iter()
            .filter(|(v, r)| *v == verb && r.status == 200)
            .count()
    };
    let (unpublished, published) = (won("unpublish"), won("publish"));
    // It started published: every publish needs an unpublish before it.
    assert!(
        unpublished == published || unpublished == published + 1,
        "unpublished {unpublished}, published {published}"
    );
    for (_, r) in replies.iter().filter(|(_, r)| r.status != 200) {
        r.assert_error(409, "PRODUCT_STATE_CONFLICT");
    }
    let db = database().await?;
    let audited = |action: &'static str| {
        let (db, id) = (&db, &id);
        async move {
            scalar_i64(
                db,
                &format!(
                    "SELECT count(*) FROM audit_log WHERE action = '{action}' AND target_id = $1"
                ),
                id,
            )
            .await
        }
    };
    assert_eq!(
        audited("product.publish").await?,
        Some(published as i64 + 1)
    );
    assert_eq!(
        audited("product.unpublish").await?,
        Some(unpublished as i64)
    );

    // Every instance shows the last winner's state, and the same one.
    let expect_shown = unpublished == published;
    let status = send(
        c.get(format!("{}/api/admin/products/{id}", nginx_url()))
            .bearer_auth(&admin),
    )
    .await?;
    assert_eq!(
        status.json["data"]["status"],
        if expect_shown { "published" } else { "draft" },
        "{}",
        status.text
    );
    for base in bases() {
        let leaked = leaks(&base, &q, &id, &image).await?;
        if expect_shown {
            assert_shown(&base, &leaked);
        } else {
            assert!(leaked.is_empty(), "draft shown at {base} by {leaked:?}");
        }
    }
    Ok(())
}
