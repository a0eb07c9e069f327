//! Product images served from each instance's memory: one database read of the bytes
//! per instance however many GETs, and still hidden as soon as the product is
//! archived.

use futures_util::{StreamExt, TryStreamExt, stream};

use crate::support::TestApp;

/// `shop_image_db_reads_total` of the instance at `base`.
async fn image_db_reads(app: &TestApp, base: &str) -> anyhow::Result<u64> {
    app.counter(base, "shop_image_db_reads_total").await
}

/// A PNG (by its signature: the type is sniffed) of about `len` bytes, unlike any
/// other.
fn png(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut x: u32 = rand::random();
    while bytes.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes
}

#[tokio::test]
async fn a_thousand_gets_of_one_image_over_four_instances_read_it_once_per_instance()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let (_siblings, bases) = app.four_instances().await?;
    let admin = app.admin().await?;
    let image = png(256 * 1024);
    let form = reqwest::multipart::Form::new()
        .text("name", "Pictured")
        .text("description", "image cache test")
        .text("price_cents", "300")
        .text("category", "STAPLES")
        .text("stock", "3")
        .part(
            "images",
            reqwest::multipart::Part::bytes(image.clone())
                .file_name("a.png")
                .mime_str("image/png")?,
        );
    let up = app
        .send(
            app.http
                .post(app.url("/api/admin/products/upload"))
                .bearer_auth(&admin)
                .multipart(form),
        )
        .await?;
    assert_eq!(up.status, 201, "{}", up.text);
    let product = up.data_id();
    let path = up.json["data"]["images"][0]["url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(path.starts_with("/api/products/"), "{}", up.text);
    for base in &bases {
        assert_eq!(image_db_reads(&app, base).await?, 0);
    }

    // 1,000 GETs, 100 in flight at once, round-robin over the instances.
    let etags: Vec<String> = stream::iter(0..1000)
        .map(|i| {
            let url = format!("{}{path}", bases[i % bases.len()]);
            let (http, image) = (&app.http, &image);
            async move {
                let resp = http.get(url).send().await?;
                anyhow::ensure!(resp.status() == 200, "GET {i}: {}", resp.status());
                let etag = resp
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let content_type = resp
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                anyhow::ensure!(content_type == "image/png", "GET {i}: {content_type}");
                let body = resp.bytes().await?;
                anyhow::ensure!(body[..] == image[..], "GET {i}: other bytes");
                Ok(etag)
            }
        })
        .buffer_unordered(100)
        .try_collect()
        .await?;
    assert!(
        etags.iter().all(|e| e == &etags[0] && e.len() == 66),
        "{etags:?}"
    );
    for base in &bases {
        assert_eq!(
            image_db_reads(&app, base).await?,
            1,
            "reads of the image's bytes from PostgreSQL by {base}"
        );
    }

    // The client's copy is current: 304, as before the cache.
    let again = app
        .send(
            app.http
                .get(app.url(&path))
                .header("if-none-match", &etags[0]),
        )
        .await?;
    assert_eq!(again.status, 304);

    // Archived: gone on every instance at once, though every one holds the bytes.
    let archived = app
        .send(
            app.http
                .delete(app.url(&format!("/api/admin/products/{product}")))
                .bearer_auth(&admin),
        )
        .await?;
    assert_eq!(archived.status, 204, "{}", archived.text);
    for base in &bases {
        app.send(app.http.get(format!("{base}{path}")))
            .await?
            .assert_error(404, "NOT_FOUND");
        let revalidated = app
            .send(
                app.http
                    .get(format!("{base}{path}"))
                    .header("if-none-match", &etags[0]),
            )
            .await?;
        assert_eq!(revalidated.status, 404, "{base}: a 304 would keep it shown");
        assert_eq!(image_db_reads(&app, base).await?, 1);
    }
    Ok(())
}
