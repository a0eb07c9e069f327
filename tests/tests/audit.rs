//! The audit log against the real stack: every admin write through nginx appends a
//! row in its own transaction, readable from any instance, and the database role the
//! API runs as cannot change or remove a row.

use e2e::{
    add_to_cart, admin_token, client, create_product, database, execute, get_auth, instance_urls,
    new_customer, nginx_url, send,
};
use serde_json::{Value, json};

fn tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// `GET /api/admin/audit?target=<target>` at `base`: the entries' actions and request
/// ids, newest first.
async fn audit_of(base: &str, admin: &str, target: &str) -> anyhow::Result<Vec<Value>> {
    let page = get_auth(
        &client(),
        &format!("{base}/api/admin/audit?target={target}"),
        admin,
    )
    .await?;
    anyhow::ensure!(page.status == 200, "audit: {}", page.text);
    Ok(page.json["data"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

#[tokio::test]
async fn admin_writes_are_audited_with_their_request_and_readable_on_every_instance()
-> anyhow::Result<()> {
    let c = client();
    let base = nginx_url();
    let admin = admin_token(&c).await?;
    let product =
        create_product(&c, &base, &admin, &format!("Audited jam {}", tag()), 5, 300).await?;
    let product_id = product["id"].as_str().unwrap_or_default().to_owned();
    let (cc, customer, _) = new_customer("audit").await?;
    let added = add_to_cart(&cc, &base, &customer, &product_id, 1).await?;
    anyhow::ensure!(added.status == 200, "add: {}", added.text);
    let placed = e2e::place_order(&cc, &base, &customer).await?;
    anyhow::ensure!(placed.status == 201, "place: {}", placed.text);
    let order = placed.json["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let request_id = format!("audit-e2e-{}", tag());
    let cancelled = send(
        c.post(format!("{base}/api/admin/orders/{order}/cancel"))
            .bearer_auth(&admin)
            .header("x-request-id", &request_id)
            .json(&json!({"reason": "out of jam"})),
    )
    .await?;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);

    // Written before the admin was answered: every instance reads it at once.
    for instance in instance_urls() {
        let entries = audit_of(&instance, &admin, &format!("order:{order}")).await?;
        assert_eq!(entries.len(), 1, "{instance}: {entries:?}");
        assert_eq!(entries[0]["action"], "order.cancel");
        assert_eq!(entries[0]["request_id"], request_id.as_str());
        assert_eq!(
            entries[0]["diff"]["status"],
            json!({"from": "pending", "to": "cancelled"})
        );
    }
    let created = audit_of(&base, &admin, &format!("product:{product_id}")).await?;
    let actions: Vec<&str> = created
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"product.create"), "{created:?}");
    Ok(())
}

#[tokio::test]
async fn the_apis_database_role_cannot_update_delete_or_truncate_the_log() -> anyhow::Result<()> {
    let c = client();
    let base = nginx_url();
    let admin = admin_token(&c).await?;
    // At least one row to attack.
    create_product(
        &c,
        &base,
        &admin,
        &format!("Audit target {}", tag()),
        1,
        100,
    )
    .await?;
    // The connection the API itself uses (DATABASE_URL of the stack's .env).
    let db = database().await?;
    let count = || async {
        e2e::scalar_i64(&db, "SELECT count(*) FROM audit_log WHERE $1 = $1", "x")
            .await
            .map(|n| n.unwrap_or_default())
    };
    let before = count().await?;
    assert!(before >= 1);
    for (sql, params) in [
        (
            "UPDATE audit_log SET action = 'product.delete' WHERE $1 = $1",
            &["x"][..],
        ),
        ("DELETE FROM audit_log WHERE $1 = $1", &["x"][..]),
        ("TRUNCATE audit_log", &[][..]),
    ] {
        match execute(&db, sql, params).await {
            Ok(n) => panic!("{sql} was allowed ({n} rows)"),
            Err(err) => assert!(err.to_string().contains("append-only"), "{sql}: {err}"),
        }
    }
    assert_eq!(count().await?, before);
    Ok(())
}
