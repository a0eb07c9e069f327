//! Categories as data through nginx and per instance: the original shop's 12 codes
//! are served, a category made by an admin filters listings with its descendants on
//! every instance as soon as the write returns, a non-empty category cannot be
//! deleted, a move under a descendant is refused, and only admins write.

use e2e::{Reply, admin_token, client, customer_token, get, instance_urls, nginx_url, send};
use serde_json::{Value, json};

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

fn slug(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
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

/// A new category made through nginx; its `data`.
async fn category(
    c: &reqwest::Client,
    admin: &str,
    slug: &str,
    parent: Option<&Value>,
) -> anyhow::Result<Value> {
    let reply = send(
        c.post(format!("{}/api/admin/categories", nginx_url()))
            .bearer_auth(admin)
            .json(&json!({ "slug": slug, "name": format!("E2E {slug}"), "parent_id": parent })),
    )
    .await?;
    anyhow::ensure!(reply.status == 201, "create category: {}", reply.text);
    Ok(reply.json["data"].clone())
}

/// A new product in `category` made through nginx; its id.
async fn product_in(
    c: &reqwest::Client,
    admin: &str,
    category: &Value,
    name: &str,
) -> anyhow::Result<String> {
    let reply = send(
        c.post(format!("{}/api/admin/products", nginx_url()))
            .bearer_auth(admin)
            .json(&json!({
                "name": name,
                "description": "made by an end-to-end test",
                "price_cents": 199,
                "category": category["code"],
                "stock": 2,
            })),
    )
    .await?;
    anyhow::ensure!(reply.status == 201, "create product: {}", reply.text);
    Ok(reply.data_id())
}

async fn patch(
    c: &reqwest::Client,
    admin: &str,
    id: &Value,
    body: &Value,
) -> anyhow::Result<Reply> {
    send(
        c.patch(format!(
            "{}/api/admin/categories/{}",
            nginx_url(),
            id.as_str().unwrap_or_default()
        ))
        .bearer_auth(admin)
        .json(body),
    )
    .await
}

async fn delete(c: &reqwest::Client, admin: &str, id: &Value) -> anyhow::Result<Reply> {
    send(
        c.delete(format!(
            "{}/api/admin/categories/{}",
            nginx_url(),
            id.as_str().unwrap_or_default()
        ))
        .bearer_auth(admin),
    )
    .await
}

#[tokio::test]
async fn the_public_tree_serves_the_original_shops_twelve_codes() -> anyhow::Result<()> {
    let tree = get(&format!("{}/api/categories", nginx_url())).await?;
    assert_eq!(tree.status, 200, "{}", tree.text);
    let codes: Vec<String> = flatten(&tree.json["data"])
        .iter()
        .filter_map(|n| n["code"].as_str().map(str::to_owned))
        .collect();
    for code in SEEDED {
        assert!(codes.iter().any(|c| c == code), "{code} in {codes:?}");
    }
    let staples = flatten(&tree.json["data"])
        .into_iter()
        .find(|n| n["code"] == "STAPLES")
        .unwrap_or_default();
    assert_eq!(staples["slug"], "staples");
    assert!(staples["product_count"].is_i64(), "{staples}");
    Ok(())
}

#[tokio::test]
async fn a_product_in_a_child_category_is_listed_by_its_parent_on_every_instance_at_once()
-> anyhow::Result<()> {
    let c = client();
    let admin = admin_token(&c).await?;
    let parent = category(&c, &admin, &slug("e2e-parent"), None).await?;
    let child = category(&c, &admin, &slug("e2e-child"), Some(&parent["id"])).await?;
    let by_parent = |base: &str| {
        format!(
            "{base}/api/products?category={}&page_size=100",
            parent["code"].as_str().unwrap_or_default()
        )
    };
    // Warm the parent's listing everywhere: the product's creation must invalidate it.
    for base in instance_urls() {
        let empty = get(&by_parent(&base)).await?;
        assert_eq!(empty.status, 200, "{}", empty.text);
        assert_eq!(empty.json["pagination"]["total"], 0, "{}", empty.text);
    }
    let id = product_in(&c, &admin, &child, "In the child category").await?;
    for base in instance_urls() {
        let listed = get(&by_parent(&base)).await?;
        assert_eq!(listed.status, 200, "{}", listed.text);
        assert_eq!(
            listed.json["data"][0]["id"],
            id.as_str(),
            "{base}: {}",
            listed.text
        );
        assert_eq!(listed.json["data"][0]["category"], child["code"]);
        let tree = get(&format!("{base}/api/categories")).await?;
        let node = flatten(&tree.json["data"])
            .into_iter()
            .find(|n| n["id"] == parent["id"])
            .unwrap_or_default();
        assert_eq!(node["children"][0]["id"], child["id"], "{base}: {node}");
        assert_eq!(node["product_count"], 1, "{base}: {node}");
    }
    let unknown = get(&format!(
        "{}/api/products?category=NO_SUCH_CATEGORY",
        nginx_url()
    ))
    .await?;
    unknown.assert_error(422, "UNKNOWN_CATEGORY");
    Ok(())
}

#[tokio::test]
async fn deleting_a_category_with_products_is_a_409_naming_how_many() -> anyhow::Result<()> {
    let c = client();
    let admin = admin_token(&c).await?;
    let full = category(&c, &admin, &slug("e2e-full"), None).await?;
    product_in(&c, &admin, &full, "First").await?;
    product_in(&c, &admin, &full, "Second").await?;
    let refused = delete(&c, &admin, &full["id"]).await?;
    refused.assert_error(409, "CATEGORY_NOT_EMPTY");
    assert_eq!(refused.json["details"]["products"], 2, "{}", refused.text);

    let empty = category(&c, &admin, &slug("e2e-empty"), None).await?;
    assert_eq!(delete(&c, &admin, &empty["id"]).await?.status, 204);
    Ok(())
}

#[tokio::test]
async fn moving_a_category_under_its_own_descendant_is_a_422() -> anyhow::Result<()> {
    let c = client();
    let admin = admin_token(&c).await?;
    let parent = category(&c, &admin, &slug("e2e-top"), None).await?;
    let child = category(&c, &admin, &slug("e2e-under"), Some(&parent["id"])).await?;
    let refused = patch(
        &c,
        &admin,
        &parent["id"],
        &json!({ "parent_id": child["id"] }),
    )
    .await?;
    refused.assert_error(422, "CATEGORY_CYCLE");
    assert_eq!(refused.json["details"]["field"], "parent_id");
    let own = patch(
        &c,
        &admin,
        &parent["id"],
        &json!({ "parent_id": parent["id"] }),
    )
    .await?;
    own.assert_error(422, "CATEGORY_CYCLE");

    let with_child = delete(&c, &admin, &parent["id"]).await?;
    with_child.assert_error(409, "CATEGORY_HAS_CHILDREN");
    assert_eq!(with_child.json["details"]["children"], 1);
    assert_eq!(delete(&c, &admin, &child["id"]).await?.status, 204);
    assert_eq!(delete(&c, &admin, &parent["id"]).await?.status, 204);
    Ok(())
}

#[tokio::test]
async fn a_customer_gets_403_on_the_admin_category_routes_and_no_token_gets_401()
-> anyhow::Result<()> {
    let c = client();
    let customer = customer_token().await?;
    let base = nginx_url();
    let id = uuid::Uuid::new_v4();
    let body = json!({ "slug": slug("e2e-not-mine"), "name": "Not mine" });
    let routes = [
        (reqwest::Method::POST, "/api/admin/categories".to_owned()),
        (
            reqwest::Method::PATCH,
            format!("/api/admin/categories/{id}"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/admin/categories/{id}"),
        ),
    ];
    for (method, path) in routes {
        let as_customer = send(
            c.request(method.clone(), format!("{base}{path}"))
                .bearer_auth(&customer)
                .json(&body),
        )
        .await?;
        as_customer.assert_error(403, "FORBIDDEN");
        let anonymous = send(
            c.request(method.clone(), format!("{base}{path}"))
                .json(&body),
        )
        .await?;
        anonymous.assert_error(401, "UNAUTHORIZED");
    }
    Ok(())
}
