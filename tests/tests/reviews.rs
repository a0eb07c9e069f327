//! Reviews against the real stack: only a verified buyer (a paid order of the
//! product) reviews, a review is public only once an admin approves it, and the
//! product's rating statistics and helpful counts stay exact under a storm of
//! concurrent moderations and votes spread over every instance
//! (`SHOP_INSTANCE_PORTS`), checked against a recount in PostgreSQL.

use e2e::{
    add_to_cart, admin_token, client, create_product, database, instance_urls, listing_has,
    new_customer, nginx_url, scalar_i64, send,
};
use futures_util::future::join_all;
use serde_json::{Value, json};

fn tag() -> String {
    format!("r{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A product with plenty of stock; returns `(id, name)`.
async fn product(admin: &str) -> anyhow::Result<(String, String)> {
    let name = format!("Review tea {}", tag());
    let p = create_product(&client(), &nginx_url(), admin, &name, 500, 300).await?;
    Ok((p["id"].as_str().unwrap_or_default().to_owned(), name))
}

/// Orders one unit of `product` as `token` through nginx; answers the order id.
async fn order(c: &reqwest::Client, token: &str, product: &str) -> anyhow::Result<String> {
    let added = add_to_cart(c, &nginx_url(), token, product, 1).await?;
    anyhow::ensure!(added.status == 200, "add: {}", added.text);
    let placed = e2e::place_order(c, &nginx_url(), token).await?;
    anyhow::ensure!(placed.status == 201, "place: {}", placed.text);
    Ok(placed.json["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// A fresh customer whose order of `product` an admin marked paid: `(client, token)`.
async fn buyer(admin: &str, product: &str) -> anyhow::Result<(reqwest::Client, String)> {
    let (c, token, _) = new_customer("reviewer").await?;
    let id = order(&c, &token, product).await?;
    let paid = send(
        c.post(format!("{}/api/admin/orders/{id}/mark-paid", nginx_url()))
            .bearer_auth(admin),
    )
    .await?;
    anyhow::ensure!(paid.status == 200, "mark-paid: {}", paid.text);
    Ok((c, token))
}

async fn submit(
    c: &reqwest::Client,
    token: &str,
    product: &str,
    rating: i64,
) -> anyhow::Result<e2e::Reply> {
    send(
        c.post(format!("{}/api/products/{product}/reviews", nginx_url()))
            .bearer_auth(token)
            .json(
                &json!({"rating": rating, "title": "Good <b>tea</b>", "body": "Fresh & strong."}),
            ),
    )
    .await
}

async fn moderate(base: &str, admin: &str, id: &str, verb: &str) -> anyhow::Result<e2e::Reply> {
    let req = client()
        .post(format!("{base}/api/admin/reviews/{id}/{verb}"))
        .bearer_auth(admin);
    send(if verb == "reject" {
        req.json(&json!({"reason": "not about the product"}))
    } else {
        req
    })
    .await
}

async fn vote(
    c: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
) -> anyhow::Result<e2e::Reply> {
    send(
        c.post(format!("{base}/api/reviews/{id}/helpful"))
            .bearer_auth(token),
    )
    .await
}

/// `product_ratings` of `product` (`[count, sum, stars_1..stars_5]`, zeros without a
/// row) and the same recounted from its approved reviews.
async fn stored_and_recounted(product: &str) -> anyhow::Result<(Vec<i64>, Vec<i64>)> {
    let db = database().await?;
    let mut stored = Vec::new();
    let mut recount = Vec::new();
    for (i, column) in [
        "rating_count",
        "rating_sum",
        "stars_1",
        "stars_2",
        "stars_3",
        "stars_4",
        "stars_5",
    ]
    .iter()
    .enumerate()
    {
        stored.push(
            scalar_i64(
                &db,
                &format!(
                    "SELECT coalesce((SELECT {column}::int8 FROM product_ratings \
                     WHERE product_id = $1::uuid), 0)"
                ),
                product,
            )
            .await?
            .unwrap_or_default(),
        );
        let expr = match i {
            0 => "count(*)".to_owned(),
            1 => "coalesce(sum(rating), 0)".to_owned(),
            n => format!("count(*) FILTER (WHERE rating = {})", n - 1),
        };
        recount.push(
            scalar_i64(
                &db,
                &format!(
                    "SELECT ({expr})::int8 FROM reviews \
                     WHERE product_id = $1::uuid AND status = 'approved'"
                ),
                product,
            )
            .await?
            .unwrap_or_default(),
        );
    }
    Ok((stored, recount))
}

#[tokio::test]
async fn only_a_verified_buyer_reviews_and_the_review_is_public_once_approved() -> anyhow::Result<()>
{
    let admin = admin_token(&client()).await?;
    let (product, name) = product(&admin).await?;

    let (stranger_client, stranger, _) = new_customer("stranger").await?;
    submit(&stranger_client, &stranger, &product, 5)
        .await?
        .assert_error(403, "REVIEW_NOT_VERIFIED_BUYER");
    let (unpaid_client, unpaid, _) = new_customer("unpaid").await?;
    order(&unpaid_client, &unpaid, &product).await?;
    submit(&unpaid_client, &unpaid, &product, 5)
        .await?
        .assert_error(403, "REVIEW_NOT_VERIFIED_BUYER");

    let (c, token) = buyer(&admin, &product).await?;
    let created = submit(&c, &token, &product, 4).await?;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["data"]["status"], "pending");
    assert_eq!(created.json["data"]["verified_purchase"], true);
    assert_eq!(created.json["data"]["title"], "Good &lt;b&gt;tea&lt;/b&gt;");
    let id = created.json["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    submit(&c, &token, &product, 2)
        .await?
        .assert_error(409, "REVIEW_ALREADY_EXISTS");

    let public_url = format!("{}/api/products/{product}/reviews", nginx_url());
    let public = e2e::get(&public_url).await?;
    assert_eq!(public.status, 200, "{}", public.text);
    assert_eq!(public.json["data"]["reviews"], json!([]));
    let q = name
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_owned();
    let listed = listing_has(&nginx_url(), &q, &product).await?;
    assert_eq!(listed.map(|p| p["rating_count"].clone()), Some(json!(0)));

    let approved = moderate(&nginx_url(), &admin, &id, "approve").await?;
    assert_eq!(approved.status, 200, "{}", approved.text);
    let public = e2e::get(&public_url).await?;
    assert_eq!(public.json["data"]["reviews"][0]["id"], id.as_str());
    assert_eq!(public.json["data"]["statistics"]["count"], 1);
    assert_eq!(public.json["data"]["statistics"]["average"], 4.0);
    // Every instance lists the approval at once (the catalogue cache was invalidated).
    for base in instance_urls() {
        let listed = listing_has(&base, &q, &product).await?;
        let listed = listed.unwrap_or(Value::Null);
        assert_eq!(listed["rating_count"], 1, "{base}: {listed}");
        assert_eq!(listed["rating_average"], 4.0, "{base}: {listed}");
    }
    let db = database().await?;
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT count(*) FROM audit_log WHERE action = 'review.approve' AND target_id = $1",
            &id,
        )
        .await?,
        Some(1)
    );
    Ok(())
}

#[tokio::test]
async fn rating_statistics_and_helpful_counts_stay_exact_under_a_storm_over_every_instance()
-> anyhow::Result<()> {
    const BUYERS: usize = 12;
    let admin = admin_token(&client()).await?;
    let (product, _) = product(&admin).await?;
    let buyers: Vec<(reqwest::Client, String)> =
        join_all((0..BUYERS).map(|_| buyer(&admin, &product)))
            .await
            .into_iter()
            .collect::<anyhow::Result<_>>()?;
    let mut ids = Vec::new();
    for (i, (c, token)) in buyers.iter().enumerate() {
        let r = submit(c, token, &product, (i % 5) as i64 + 1).await?;
        anyhow::ensure!(r.status == 201, "submit: {}", r.text);
        ids.push(r.json["data"]["id"].as_str().unwrap_or_default().to_owned());
    }
    // Reviews 0..6 are approved first: 0..3 are rejected in the storm, 3..6 voted on.
    for id in &ids[..6] {
        let r = moderate(&nginx_url(), &admin, id, "approve").await?;
        anyhow::ensure!(r.status == 200, "approve: {}", r.text);
    }

    let bases = instance_urls();
    let approvals = ids[6..].iter().enumerate().flat_map(|(n, id)| {
        let bases = &bases;
        let admin = &admin;
        (0..2).map(move |k| moderate(&bases[(n + k) % bases.len()], admin, id, "approve"))
    });
    let rejections = ids[..3]
        .iter()
        .enumerate()
        .map(|(n, id)| moderate(&bases[n % bases.len()], &admin, id, "reject"));
    let mut votes = Vec::new();
    for (b, (c, token)) in buyers.iter().enumerate() {
        for (r, id) in ids.iter().enumerate().take(6).skip(3) {
            if r != b {
                votes.push(vote(c, &bases[(b + r) % bases.len()], token, id));
            }
        }
    }
    let expected_votes = votes.len() as i64;
    let (approvals, rejections, votes) =
        tokio::join!(join_all(approvals), join_all(rejections), join_all(votes));
    let mut won = 0;
    for r in approvals {
        let r = r?;
        match r.status {
            200 => won += 1,
            409 => r.assert_error(409, "REVIEW_STATE_CONFLICT"),
            other => anyhow::bail!("approve answered {other}: {}", r.text),
        }
    }
    assert_eq!(won, BUYERS - 6, "each review approved exactly once");
    for r in rejections.into_iter().chain(votes) {
        let r = r?;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    let (stored, recount) = stored_and_recounted(&product).await?;
    assert_eq!(stored, recount, "product_ratings equals a recount");
    assert_eq!(stored[0], (BUYERS - 3) as i64);
    let db = database().await?;
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT count(*) FROM reviews r WHERE r.product_id = $1::uuid AND r.helpful_count <> \
             (SELECT count(*) FROM review_votes v WHERE v.review_id = r.id)",
            &product,
        )
        .await?,
        Some(0),
        "helpful_count equals the votes"
    );
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT sum(helpful_count)::int8 FROM reviews WHERE product_id = $1::uuid",
            &product,
        )
        .await?,
        Some(expected_votes)
    );
    let public = e2e::get(&format!(
        "{}/api/products/{product}/reviews?sort=most_helpful&page_size=100",
        nginx_url()
    ))
    .await?;
    assert_eq!(public.json["data"]["statistics"]["count"], stored[0]);
    assert_eq!(public.json["pagination"]["total"], stored[0]);
    Ok(())
}
