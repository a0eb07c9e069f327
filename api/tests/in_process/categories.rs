//! Categories as data: admin CRUD with its refusals, the tree's guarantees under
//! concurrent moves over two instances, the cached public tree, the listing by a
//! category and its descendants, and products naming only categories that exist.

use serde_json::{Value, json};

use crate::support::{Reply, TestApp};

/// The original shop's 12 codes, seeded by migration 0013.
const SEEDED: [&str; 12] = [
    "FRUITS_VEGETABLES",
    "DAIRY_BAKERY",
    "SNACKS_BRANDED_FOODS",
    "BEVERAGES",
    "PERSONAL_CARE",
    "HOUSEHOLD_SUPPLIES",
    "MEAT_SEAFOOD",
    "GOURMET_WORLD_FOOD",
    "BABY_CARE",
    "CLEANING_HOUSEHOLD",
    "STAPLES",
    "PET_CARE",
];

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// `POST /api/admin/categories` through `base`.
async fn create_at(
    app: &TestApp,
    base: &str,
    admin: &str,
    slug: &str,
    parent: Option<&str>,
) -> anyhow::Result<Reply> {
    app.send(
        app.http
            .post(format!("{base}/api/admin/categories"))
            .bearer_auth(admin)
            .json(&json!({ "slug": slug, "name": format!("Name of {slug}"), "parent_id": parent })),
    )
    .await
}

/// A new category; its `data`.
async fn category(
    app: &TestApp,
    admin: &str,
    slug: &str,
    parent: Option<&str>,
) -> anyhow::Result<Value> {
    let reply = create_at(app, &app.base, admin, slug, parent).await?;
    anyhow::ensure!(reply.status == 201, "create category: {}", reply.text);
    Ok(reply.json["data"].clone())
}

/// `PATCH /api/admin/categories/{id}` through `base`.
async fn patch_at(
    app: &TestApp,
    base: &str,
    admin: &str,
    id: &str,
    body: &Value,
) -> anyhow::Result<Reply> {
    app.send(
        app.http
            .patch(format!("{base}/api/admin/categories/{id}"))
            .bearer_auth(admin)
            .json(body),
    )
    .await
}

async fn delete(app: &TestApp, admin: &str, id: &str) -> anyhow::Result<Reply> {
    app.send(
        app.http
            .delete(app.url(&format!("/api/admin/categories/{id}")))
            .bearer_auth(admin),
    )
    .await
}

/// `POST /api/admin/products` in `category` through `base`.
async fn product_at(
    app: &TestApp,
    base: &str,
    admin: &str,
    category: &str,
    name: &str,
) -> anyhow::Result<Reply> {
    app.send(
        app.http
            .post(format!("{base}/api/admin/products"))
            .bearer_auth(admin)
            .json(&json!({
                "name": name,
                "price_cents": 250,
                "category": category,
                "stock": 3,
            })),
    )
    .await
}

/// A new product in `category`; its id.
async fn product_in(
    app: &TestApp,
    admin: &str,
    category: &str,
    name: &str,
) -> anyhow::Result<String> {
    let reply = product_at(app, &app.base, admin, category, name).await?;
    anyhow::ensure!(reply.status == 201, "create product: {}", reply.text);
    Ok(reply.data_id())
}

/// Every node of a tree, depth first.
fn flatten(nodes: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for n in nodes.as_array().cloned().unwrap_or_default() {
        out.push(n.clone());
        out.extend(flatten(&n["children"]));
    }
    out
}

async fn tree_at(app: &TestApp, base: &str) -> anyhow::Result<Reply> {
    let reply = app
        .send(app.http.get(format!("{base}/api/categories")))
        .await?;
    anyhow::ensure!(reply.status == 200, "tree: {}", reply.text);
    Ok(reply)
}

/// Categories whose walk up the parents comes back to themselves.
async fn categories_in_a_cycle(app: &TestApp) -> anyhow::Result<i64> {
    app.scalar(
        "WITH RECURSIVE up AS (
             SELECT id AS start, parent_id AS cur, 1 AS steps FROM categories
             UNION ALL
             SELECT up.start, c.parent_id, up.steps + 1 FROM up JOIN categories c ON c.id = up.cur
             WHERE up.steps < 100
         ) SELECT count(DISTINCT start) FROM up WHERE cur = start",
    )
    .await
}

/// The ids the listing `query` shows.
async fn listed(app: &TestApp, base: &str, query: &str) -> anyhow::Result<Vec<String>> {
    let reply = app
        .send(app.http.get(format!("{base}/api/products?{query}")))
        .await?;
    anyhow::ensure!(reply.status == 200, "listing: {}", reply.text);
    let mut ids: Vec<String> = reply.json["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|p| p["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    Ok(ids)
}

#[tokio::test]
async fn the_public_tree_holds_the_original_shops_twelve_categories_in_their_order()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let tree = tree_at(&app, &app.base).await?;
    let codes: Vec<&str> = tree.json["data"]
        .as_array()
        .map(|roots| roots.iter().filter_map(|n| n["code"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(codes, SEEDED);
    let first = &tree.json["data"][0];
    assert_eq!(first["slug"], "fruits-vegetables");
    assert_eq!(first["name"], "Fruits & Vegetables");
    assert_eq!(first["children"], json!([]));
    assert_eq!(first["product_count"], 0);
    Ok(())
}

#[tokio::test]
async fn an_admin_creates_changes_and_deletes_a_category_and_each_write_is_audited()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let slug = unique("frozen-food");
    let created = create_at(&app, &app.base, &admin, &slug, None).await?;
    assert_eq!(created.status, 201, "{}", created.text);
    let c = &created.json["data"];
    let id = c["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(c["code"], slug.replace('-', "_").to_uppercase());
    assert_eq!(c["parent_id"], Value::Null);

    let duplicate = create_at(&app, &app.base, &admin, &slug, None).await?;
    duplicate.assert_error(409, "SLUG_TAKEN");
    let bad = create_at(&app, &app.base, &admin, "Frozen Food", None).await?;
    bad.assert_error(400, "VALIDATION_ERROR");
    assert_eq!(bad.json["details"]["field"], "slug");
    let orphan = create_at(
        &app,
        &app.base,
        &admin,
        &unique("orphan"),
        Some(&uuid::Uuid::new_v4().to_string()),
    )
    .await?;
    orphan.assert_error(422, "UNKNOWN_PARENT");
    assert_eq!(orphan.json["details"]["field"], "parent_id");

    let parent = category(&app, &admin, &unique("parent"), None).await?;
    let new_slug = unique("frozen");
    let changed = patch_at(
        &app,
        &app.base,
        &admin,
        &id,
        &json!({ "slug": new_slug, "name": "Frozen", "position": 7, "parent_id": parent["id"] }),
    )
    .await?;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.json["data"]["slug"], new_slug.as_str());
    assert_eq!(
        changed.json["data"]["code"], c["code"],
        "the code never changes"
    );
    assert_eq!(changed.json["data"]["parent_id"], parent["id"]);
    assert_eq!(changed.json["data"]["position"], 7);
    let root = patch_at(&app, &app.base, &admin, &id, &json!({ "parent_id": null })).await?;
    assert_eq!(root.json["data"]["parent_id"], Value::Null, "{}", root.text);

    let gone = delete(&app, &admin, &id).await?;
    assert_eq!(gone.status, 204, "{}", gone.text);
    delete(&app, &admin, &id)
        .await?
        .assert_error(404, "NOT_FOUND");

    let actions = app
        .strings(&format!(
            "SELECT action FROM audit_log WHERE target_type = 'category' AND target_id = '{id}'
             ORDER BY id"
        ))
        .await?;
    assert_eq!(
        actions,
        [
            "category.create",
            "category.update",
            "category.update",
            "category.delete"
        ]
    );
    let diff = app
        .strings(&format!(
            "SELECT diff::text FROM audit_log WHERE target_id = '{id}' AND action = 'category.update'
             ORDER BY id LIMIT 1"
        ))
        .await?;
    assert!(
        diff[0].contains("\"slug\"") && diff[0].contains("\"parent_id\""),
        "{diff:?}"
    );
    assert!(!diff[0].contains("\"code\""), "{diff:?}");

    let customer = app.customer().await?;
    let refused = create_at(&app, &app.base, &customer, &unique("mine"), None).await?;
    refused.assert_error(403, "FORBIDDEN");
    Ok(())
}

#[tokio::test]
async fn deleting_a_category_that_still_has_products_is_a_409_naming_how_many() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let c = category(&app, &admin, &unique("full"), None).await?;
    let code = c["code"].as_str().unwrap_or_default();
    product_in(&app, &admin, code, "Kept").await?;
    let archived = product_in(&app, &admin, code, "Archived").await?;
    let reply = app
        .send(
            app.http
                .delete(app.url(&format!("/api/admin/products/{archived}")))
                .bearer_auth(&admin),
        )
        .await?;
    assert_eq!(reply.status, 204, "{}", reply.text);

    let refused = delete(&app, &admin, c["id"].as_str().unwrap_or_default()).await?;
    refused.assert_error(409, "CATEGORY_NOT_EMPTY");
    assert_eq!(
        refused.json["details"]["products"], 2,
        "archived products count too: {}",
        refused.text
    );
    assert_eq!(
        app.scalar(&format!(
            "SELECT count(*) FROM categories WHERE code = '{code}'"
        ))
        .await?,
        1
    );
    // A seeded category with products is refused alike.
    product_in(&app, &admin, "STAPLES", "Rice").await?;
    let staples = app
        .strings("SELECT id::text FROM categories WHERE code = 'STAPLES'")
        .await?;
    delete(&app, &admin, &staples[0])
        .await?
        .assert_error(409, "CATEGORY_NOT_EMPTY");
    Ok(())
}

#[tokio::test]
async fn deleting_a_category_that_has_children_is_a_409_naming_how_many() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let parent = category(&app, &admin, &unique("parent"), None).await?;
    let pid = parent["id"].as_str().unwrap_or_default();
    for _ in 0..3 {
        category(&app, &admin, &unique("child"), Some(pid)).await?;
    }
    let refused = delete(&app, &admin, pid).await?;
    refused.assert_error(409, "CATEGORY_HAS_CHILDREN");
    assert_eq!(refused.json["details"]["children"], 3, "{}", refused.text);
    Ok(())
}

#[tokio::test]
async fn moving_a_category_under_itself_or_its_own_descendant_is_a_422_naming_parent_id()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let a = category(&app, &admin, &unique("a"), None).await?;
    let aid = a["id"].as_str().unwrap_or_default();
    let b = category(&app, &admin, &unique("b"), Some(aid)).await?;
    let c = category(&app, &admin, &unique("c"), b["id"].as_str()).await?;
    for target in [&a, &b, &c] {
        let refused = patch_at(
            &app,
            &app.base,
            &admin,
            aid,
            &json!({ "parent_id": target["id"] }),
        )
        .await?;
        refused.assert_error(422, "CATEGORY_CYCLE");
        assert_eq!(refused.json["details"]["field"], "parent_id");
    }
    let missing = patch_at(
        &app,
        &app.base,
        &admin,
        aid,
        &json!({ "parent_id": uuid::Uuid::new_v4() }),
    )
    .await?;
    missing.assert_error(422, "UNKNOWN_PARENT");
    assert_eq!(categories_in_a_cycle(&app).await?, 0);
    Ok(())
}

#[tokio::test]
async fn opposite_moves_sent_at_once_to_two_instances_never_form_a_cycle() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let sibling = app.sibling().await?;
    let admin = app.admin().await?;
    for round in 0..15 {
        let a = category(&app, &admin, &unique("a"), None).await?;
        let b = category(&app, &admin, &unique("b"), None).await?;
        let (aid, bid) = (
            a["id"].as_str().unwrap_or_default(),
            b["id"].as_str().unwrap_or_default(),
        );
        let (under_b, under_a) = (json!({ "parent_id": bid }), json!({ "parent_id": aid }));
        let (a_under_b, b_under_a) = tokio::join!(
            patch_at(&app, &app.base, &admin, aid, &under_b),
            patch_at(&app, &sibling.base, &admin, bid, &under_a),
        );
        let mut statuses = [a_under_b?.status, b_under_a?.status];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 422],
            "round {round}: one move wins, the other is refused"
        );
        assert_eq!(categories_in_a_cycle(&app).await?, 0, "round {round}");
    }
    Ok(())
}

#[tokio::test]
async fn the_tree_is_cached_and_a_category_write_shows_on_another_instance_as_soon_as_it_answers()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let sibling = app.sibling().await?;
    let admin = app.admin().await?;
    tree_at(&app, &sibling.base).await?;
    let warm = tree_at(&app, &sibling.base).await?;
    assert_eq!(warm.header("x-cache"), Some("HIT"), "the tree is cached");

    let c = category(&app, &admin, &unique("fresh"), None).await?;
    let seen = tree_at(&app, &sibling.base).await?;
    assert!(
        flatten(&seen.json["data"])
            .iter()
            .any(|n| n["id"] == c["id"]),
        "the other instance shows the new category: {}",
        seen.text
    );
    let renamed = patch_at(
        &app,
        &app.base,
        &admin,
        c["id"].as_str().unwrap_or_default(),
        &json!({ "name": "Renamed at once" }),
    )
    .await?;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    let seen = tree_at(&app, &sibling.base).await?;
    assert!(
        flatten(&seen.json["data"])
            .iter()
            .any(|n| n["id"] == c["id"] && n["name"] == "Renamed at once"),
        "{}",
        seen.text
    );
    assert!(
        delete(&app, &admin, c["id"].as_str().unwrap_or_default())
            .await?
            .status
            == 204
    );
    let seen = tree_at(&app, &sibling.base).await?;
    assert!(
        !flatten(&seen.json["data"])
            .iter()
            .any(|n| n["id"] == c["id"]),
        "{}",
        seen.text
    );
    Ok(())
}

#[tokio::test]
async fn listing_by_a_category_includes_the_products_of_all_its_descendants_on_every_instance()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let sibling = app.sibling().await?;
    let admin = app.admin().await?;
    let parent = category(&app, &admin, &unique("parent"), None).await?;
    let child = category(&app, &admin, &unique("child"), parent["id"].as_str()).await?;
    let grandchild = category(&app, &admin, &unique("grand"), child["id"].as_str()).await?;
    let code = |c: &Value| c["code"].as_str().unwrap_or_default().to_owned();
    // Warm the parent's listing on the sibling before the products exist.
    let by_parent = format!("category={}", code(&parent));
    assert!(listed(&app, &sibling.base, &by_parent).await?.is_empty());

    let in_child = product_in(&app, &admin, &code(&child), "In child").await?;
    let in_grandchild = product_in(&app, &admin, &code(&grandchild), "In grandchild").await?;
    product_in(&app, &admin, "STAPLES", "Elsewhere").await?;

    let mut both = vec![in_child.clone(), in_grandchild.clone()];
    both.sort();
    for base in [&app.base, &sibling.base] {
        assert_eq!(
            listed(&app, base, &by_parent).await?,
            both,
            "by code at {base}"
        );
        // By slug, in capitals: the same category.
        let by_slug = format!(
            "category={}",
            parent["slug"].as_str().unwrap_or_default().to_uppercase()
        );
        assert_eq!(
            listed(&app, base, &by_slug).await?,
            both,
            "by slug at {base}"
        );
        assert_eq!(
            listed(&app, base, &format!("category={}", code(&grandchild))).await?,
            vec![in_grandchild.clone()]
        );
    }
    let tree = tree_at(&app, &sibling.base).await?;
    let node = flatten(&tree.json["data"])
        .into_iter()
        .find(|n| n["id"] == parent["id"])
        .unwrap_or_default();
    assert_eq!(node["product_count"], 2, "{node}");
    assert_eq!(node["children"][0]["children"][0]["id"], grandchild["id"]);

    let unknown = app
        .get("/api/products?category=NO_SUCH_THING", None)
        .await?;
    unknown.assert_error(422, "UNKNOWN_CATEGORY");
    assert_eq!(unknown.json["details"]["field"], "category");
    Ok(())
}

#[tokio::test]
async fn a_product_naming_an_unknown_category_is_a_422_naming_category() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let created = product_at(&app, &app.base, &admin, "WEAPONS", "Sword").await?;
    created.assert_error(422, "UNKNOWN_CATEGORY");
    assert_eq!(created.json["details"]["field"], "category");

    // Codes in any case and slugs are accepted; the product holds the code.
    let by_slug = product_at(&app, &app.base, &admin, "fruits-vegetables", "Apple").await?;
    assert_eq!(by_slug.status, 201, "{}", by_slug.text);
    assert_eq!(by_slug.json["data"]["category"], "FRUITS_VEGETABLES");
    let id = by_slug.data_id();
    let patched = app
        .send(
            app.http
                .patch(app.url(&format!("/api/admin/products/{id}")))
                .bearer_auth(&admin)
                .json(&json!({ "version": 1, "category": "nowhere" })),
        )
        .await?;
    patched.assert_error(422, "UNKNOWN_CATEGORY");
    assert_eq!(patched.json["details"]["field"], "category");
    let moved = app
        .send(
            app.http
                .patch(app.url(&format!("/api/admin/products/{id}")))
                .bearer_auth(&admin)
                .json(&json!({ "version": 1, "category": "beverages" })),
        )
        .await?;
    assert_eq!(
        moved.json["data"]["category"], "BEVERAGES",
        "{}",
        moved.text
    );

    let bulk = app
        .send(
            app.http
                .post(app.url("/api/admin/products/bulk?atomic=true"))
                .bearer_auth(&admin)
                .header("content-type", "text/csv")
                .body("name,price_cents,category,stock\nTea,100,BEVERAGES,1\nGun,100,WEAPONS,1\n"),
        )
        .await?;
    bulk.assert_error(422, "BULK_VALIDATION_FAILED");
    assert_eq!(bulk.json["details"]["errors"][0]["field"], "category");
    assert_eq!(
        app.scalar("SELECT count(*) FROM products WHERE name IN ('Tea', 'Gun', 'Sword')")
            .await?,
        0
    );

    // A category added by an admin is as good as the seeded ones, in bulk too.
    let fresh = category(&app, &admin, &unique("fresh"), None).await?;
    let code = fresh["code"].as_str().unwrap_or_default();
    let bulk = app
        .send(
            app.http
                .post(app.url("/api/admin/products/bulk"))
                .bearer_auth(&admin)
                .header("content-type", "text/csv")
                .body(format!(
                    "name,price_cents,category,stock\nNew,100,{code},1\n"
                )),
        )
        .await?;
    assert_eq!(bulk.json["data"]["created"], 1, "{}", bulk.text);
    Ok(())
}

#[tokio::test]
async fn a_delete_racing_product_creations_into_its_category_never_answers_500_nor_orphans_one()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let sibling = app.sibling().await?;
    let admin = app.admin().await?;
    for round in 0..5 {
        let c = category(&app, &admin, &unique("racy"), None).await?;
        let code = c["code"].as_str().unwrap_or_default().to_owned();
        let id = c["id"].as_str().unwrap_or_default().to_owned();
        let creates = futures_util::future::join_all((0..6).map(|i| {
            let base = if i % 2 == 0 { &app.base } else { &sibling.base };
            product_at(&app, base, &admin, &code, "Racer")
        }));
        let (created, deleted) = tokio::join!(creates, delete(&app, &admin, &id));
        let deleted = deleted?;
        assert!(
            [204, 409].contains(&deleted.status),
            "round {round}: delete {}",
            deleted.text
        );
        let mut made = 0;
        for reply in created {
            let reply = reply?;
            assert!(
                [201, 422].contains(&reply.status),
                "round {round}: create {}",
                reply.text
            );
            made += i64::from(reply.status == 201);
        }
        if deleted.status == 204 {
            assert_eq!(
                made, 0,
                "round {round}: products were created into a deleted category"
            );
        } else {
            assert_eq!(
                made, 6,
                "round {round}: the category stayed, so every creation succeeds"
            );
            let counted = deleted.json["details"]["products"].as_i64().unwrap_or(0);
            assert!(
                (1..=6).contains(&counted),
                "round {round}: the refusal counts the products committed before it: {}",
                deleted.text
            );
        }
        assert_eq!(
            app.scalar(&format!(
                "SELECT count(*) FROM products WHERE category = '{code}'"
            ))
            .await?,
            made,
            "round {round}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_original_shops_twelve_categories_cannot_be_deleted_even_when_empty()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let ids = app
        .strings("SELECT id::text FROM categories WHERE code IN ('PET_CARE', 'BABY_CARE')")
        .await?;
    assert_eq!(ids.len(), 2);
    for id in &ids {
        let mut refused = delete(&app, &admin, id).await?;
        refused.assert_error(409, "CATEGORY_PROTECTED");
        // The mark is on the admin's answers, and a rename keeps it.
        let renamed = patch_at(&app, &app.base, &admin, id, &json!({"name": "Renamed"})).await?;
        assert_eq!(renamed.status, 200, "{}", renamed.text);
        assert_eq!(renamed.json["data"]["protected"], true);
        refused = delete(&app, &admin, id).await?;
        refused.assert_error(409, "CATEGORY_PROTECTED");
    }
    assert_eq!(app.scalar("SELECT count(*) FROM categories").await?, 12);
    let added = category(&app, &admin, &unique("frozen"), None).await?;
    assert_eq!(added["protected"], false);
    let gone = delete(&app, &admin, added["id"].as_str().unwrap_or_default()).await?;
    assert_eq!(gone.status, 204, "{}", gone.text);
    Ok(())
}

#[tokio::test]
async fn a_slug_that_spells_another_categorys_code_is_taken() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let beverages = app
        .strings("SELECT id::text FROM categories WHERE code = 'BEVERAGES'")
        .await?;
    anyhow::ensure!(beverages.len() == 1, "BEVERAGES is seeded");
    // BEVERAGES gives up its slug; its code still names it on every route.
    let moved = patch_at(
        &app,
        &app.base,
        &admin,
        &beverages[0],
        &json!({"slug": "drinks"}),
    )
    .await?;
    assert_eq!(moved.status, 200, "{}", moved.text);
    let soda = category(&app, &admin, &unique("soda"), None).await?;
    let id = soda["id"].as_str().unwrap_or_default();
    // `beverages` would name BEVERAGES by code and soda by slug: refused.
    patch_at(&app, &app.base, &admin, id, &json!({"slug": "beverages"}))
        .await?
        .assert_error(409, "SLUG_TAKEN");
    create_at(&app, &app.base, &admin, "beverages", None)
        .await?
        .assert_error(409, "SLUG_TAKEN");
    // Its own code spelled as its slug is its own.
    let back = patch_at(
        &app,
        &app.base,
        &admin,
        &beverages[0],
        &json!({"slug": "beverages"}),
    )
    .await?;
    assert_eq!(back.status, 200, "{}", back.text);
    Ok(())
}
