//! Reviews, in process: only verified buyers review (a paid order of the product, not
//! a pending or cancelled one), one review per customer per product even when two
//! race, moderation keeps `product_ratings` equal to a recount of the approved
//! reviews and `helpful_count` equal to the votes under a storm over four instances,
//! text leaves HTML-escaped, and the hourly submission limit holds across instances.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::support::{Reply, TestApp};

/// Orders one unit of `product` as `token` (through the cart) and answers the order id.
async fn place_order(app: &TestApp, token: &str, product: &str) -> anyhow::Result<String> {
    let added = app
        .post(
            "/api/cart/items",
            &json!({"product_id": product, "quantity": 1}),
            Some(token),
        )
        .await?;
    anyhow::ensure!(added.status == 200, "add: {}", added.text);
    let placed = app
        .send(app.http.post(app.url("/api/orders")).bearer_auth(token))
        .await?;
    anyhow::ensure!(placed.status == 201, "place: {}", placed.text);
    Ok(placed.json["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// A fresh customer who ordered `product` and whose order an admin marked paid.
async fn buyer(app: &TestApp, admin: &str, product: &str) -> anyhow::Result<String> {
    let token = app.customer().await?;
    let order = place_order(app, &token, product).await?;
    let paid = app
        .send(
            app.http
                .post(app.url(&format!("/api/admin/orders/{order}/mark-paid")))
                .bearer_auth(admin),
        )
        .await?;
    anyhow::ensure!(paid.status == 200, "mark paid: {}", paid.text);
    Ok(token)
}

fn review(rating: i64) -> Value {
    json!({"rating": rating, "title": "Worth it", "body": "Would buy again."})
}

async fn submit(app: &TestApp, token: &str, product: &str, body: &Value) -> anyhow::Result<Reply> {
    app.post(
        &format!("/api/products/{product}/reviews"),
        body,
        Some(token),
    )
    .await
}

/// Submits a review of `rating` stars as `token` and answers its id.
async fn reviewed(
    app: &TestApp,
    token: &str,
    product: &str,
    rating: i64,
) -> anyhow::Result<String> {
    let r = submit(app, token, product, &review(rating)).await?;
    anyhow::ensure!(r.status == 201, "submit: {}", r.text);
    Ok(r.json["data"]["id"].as_str().unwrap_or_default().to_owned())
}

async fn approve_at(app: &TestApp, base: &str, admin: &str, id: &str) -> anyhow::Result<Reply> {
    app.send(
        app.http
            .post(format!("{base}/api/admin/reviews/{id}/approve"))
            .bearer_auth(admin),
    )
    .await
}

async fn reject_at(app: &TestApp, base: &str, admin: &str, id: &str) -> anyhow::Result<Reply> {
    app.send(
        app.http
            .post(format!("{base}/api/admin/reviews/{id}/reject"))
            .bearer_auth(admin)
            .json(&json!({"reason": "off topic"})),
    )
    .await
}

async fn vote_at(app: &TestApp, base: &str, token: &str, id: &str) -> anyhow::Result<Reply> {
    app.send(
        app.http
            .post(format!("{base}/api/reviews/{id}/helpful"))
            .bearer_auth(token),
    )
    .await
}

/// `product_ratings` of `product` as `[count, sum, stars_1..stars_5]` (zeros without
/// a row), and the same recounted from the approved reviews.
async fn stored_and_recounted(
    app: &TestApp,
    product: &str,
) -> anyhow::Result<(Vec<i64>, Vec<i64>)> {
    let columns = "count(*)::int8, coalesce(sum(rating), 0)::int8, \
        count(*) FILTER (WHERE rating = 1)::int8, count(*) FILTER (WHERE rating = 2)::int8, \
        count(*) FILTER (WHERE rating = 3)::int8, count(*) FILTER (WHERE rating = 4)::int8, \
        count(*) FILTER (WHERE rating = 5)::int8";
    let stored = [
        "rating_count",
        "rating_sum",
        "stars_1",
        "stars_2",
        "stars_3",
        "stars_4",
        "stars_5",
    ];
    let mut s = Vec::new();
    for column in stored {
        s.push(
            app.scalar(&format!(
                "SELECT coalesce((SELECT {column}::int8 FROM product_ratings WHERE product_id = '{product}'), 0)"
            ))
            .await?,
        );
    }
    let mut recount = Vec::new();
    for i in 0..7 {
        let row = app
            .scalar(&format!(
                "SELECT (ARRAY[{columns}])[{}] FROM reviews WHERE product_id = '{product}' AND status = 'approved'",
                i + 1
            ))
            .await?;
        recount.push(row);
    }
    Ok((s, recount))
}

/// Reviews whose `helpful_count` differs from their votes.
async fn miscounted_votes(app: &TestApp) -> anyhow::Result<i64> {
    app.scalar(
        "SELECT count(*) FROM reviews r
         WHERE r.helpful_count <> (SELECT count(*) FROM review_votes v WHERE v.review_id = r.id)",
    )
    .await
}

#[tokio::test]
async fn only_a_buyer_with_a_paid_order_may_review_not_a_stranger_a_pending_or_a_cancelled_order()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let product = app.product(&admin, "Green tea", 10, 450).await?;

    let stranger = app.customer().await?;
    submit(&app, &stranger, &product, &review(5))
        .await?
        .assert_error(403, "REVIEW_NOT_VERIFIED_BUYER");

    let unpaid = app.customer().await?;
    place_order(&app, &unpaid, &product).await?;
    submit(&app, &unpaid, &product, &review(5))
        .await?
        .assert_error(403, "REVIEW_NOT_VERIFIED_BUYER");

    let cancelled = app.customer().await?;
    let order = place_order(&app, &cancelled, &product).await?;
    let cancel = app
        .send(
            app.http
                .post(app.url(&format!("/api/orders/{order}/cancel")))
                .bearer_auth(&cancelled),
        )
        .await?;
    assert_eq!(cancel.status, 200, "{}", cancel.text);
    submit(&app, &cancelled, &product, &review(5))
        .await?
        .assert_error(403, "REVIEW_NOT_VERIFIED_BUYER");

    let missing = uuid::Uuid::new_v4();
    submit(&app, &stranger, &missing.to_string(), &review(5))
        .await?
        .assert_error(404, "NOT_FOUND");
    submit(
        &app,
        &stranger,
        &product,
        &json!({"rating": 6, "title": "t", "body": "b"}),
    )
    .await?
    .assert_error(400, "VALIDATION_ERROR");
    app.post(
        &format!("/api/products/{product}/reviews"),
        &review(5),
        None,
    )
    .await?
    .assert_error(401, "UNAUTHORIZED");
    assert_eq!(app.scalar("SELECT count(*) FROM reviews").await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_buyers_review_is_pending_and_public_with_its_statistics_only_once_approved()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let product = app.product(&admin, "Black tea", 10, 450).await?;
    let token = buyer(&app, &admin, &product).await?;
    let created = submit(&app, &token, &product, &review(4)).await?;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["data"]["status"], "pending");
    assert_eq!(created.json["data"]["verified_purchase"], true);
    let id = created.json["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let public = app
        .get(&format!("/api/products/{product}/reviews"), None)
        .await?;
    assert_eq!(public.status, 200, "{}", public.text);
    assert_eq!(public.json["data"]["reviews"], json!([]));
    assert_eq!(public.json["data"]["statistics"]["count"], 0);
    assert_eq!(public.json["data"]["statistics"]["average"], Value::Null);
    // The listing is cached before the approval.
    let listing = app.get("/api/products?page_size=100", None).await?;
    assert_eq!(
        listing.json["data"][0]["rating_count"], 0,
        "{}",
        listing.text
    );
    assert_eq!(listing.json["data"][0]["rating_average"], Value::Null);
    let again = app.get("/api/products?page_size=100", None).await?;
    assert_eq!(again.header("x-cache"), Some("HIT"));

    let queue = app
        .get("/api/admin/reviews?status=pending", Some(&admin))
        .await?;
    assert_eq!(queue.status, 200, "{}", queue.text);
    assert_eq!(queue.json["data"][0]["id"], id.as_str());
    assert_eq!(queue.json["pagination"]["total"], 1);

    let approved = approve_at(&app, &app.base, &admin, &id).await?;
    assert_eq!(approved.status, 200, "{}", approved.text);
    assert_eq!(approved.json["data"]["status"], "approved");

    let public = app
        .get(&format!("/api/products/{product}/reviews"), None)
        .await?;
    assert_eq!(public.json["data"]["reviews"][0]["id"], id.as_str());
    assert_eq!(public.json["data"]["reviews"][0]["verified_purchase"], true);
    let stats = &public.json["data"]["statistics"];
    assert_eq!(stats["count"], 1);
    assert_eq!(stats["average"], 4.0);
    assert_eq!(
        stats["histogram"],
        json!([
            {"stars": 1, "count": 0}, {"stars": 2, "count": 0}, {"stars": 3, "count": 0},
            {"stars": 4, "count": 1}, {"stars": 5, "count": 0}
        ])
    );
    let listing = app.get("/api/products?page_size=100", None).await?;
    assert_eq!(
        listing.json["data"][0]["rating_count"], 1,
        "{}",
        listing.text
    );
    assert_eq!(listing.json["data"][0]["rating_average"], 4.0);
    let detail = app.get(&format!("/api/products/{product}"), None).await?;
    assert_eq!(detail.json["data"]["rating_count"], 1, "{}", detail.text);
    assert_eq!(detail.json["data"]["rating_average"], 4.0);
    assert_eq!(
        app.scalar(&format!(
            "SELECT count(*) FROM audit_log WHERE action = 'review.approve' AND target_type = 'review' AND target_id = '{id}'"
        ))
        .await?,
        1
    );
    Ok(())
}

#[tokio::test]
async fn a_second_review_is_409_and_of_two_concurrent_ones_exactly_one_is_stored()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let sibling = app.sibling().await?;
    let admin = app.admin().await?;
    let product = app.product(&admin, "White tea", 10, 450).await?;
    let token = buyer(&app, &admin, &product).await?;
    let url = |base: &str| format!("{base}/api/products/{product}/reviews");
    let replies = join_all([&app.base, &sibling.base].map(|base| {
        app.send(
            app.http
                .post(url(base))
                .bearer_auth(&token)
                .json(&review(5)),
        )
    }))
    .await;
    let mut statuses: Vec<u16> = Vec::new();
    for r in replies {
        let r = r?;
        if r.status == 409 {
            r.assert_error(409, "REVIEW_ALREADY_EXISTS");
        }
        statuses.push(r.status);
    }
    statuses.sort_unstable();
    assert_eq!(statuses, vec![201, 409]);
    submit(&app, &token, &product, &review(3))
        .await?
        .assert_error(409, "REVIEW_ALREADY_EXISTS");
    assert_eq!(app.scalar("SELECT count(*) FROM reviews").await?, 1);
    Ok(())
}

#[tokio::test]
async fn statistics_and_helpful_counts_stay_exact_under_a_storm_of_moderations_and_votes()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let (_siblings, bases) = app.four_instances().await?;
    let admin = app.admin().await?;
    let product = app.product(&admin, "Oolong tea", 100, 450).await?;
    let buyers: Vec<String> = join_all((0..20).map(|_| buyer(&app, &admin, &product)))
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let mut ids = Vec::new();
    for (i, token) in buyers.iter().enumerate() {
        ids.push(reviewed(&app, token, &product, (i % 5) as i64 + 1).await?);
    }
    // Reviews 0..10 approved first: 0..5 are rejected in the storm, 5..10 voted on.
    for id in &ids[..10] {
        let r = approve_at(&app, &app.base, &admin, id).await?;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    // The storm, over four instances at once: each of reviews 10..20 approved twice
    // (one must win, one must get 409), 0..5 rejected after their approval, and every
    // buyer votes on every review of 5..10 but their own, some twice (toggled back).
    let mut moderations = Vec::new();
    for (n, id) in ids[10..].iter().enumerate() {
        for k in 0..2 {
            moderations.push((
                id.clone(),
                approve_at(&app, &bases[(n + k) % 4], &admin, id),
            ));
        }
    }
    let rejections = ids[..5]
        .iter()
        .enumerate()
        .map(|(n, id)| reject_at(&app, &bases[n % 4], &admin, id));
    let mut votes = Vec::new();
    let mut expected_votes: i64 = 0;
    for (b, token) in buyers.iter().enumerate() {
        for (r, id) in ids.iter().enumerate().take(10).skip(5) {
            if r == b {
                continue;
            }
            let times = if (b + r) % 3 == 0 { 2 } else { 1 };
            expected_votes += 2 - times as i64;
            for t in 0..times {
                votes.push(vote_at(&app, &bases[(b + r + t) % 4], token, id));
            }
        }
    }
    let ids_moderated: Vec<String> = moderations.iter().map(|(id, _)| id.clone()).collect();
    let (approvals, rejections, votes) = tokio::join!(
        join_all(moderations.into_iter().map(|(_, f)| f)),
        join_all(rejections),
        join_all(votes),
    );

    let mut won = std::collections::HashMap::<String, usize>::new();
    for (id, r) in ids_moderated.iter().zip(approvals) {
        let r = r?;
        match r.status {
            200 => *won.entry(id.clone()).or_default() += 1,
            409 => {
                r.assert_error(409, "REVIEW_STATE_CONFLICT");
                assert_eq!(r.json["details"]["current_status"], "approved");
            }
            other => anyhow::bail!("approve answered {other}: {}", r.text),
        }
    }
    assert_eq!(won.len(), 10, "each review approved once: {won:?}");
    assert!(won.values().all(|n| *n == 1), "{won:?}");
    for r in rejections {
        let r = r?;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    for r in votes {
        let r = r?;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    let (stored, recount) = stored_and_recounted(&app, &product).await?;
    assert_eq!(stored, recount, "product_ratings equals a recount");
    // Approved: 5..20, ratings (i % 5) + 1 → three of each number of stars.
    assert_eq!(stored, vec![15, 45, 3, 3, 3, 3, 3]);
    assert_eq!(
        miscounted_votes(&app).await?,
        0,
        "helpful_count equals the votes"
    );
    assert_eq!(
        app.scalar("SELECT count(*) FROM review_votes").await?,
        expected_votes
    );
    assert_eq!(
        app.scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'review.%'")
            .await?,
        25,
        "one audit row per moderation that happened"
    );
    let public = app
        .get(
            &format!("/api/products/{product}/reviews?page_size=100"),
            None,
        )
        .await?;
    assert_eq!(public.json["data"]["statistics"]["count"], 15);
    assert_eq!(public.json["data"]["statistics"]["average"], 3.0);
    assert_eq!(public.json["pagination"]["total"], 15);
    Ok(())
}

#[tokio::test]
async fn rejecting_an_approved_review_takes_it_out_of_the_statistics_and_a_double_approve_is_409()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let sibling = app.sibling().await?;
    let admin = app.admin().await?;
    let product = app.product(&admin, "Mint tea", 10, 450).await?;
    let first = buyer(&app, &admin, &product).await?;
    let second = buyer(&app, &admin, &product).await?;
    let a = reviewed(&app, &first, &product, 5).await?;
    let b = reviewed(&app, &second, &product, 2).await?;

    let (x, y) = tokio::join!(
        approve_at(&app, &app.base, &admin, &a),
        approve_at(&app, &sibling.base, &admin, &a)
    );
    let mut statuses = vec![x?.status, y?.status];
    statuses.sort_unstable();
    assert_eq!(statuses, vec![200, 409], "one approval wins");
    assert_eq!(approve_at(&app, &app.base, &admin, &b).await?.status, 200);
    assert_eq!(
        stored_and_recounted(&app, &product).await?.0,
        vec![2, 7, 0, 1, 0, 0, 1]
    );

    let rejected = reject_at(&app, &app.base, &admin, &a).await?;
    assert_eq!(rejected.status, 200, "{}", rejected.text);
    assert_eq!(rejected.json["data"]["rejection_reason"], "off topic");
    let (stored, recount) = stored_and_recounted(&app, &product).await?;
    assert_eq!(stored, vec![1, 2, 0, 1, 0, 0, 0]);
    assert_eq!(stored, recount);
    reject_at(&app, &app.base, &admin, &a)
        .await?
        .assert_error(409, "REVIEW_STATE_CONFLICT");
    app.post(
        &format!("/api/admin/reviews/{b}/reject"),
        &json!({"reason": " "}),
        Some(&admin),
    )
    .await?
    .assert_error(400, "VALIDATION_ERROR");
    approve_at(&app, &app.base, &admin, &uuid::Uuid::new_v4().to_string())
        .await?
        .assert_error(404, "NOT_FOUND");
    approve_at(&app, &app.base, &first, &b)
        .await?
        .assert_error(403, "FORBIDDEN");
    let detail = app.get(&format!("/api/products/{product}"), None).await?;
    assert_eq!(detail.json["data"]["rating_count"], 1);
    assert_eq!(detail.json["data"]["rating_average"], 2.0);
    let public = app
        .get(&format!("/api/products/{product}/reviews"), None)
        .await?;
    assert_eq!(public.json["pagination"]["total"], 1);
    assert_eq!(
        app.scalar("SELECT count(*) FROM audit_log WHERE action = 'review.reject'")
            .await?,
        1
    );
    Ok(())
}

#[tokio::test]
async fn helpful_votes_toggle_refuse_my_own_review_and_pending_ones() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let product = app.product(&admin, "Rooibos", 10, 450).await?;
    let author = buyer(&app, &admin, &product).await?;
    let id = reviewed(&app, &author, &product, 4).await?;
    let reader = app.customer().await?;
    vote_at(&app, &app.base, &reader, &id)
        .await?
        .assert_error(404, "NOT_FOUND");
    assert_eq!(approve_at(&app, &app.base, &admin, &id).await?.status, 200);
    vote_at(&app, &app.base, &author, &id)
        .await?
        .assert_error(403, "REVIEW_OWN_VOTE");

    let on = vote_at(&app, &app.base, &reader, &id).await?;
    assert_eq!(on.status, 200, "{}", on.text);
    assert_eq!(on.json["data"]["voted"], true);
    assert_eq!(on.json["data"]["helpful_count"], 1);
    let off = vote_at(&app, &app.base, &reader, &id).await?;
    assert_eq!(off.json["data"]["voted"], false);
    assert_eq!(off.json["data"]["helpful_count"], 0);
    assert_eq!(app.scalar("SELECT count(*) FROM review_votes").await?, 0);
    assert_eq!(miscounted_votes(&app).await?, 0);
    Ok(())
}

#[tokio::test]
async fn review_text_is_stored_as_written_and_sent_html_escaped() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let product = app.product(&admin, "Chai", 10, 450).await?;
    let token = buyer(&app, &admin, &product).await?;
    let body = json!({
        "rating": 5,
        "title": "<b>Best</b> & \"strong\"",
        "body": "<script>alert('x')</script>\nsecond line",
    });
    let created = submit(&app, &token, &product, &body).await?;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(
        created.json["data"]["title"],
        "&lt;b&gt;Best&lt;/b&gt; &amp; &quot;strong&quot;"
    );
    let id = created.json["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(approve_at(&app, &app.base, &admin, &id).await?.status, 200);
    let public = app
        .get(&format!("/api/products/{product}/reviews"), None)
        .await?;
    assert_eq!(
        public.json["data"]["reviews"][0]["body"],
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;\nsecond line"
    );
    assert!(!public.text.contains("<script>"), "{}", public.text);
    assert_eq!(
        app.strings("SELECT body FROM reviews").await?,
        vec!["<script>alert('x')</script>\nsecond line".to_owned()]
    );
    Ok(())
}

#[tokio::test]
async fn past_the_hourly_limit_submissions_over_two_instances_are_429_with_retry_after()
-> anyhow::Result<()> {
    let app = TestApp::spawn_with(&[("REVIEWS_MAX_PER_HOUR", "3")]).await;
    let sibling = app.sibling().await?;
    let admin = app.admin().await?;
    let product = app.product(&admin, "Earl grey", 10, 450).await?;
    let token = app.customer().await?;
    let replies = join_all((0..8).map(|i| {
        let base = if i % 2 == 0 { &app.base } else { &sibling.base };
        app.send(
            app.http
                .post(format!("{base}/api/products/{product}/reviews"))
                .bearer_auth(&token)
                .json(&review(5)),
        )
    }))
    .await;
    let (mut judged, mut limited) = (0, 0);
    for r in replies {
        let r = r?;
        if r.status == 429 {
            r.assert_error(429, "TOO_MANY_REVIEWS");
            let retry: u64 = r.header("retry-after").unwrap_or_default().parse()?;
            assert!((1..=3600).contains(&retry), "Retry-After {retry}");
            limited += 1;
        } else {
            r.assert_error(403, "REVIEW_NOT_VERIFIED_BUYER");
            judged += 1;
        }
    }
    assert_eq!((judged, limited), (3, 5), "exactly the limit was judged");
    Ok(())
}

/// Waits until a session is blocked by `holder` (the backend of the open
/// transaction: the request under test queued behind it), or `request` has finished.
async fn until_blocked_by_or_done(
    app: &TestApp,
    holder: i64,
    request: &tokio::task::JoinHandle<anyhow::Result<Reply>>,
) -> anyhow::Result<()> {
    for _ in 0..1000 {
        let blocked = app
            .scalar(&format!(
                "SELECT count(*) FROM pg_stat_activity WHERE {holder} = ANY (pg_blocking_pids(pid))"
            ))
            .await?;
        if blocked > 0 || request.is_finished() {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    anyhow::bail!("the review request neither waited on the open transaction nor finished")
}

/// Runs `change` in a transaction left open while a review of `product` by `token` is
/// submitted, commits it once the submission waits (or has answered), and answers
/// the submission's reply: what a cancellation or an unpublish committing while the
/// review is being decided does to it.
async fn submitted_across(
    app: &TestApp,
    token: &str,
    product: &str,
    change: &str,
) -> anyhow::Result<Reply> {
    use sea_orm::{ConnectionTrait, FromQueryResult, TransactionTrait};
    #[derive(FromQueryResult)]
    struct Pid {
        pid: i32,
    }
    let txn = app.db.begin().await?;
    let holder = Pid::find_by_statement(sea_orm::Statement::from_string(
        sea_orm::DbBackend::Postgres,
        "SELECT pg_backend_pid() AS pid",
    ))
    .one(&txn)
    .await?
    .ok_or_else(|| anyhow::anyhow!("no backend pid"))?
    .pid;
    txn.execute_unprepared(change).await?;
    let (http, url, token) = (
        app.http.clone(),
        app.url(&format!("/api/products/{product}/reviews")),
        token.to_owned(),
    );
    let request = tokio::spawn(async move {
        let r = http
            .post(url)
            .bearer_auth(token)
            .json(&review(5))
            .send()
            .await?;
        Reply::read(r).await
    });
    until_blocked_by_or_done(app, i64::from(holder), &request).await?;
    txn.commit().await?;
    request.await?
}

#[tokio::test]
async fn an_order_cancelled_or_a_product_unpublished_while_a_review_is_decided_refuses_it()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let product = app.product(&admin, "Matcha", 10, 900).await?;

    // The buyer's only paid order leaves `paid` in a transaction that commits while
    // the submission is deciding: the submission must see it (a read of the last
    // committed state before the commit would verify a purchase that is undone).
    let token = buyer(&app, &admin, &product).await?;
    let order = app
        .strings(&format!(
            "SELECT o.id::text FROM orders o JOIN order_items i ON i.order_id = o.id
              WHERE i.product_id = '{product}' AND o.status = 'paid'"
        ))
        .await?;
    anyhow::ensure!(order.len() == 1, "one paid order: {order:?}");
    let refused = submitted_across(
        &app,
        &token,
        &product,
        &format!(
            "UPDATE orders SET status = 'cancelled' WHERE id = '{}'",
            order[0]
        ),
    )
    .await?;
    refused.assert_error(403, "REVIEW_NOT_VERIFIED_BUYER");

    // Another buyer; the product goes back to draft while the submission decides.
    let other = buyer(&app, &admin, &product).await?;
    let hidden = submitted_across(
        &app,
        &other,
        &product,
        &format!("UPDATE products SET status = 'draft' WHERE id = '{product}'"),
    )
    .await?;
    hidden.assert_error(404, "NOT_FOUND");
    assert_eq!(app.scalar("SELECT count(*) FROM reviews").await?, 0);
    Ok(())
}

#[tokio::test]
async fn no_vote_on_a_review_of_a_product_no_longer_on_sale() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let product = app.product(&admin, "Hojicha", 10, 700).await?;
    let author = buyer(&app, &admin, &product).await?;
    let id = reviewed(&app, &author, &product, 5).await?;
    assert_eq!(approve_at(&app, &app.base, &admin, &id).await?.status, 200);
    let unpublished = app
        .send(
            app.http
                .post(app.url(&format!("/api/admin/products/{product}/unpublish")))
                .bearer_auth(&admin),
        )
        .await?;
    assert_eq!(unpublished.status, 200, "{}", unpublished.text);
    let reader = app.customer().await?;
    vote_at(&app, &app.base, &reader, &id)
        .await?
        .assert_error(404, "NOT_FOUND");
    assert_eq!(app.scalar("SELECT count(*) FROM review_votes").await?, 0);
    Ok(())
}
