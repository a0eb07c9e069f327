//! `GET /api/products/search`, in-process: typo tolerance, ranking, filters, facets,
//! drafts never found, validation, and a cached result invalidated by an admin write
//! on every instance.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::support::{Reply, TestApp};

/// Creates a published product as `admin`; returns its id.
async fn product(
    app: &TestApp,
    admin: &str,
    name: &str,
    description: &str,
    category: &str,
    price_cents: i64,
    stock: i64,
) -> anyhow::Result<String> {
    let reply = app
        .post(
            "/api/admin/products",
            &json!({
                "name": name,
                "description": description,
                "price_cents": price_cents,
                "category": category,
                "stock": stock,
            }),
            Some(admin),
        )
        .await?;
    anyhow::ensure!(reply.status == 201, "create product: {}", reply.text);
    Ok(reply.json["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

async fn search(app: &TestApp, base: &str, query: &str) -> anyhow::Result<Reply> {
    app.send(app.http.get(format!("{base}/api/products/search?{query}")))
        .await
}

/// The ids of the items of a 200 answer.
fn ids(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json["data"]["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|p| p["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn total(reply: &Reply) -> u64 {
    reply.json["data"]["total"].as_u64().unwrap_or(u64::MAX)
}

fn band_sum(reply: &Reply) -> u64 {
    reply.json["data"]["facets"]["price_bands"]
        .as_array()
        .map(|bands| bands.iter().filter_map(|b| b["count"].as_u64()).sum())
        .unwrap_or(u64::MAX)
}

#[tokio::test]
async fn misspelled_words_find_the_products_and_the_answer_says_what_was_searched()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let bananas = product(
        &app,
        &admin,
        "Organic bananas",
        "Ripe and sweet",
        "FRUITS_VEGETABLES",
        199,
        10,
    )
    .await?;
    let milk = product(
        &app,
        &admin,
        "Whole milk",
        "Fresh from the farm",
        "DAIRY_BAKERY",
        129,
        10,
    )
    .await?;
    product(
        &app,
        &admin,
        "Rye bread",
        "Baked daily",
        "DAIRY_BAKERY",
        349,
        10,
    )
    .await?;

    let reply = search(&app, &app.base, "q=bananna").await?;
    assert_eq!(ids(&reply), [bananas.as_str()], "{}", reply.text);
    assert!(
        reply.json["data"]["corrected_query"]
            .as_str()
            .is_some_and(|q| q.starts_with("banana")),
        "{}",
        reply.text
    );
    // A transposition in a short word shares almost no trigrams with the word.
    let reply = search(&app, &app.base, "q=mlik").await?;
    assert_eq!(ids(&reply), [milk.as_str()], "{}", reply.text);
    assert_eq!(
        reply.json["data"]["corrected_query"], "milk",
        "{}",
        reply.text
    );
    let reply = search(&app, &app.base, "q=%20WHOLE%20%20Milk%20").await?;
    assert_eq!(ids(&reply), [milk], "{}", reply.text);
    assert!(
        reply.json["data"].get("corrected_query").is_none(),
        "nothing was corrected: {}",
        reply.text
    );
    // Nothing near enough: no match, no 500.
    let reply = search(&app, &app.base, "q=xqzvwk").await?;
    assert_eq!(ids(&reply), Vec::<String>::new(), "{}", reply.text);
    assert_eq!(total(&reply), 0);
    Ok(())
}

#[tokio::test]
async fn a_name_match_ranks_before_a_category_or_description_match() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    // Created first, so `newest` would put it last: only relevance puts it first.
    let in_name = product(
        &app,
        &admin,
        "Quinoa flakes",
        "Breakfast cereal",
        "STAPLES",
        450,
        5,
    )
    .await?;
    let in_description = product(
        &app,
        &admin,
        "Grain bowl",
        "Rice, lentils and quinoa with herbs",
        "STAPLES",
        650,
        5,
    )
    .await?;
    let reply = search(&app, &app.base, "q=quinoa").await?;
    assert_eq!(
        ids(&reply),
        [in_name.clone(), in_description.clone()],
        "{}",
        reply.text
    );
    let newest = search(&app, &app.base, "q=quinoa&sort=newest").await?;
    assert_eq!(
        ids(&newest),
        [in_description.clone(), in_name.clone()],
        "{}",
        newest.text
    );
    let cheapest = search(&app, &app.base, "q=quinoa&sort=price_desc").await?;
    assert_eq!(
        ids(&cheapest),
        [in_description, in_name],
        "{}",
        cheapest.text
    );
    // The category's name is searched too.
    let reply = search(&app, &app.base, "q=staples").await?;
    assert_eq!(total(&reply), 2, "{}", reply.text);
    Ok(())
}

#[tokio::test]
async fn filters_narrow_by_category_with_descendants_price_stock_and_rating() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let dairy = product(
        &app,
        &admin,
        "Cheddar cheese",
        "Aged cheese",
        "DAIRY_BAKERY",
        800,
        4,
    )
    .await?;
    let staple = product(
        &app,
        &admin,
        "Cottage cheese",
        "Soft cheese",
        "STAPLES",
        300,
        0,
    )
    .await?;
    let snack = product(
        &app,
        &admin,
        "Cheese crackers",
        "Crunchy cheese snack",
        "SNACKS_BRANDED_FOODS",
        150,
        9,
    )
    .await?;
    // Staples becomes a child of Dairy & Bakery: the Dairy filter now includes it.
    app.db
        .execute_unprepared(
            "UPDATE categories SET parent_id = (SELECT id FROM categories WHERE code = 'DAIRY_BAKERY')
              WHERE code = 'STAPLES'",
        )
        .await?;
    let mut with_dairy = ids(&search(&app, &app.base, "q=cheese&category=dairy-bakery").await?);
    with_dairy.sort();
    let mut expected = vec![dairy.clone(), staple.clone()];
    expected.sort();
    assert_eq!(with_dairy, expected, "a category and its descendants");
    let by_code = search(&app, &app.base, "q=cheese&category=STAPLES").await?;
    assert_eq!(ids(&by_code), [staple.as_str()], "{}", by_code.text);
    let unknown = search(&app, &app.base, "q=cheese&category=no-such-category").await?;
    assert_eq!(total(&unknown), 0, "{}", unknown.text);

    let priced = search(
        &app,
        &app.base,
        "q=cheese&min_price_cents=200&max_price_cents=500",
    )
    .await?;
    assert_eq!(ids(&priced), [staple.as_str()], "{}", priced.text);
    let stocked = search(&app, &app.base, "q=cheese&in_stock=true&sort=price_asc").await?;
    assert_eq!(
        ids(&stocked),
        [snack.clone(), dairy.clone()],
        "{}",
        stocked.text
    );
    let sold_out = search(&app, &app.base, "q=cheese&in_stock=false").await?;
    assert_eq!(ids(&sold_out), [staple.as_str()], "{}", sold_out.text);

    // Ratings: cheddar 4.5 over 2, crackers 3.0 over 1, cottage unrated.
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO product_ratings (product_id, rating_count, rating_sum, stars_4, stars_5, stars_3)
             VALUES ('{dairy}', 2, 9, 1, 1, 0), ('{snack}', 1, 3, 0, 0, 1)"
        ))
        .await?;
    let rated = search(&app, &app.base, "q=cheese&min_rating=4").await?;
    assert_eq!(ids(&rated), [dairy.as_str()], "{}", rated.text);
    let by_rating = search(&app, &app.base, "q=cheese&sort=rating").await?;
    assert_eq!(
        ids(&by_rating),
        [dairy, snack, staple],
        "unrated last: {}",
        by_rating.text
    );
    Ok(())
}

#[tokio::test]
async fn facet_counts_add_up_to_the_total() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    for (name, category, price) in [
        ("Green tea", "BEVERAGES", 50),
        ("Iced tea", "BEVERAGES", 250),
        ("Tea biscuits", "SNACKS_BRANDED_FOODS", 700),
        ("Tea towel", "HOUSEHOLD_SUPPLIES", 1500),
        ("Tea set", "HOUSEHOLD_SUPPLIES", 4500),
        ("Tea chest", "HOUSEHOLD_SUPPLIES", 9000),
        ("Coffee", "BEVERAGES", 900),
    ] {
        product(&app, &admin, name, "", category, price, 3).await?;
    }
    let reply = search(&app, &app.base, "q=tea&page_size=2").await?;
    assert_eq!(total(&reply), 6, "{}", reply.text);
    assert_eq!(ids(&reply).len(), 2, "one page");
    assert_eq!(reply.json["pagination"]["total"], 6);
    assert_eq!(band_sum(&reply), 6, "{}", reply.text);
    let bands: Vec<u64> = reply.json["data"]["facets"]["price_bands"]
        .as_array()
        .map(|b| b.iter().filter_map(|b| b["count"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(bands, [1, 1, 1, 1, 1, 1], "{}", reply.text);
    let categories: Vec<(String, u64)> = reply.json["data"]["facets"]["categories"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|c| {
                    (
                        c["code"].as_str().unwrap_or_default().to_owned(),
                        c["count"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        categories,
        [
            ("HOUSEHOLD_SUPPLIES".to_owned(), 3),
            ("BEVERAGES".to_owned(), 2),
            ("SNACKS_BRANDED_FOODS".to_owned(), 1)
        ],
        "{}",
        reply.text
    );
    assert_eq!(
        reply.json["data"]["facets"]["categories"][0]["name"],
        "Household Supplies"
    );
    // With a category chosen: the bands follow it, the category facet does not.
    let narrowed = search(
        &app,
        &app.base,
        "q=tea&category=HOUSEHOLD_SUPPLIES&min_price_cents=1000",
    )
    .await?;
    assert_eq!(total(&narrowed), 3, "{}", narrowed.text);
    assert_eq!(band_sum(&narrowed), 3, "{}", narrowed.text);
    let all_categories: u64 = narrowed.json["data"]["facets"]["categories"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["count"].as_u64()).sum())
        .unwrap_or(0);
    assert_eq!(
        all_categories, 3,
        "tea at 10 or more is only household: {}",
        narrowed.text
    );
    Ok(())
}

#[tokio::test]
async fn drafts_and_archived_products_are_never_found_or_counted() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    let published = product(
        &app,
        &admin,
        "Saffron threads",
        "",
        "GOURMET_WORLD_FOOD",
        900,
        2,
    )
    .await?;
    let draft = product(
        &app,
        &admin,
        "Saffron rice",
        "",
        "GOURMET_WORLD_FOOD",
        400,
        2,
    )
    .await?;
    let archived = product(
        &app,
        &admin,
        "Saffron tea",
        "",
        "GOURMET_WORLD_FOOD",
        300,
        2,
    )
    .await?;
    for (id, action) in [(&draft, "unpublish"), (&archived, "archive")] {
        let reply = app
            .send(
                app.http
                    .post(app.url(&format!("/api/admin/products/{id}/{action}")))
                    .bearer_auth(&admin),
            )
            .await?;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    for query in [
        "q=saffron",
        "q=safron",
        "q=saffron%20rice",
        "q=saffron&sort=price_asc",
    ] {
        let reply = search(&app, &app.base, query).await?;
        let found = ids(&reply);
        assert!(
            !found.contains(&draft) && !found.contains(&archived),
            "{query}: {}",
            reply.text
        );
        assert_eq!(band_sum(&reply), total(&reply), "{query}");
    }
    // Nor does a suggestion reveal a word only a draft has: "rice" is a draft's word,
    // so a misspelling of it is corrected to nothing, as a word no product has.
    for query in ["q=ricee", "q=rcie"] {
        let reply = search(&app, &app.base, query).await?;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert!(
            reply.json["data"]["corrected_query"].is_null(),
            "{query} revealed a draft's word: {}",
            reply.text
        );
    }
    let reply = search(&app, &app.base, "q=saffron").await?;
    assert_eq!(ids(&reply), [published]);
    assert_eq!(total(&reply), 1);
    let facet: Value = reply.json["data"]["facets"]["categories"].clone();
    assert_eq!(
        facet,
        json!([{"code": "GOURMET_WORLD_FOOD", "name": "Gourmet & World Food", "count": 1}])
    );
    Ok(())
}

#[tokio::test]
async fn a_cached_search_is_invalidated_by_an_admin_write_on_every_instance() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let sibling = app.sibling().await?;
    let admin = app.admin().await?;
    let first = product(&app, &admin, "Velvet cake", "", "DAIRY_BAKERY", 500, 2).await?;
    // Warm the same search on both instances: the second read of each is a hit.
    for base in [&app.base, &sibling.base] {
        let warm = search(&app, base, "q=velvet").await?;
        assert_eq!(ids(&warm), [first.as_str()], "{}", warm.text);
        let again = search(&app, base, "q=%20Velvet").await?;
        assert_eq!(again.header("x-cache"), Some("HIT"), "normalised alike");
    }
    let second = product(
        &app,
        &admin,
        "Velvet cushion",
        "",
        "HOUSEHOLD_SUPPLIES",
        2500,
        2,
    )
    .await?;
    let after = search(&app, &sibling.base, "q=velvet").await?;
    assert_eq!(after.header("x-cache"), Some("MISS"), "{}", after.text);
    let mut found = ids(&after);
    found.sort();
    let mut expected = vec![first.clone(), second.clone()];
    expected.sort();
    assert_eq!(found, expected, "the other instance sees the write at once");
    assert_eq!(band_sum(&after), 2);
    // Unpublishing is an admin write too: gone from the cached search at once.
    let reply = app
        .send(
            app.http
                .post(app.url(&format!("/api/admin/products/{second}/unpublish")))
                .bearer_auth(&admin),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let after = search(&app, &sibling.base, "q=velvet").await?;
    assert_eq!(ids(&after), [first], "{}", after.text);
    Ok(())
}

#[tokio::test]
async fn a_missing_blank_or_too_long_query_is_a_422_naming_q() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let long = "a".repeat(201);
    for query in [
        String::new(),
        "q=".into(),
        "q=%20%20%20".into(),
        format!("q={long}"),
    ] {
        let reply = search(&app, &app.base, &query).await?;
        reply.assert_error(422, "VALIDATION_ERROR");
        assert_eq!(
            reply.json["details"]["field"], "q",
            "{query}: {}",
            reply.text
        );
    }
    // 200 characters after trimming is allowed.
    let reply = search(&app, &app.base, &format!("q=%20{}%20", "a".repeat(200))).await?;
    assert_eq!(reply.status, 200, "{}", reply.text);
    for (query, field) in [
        ("q=tea&min_rating=6", "min_rating"),
        ("q=tea&page_size=101", "page_size"),
        ("q=tea&min_price_cents=-1", "min_price_cents"),
        ("q=tea&category=no%20such", "category"),
    ] {
        let reply = search(&app, &app.base, query).await?;
        reply.assert_error(400, "VALIDATION_ERROR");
        assert_eq!(
            reply.json["details"]["field"], field,
            "{query}: {}",
            reply.text
        );
    }
    Ok(())
}

#[tokio::test]
async fn concurrent_imports_sharing_new_words_all_succeed_and_every_word_is_searchable()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let (_siblings, bases) = app.four_instances().await?;
    let admin = app.admin().await?;
    // Sixteen words no product used yet; each import names them all, in its own order,
    // so unsorted lexicon inserts would take the same keys in opposite orders.
    let words: Vec<String> = (0..16)
        .map(|i| format!("zephyr{}", (b'a' + i) as char))
        .collect();
    let imports = (0..8).map(|n| {
        let mut order = words.clone();
        if n % 2 == 1 {
            order.reverse();
        }
        order.rotate_left(n);
        let rows: Vec<Value> = order
            .chunks(2)
            .map(|pair| {
                json!({"name": pair.join(" "), "price_cents": 100, "category": "STAPLES", "stock": 1})
            })
            .collect();
        let url = format!("{}/api/admin/products/bulk", bases[n % bases.len()]);
        let req = app.http.post(url).bearer_auth(&admin).json(&rows);
        app.send(req)
    });
    for reply in futures_util::future::join_all(imports).await {
        let reply = reply?;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.json["data"]["created"], 8, "{}", reply.text);
    }
    let learnt = app
        .scalar("SELECT count(*) FROM search_terms WHERE term LIKE 'zephyr_'")
        .await?;
    assert_eq!(learnt, 16, "every new word is in the lexicon once");
    // A typo in one of them is corrected to it.
    let reply = search(&app, &app.base, "q=zehpyrc").await?;
    assert_eq!(
        reply.json["data"]["corrected_query"], "zephyrc",
        "{}",
        reply.text
    );
    assert_eq!(total(&reply), 8, "{}", reply.text);
    Ok(())
}

#[tokio::test]
async fn a_bulk_insert_leaves_no_pending_list_in_the_search_indexes() -> anyhow::Result<()> {
    // GIN's default (`fastupdate`) parks new entries in a pending list that every
    // search scans and that drives the planner to a sequential scan (migration
    // 0017). `gin_clean_pending_list` answers how many pending pages it merged: none
    // may be left after 2,000 products arrive in one statement, as from an import.
    let app = TestApp::spawn().await;
    app.db
        .execute_unprepared(
            "INSERT INTO products (id, name, description, price_cents, currency, category,
                                   stock, low_stock_threshold, status)
             SELECT gen_random_uuid(), 'Bulk kumquat ' || g, 'Tangy kumquat number ' || g,
                    100 + g, 'USD', 'FRUITS_VEGETABLES', 5, 1, 'published'
               FROM generate_series(1, 2000) AS g",
        )
        .await?;
    for index in ["products_search_idx", "search_terms_trgm_idx"] {
        let pending = app
            .scalar(&format!(
                "SELECT gin_clean_pending_list('{index}'::regclass)"
            ))
            .await?;
        assert_eq!(pending, 0, "{index} had {pending} pending pages");
    }
    let found = search(&app, &app.base, "q=kumquat&page_size=1").await?;
    assert_eq!(ids(&found).len(), 1);
    assert_eq!(total(&found), 2000);
    Ok(())
}

#[tokio::test]
async fn every_sort_pages_in_its_order_without_overlap_or_gap() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let admin = app.admin().await?;
    // Equal prices too, so the id must break ties the same way on every page.
    for (i, price) in [300, 100, 300, 250, 100, 900, 300].iter().enumerate() {
        product(
            &app,
            &admin,
            &format!("Kiwi crate {i}"),
            "Green kiwi fruit",
            "FRUITS_VEGETABLES",
            *price,
            i as i64,
        )
        .await?;
    }
    for sort in ["relevance", "price_asc", "price_desc", "newest", "rating"] {
        let whole = search(
            &app,
            &app.base,
            &format!("q=kiwi&sort={sort}&page_size=100"),
        )
        .await?;
        let all = ids(&whole);
        assert_eq!(all.len(), 7, "{sort}: {}", whole.text);
        let mut paged = Vec::new();
        for page in 1..=3 {
            let reply = search(
                &app,
                &app.base,
                &format!("q=kiwi&sort={sort}&page={page}&page_size=3"),
            )
            .await?;
            paged.extend(ids(&reply));
        }
        assert_eq!(paged, all, "{sort}: pages of 3 differ from one page of all");
        if sort.starts_with("price") {
            let prices: Vec<i64> = whole.json["data"]["items"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|p| p["price_cents"].as_i64())
                        .collect()
                })
                .unwrap_or_default();
            let mut sorted = prices.clone();
            sorted.sort_unstable();
            if sort == "price_desc" {
                sorted.reverse();
            }
            assert_eq!(prices, sorted, "{sort}");
        }
    }
    Ok(())
}
