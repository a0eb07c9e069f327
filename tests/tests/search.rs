//! Search through nginx on the real stack: a misspelled word finds its product, the
//! facet counts add up to the total, and a draft is never found. Each test searches
//! words of its own (random letters), so other tests' products never match.

use e2e::{admin_token, client, create_product, get, nginx_url, send};
use serde_json::Value;

/// A word of 12 letters, random but for the 4th, `q` (the others are `a` to `p`): no
/// other product uses it, it is long enough that a typo in it is corrected to it, and
/// swapping its 4th and 5th letters always makes another word.
fn word() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12]
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let digit = (b as char).to_digit(16).unwrap_or(0) as u8;
            if i == 3 { 'q' } else { (b'a' + digit) as char }
        })
        .collect()
}

/// `word` with its 4th and 5th letters swapped: one typo.
fn misspelled(word: &str) -> String {
    let mut letters: Vec<char> = word.chars().collect();
    letters.swap(3, 4);
    letters.into_iter().collect()
}

async fn search(query: &str) -> anyhow::Result<e2e::Reply> {
    let reply = get(&format!("{}/api/products/search?{query}", nginx_url())).await?;
    anyhow::ensure!(reply.status == 200, "search {query}: {}", reply.text);
    Ok(reply)
}

fn ids(reply: &e2e::Reply) -> Vec<String> {
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

fn counts(facet: &Value) -> u64 {
    facet
        .as_array()
        .map(|f| f.iter().filter_map(|x| x["count"].as_u64()).sum())
        .unwrap_or(u64::MAX)
}

#[tokio::test]
async fn a_misspelled_word_finds_its_product_through_nginx() -> anyhow::Result<()> {
    let c = client();
    let admin = admin_token(&c).await?;
    let w = word();
    let typo = misspelled(&w);
    assert_ne!(typo, w, "a swap of two different letters");
    let id = create_product(&c, &nginx_url(), &admin, &format!("{w} bananas"), 4, 199).await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let reply = search(&format!("q={typo}")).await?;
    assert_eq!(ids(&reply), [id.as_str()], "{}", reply.text);
    assert_eq!(
        reply.json["data"]["corrected_query"],
        w.as_str(),
        "{}",
        reply.text
    );
    let exact = search(&format!("q={w}%20BANANAS")).await?;
    assert_eq!(ids(&exact), [id.as_str()], "{}", exact.text);
    Ok(())
}

#[tokio::test]
async fn facet_counts_add_up_to_the_total_through_nginx() -> anyhow::Result<()> {
    let c = client();
    let admin = admin_token(&c).await?;
    let w = word();
    for (i, price) in [50, 450, 900, 1900, 4900, 9900].into_iter().enumerate() {
        create_product(&c, &nginx_url(), &admin, &format!("{w} jar {i}"), 3, price).await?;
    }
    let reply = search(&format!("q={w}&page_size=4")).await?;
    assert_eq!(reply.json["data"]["total"], 6, "{}", reply.text);
    assert_eq!(ids(&reply).len(), 4, "one page of 4");
    let facets = &reply.json["data"]["facets"];
    assert_eq!(counts(&facets["price_bands"]), 6, "{}", reply.text);
    assert_eq!(counts(&facets["categories"]), 6, "{}", reply.text);
    let narrowed = search(&format!("q={w}&max_price_cents=999")).await?;
    assert_eq!(narrowed.json["data"]["total"], 3, "{}", narrowed.text);
    assert_eq!(
        counts(&narrowed.json["data"]["facets"]["price_bands"]),
        3,
        "{}",
        narrowed.text
    );
    Ok(())
}

#[tokio::test]
async fn a_draft_is_never_found_through_nginx() -> anyhow::Result<()> {
    let c = client();
    let admin = admin_token(&c).await?;
    let w = word();
    let product = create_product(&c, &nginx_url(), &admin, &format!("{w} saffron"), 2, 900).await?;
    let id = product["id"].as_str().unwrap_or_default().to_owned();
    // Searched once while published (and so cached), then made a draft.
    let before = search(&format!("q={w}")).await?;
    assert_eq!(ids(&before), [id.as_str()], "{}", before.text);
    let reply = send(
        c.post(format!("{}/api/admin/products/{id}/unpublish", nginx_url()))
            .bearer_auth(&admin),
    )
    .await?;
    assert_eq!(reply.status, 200, "{}", reply.text);
    for query in [
        format!("q={w}"),
        format!("q={}", misspelled(&w)),
        format!("q={w}%20saffron&sort=price_asc"),
    ] {
        let reply = search(&query).await?;
        assert_eq!(reply.json["data"]["total"], 0, "{query}: {}", reply.text);
        assert!(ids(&reply).is_empty(), "{query}: {}", reply.text);
    }
    Ok(())
}
