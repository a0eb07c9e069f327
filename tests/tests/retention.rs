//! Retention (issue 17) against the running stack: `api retention` deletes exactly
//! what has outlived its purpose, and a due job runs once however many processes
//! race for it. The tests share the database (the jobs' rows, the relay's lock), so
//! they run one at a time.

use std::time::Duration;

use e2e::{api_output, database, execute, new_customer, scalar_i64};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use uuid::Uuid;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The outbox relay's advisory lock (`api::outbox::relay::RELAY_LOCK`, "outbox" in
/// ASCII). Holding it stops every instance's relay from publishing, so fixture rows
/// that look pending or parked are never sent to Kafka.
const RELAY_LOCK: i64 = 0x6f75_7462_6f78;

fn id() -> String {
    Uuid::new_v4().to_string()
}

async fn count(db: &DatabaseConnection, sql: &str, param: &str) -> anyhow::Result<i64> {
    Ok(scalar_i64(db, sql, param).await?.unwrap_or(-1))
}

/// The lines of `api` output that are not JSON log lines.
fn printed(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| !l.trim_start().starts_with('{'))
        .collect()
}

/// The fixture ids, by what should become of them.
#[derive(Default)]
struct Fixtures {
    outbox_gone: Vec<String>,
    outbox_kept: Vec<String>,
    processed_gone: Vec<String>,
    processed_kept: Vec<String>,
    keys_gone: Vec<String>,
    keys_kept: Vec<String>,
    tokens_gone: Vec<String>,
    tokens_kept: Vec<String>,
    letters_gone: Vec<String>,
    letters_kept: Vec<String>,
    runs_gone: Vec<String>,
    runs_kept: Vec<String>,
}

const CONSUMER: &str = "retention-test";

/// The tables `api retention` reports on.
const TABLES: [&str; 7] = [
    "outbox",
    "processed_events",
    "idempotency_keys",
    "refresh_tokens",
    "dead_letters",
    "scheduled_job_runs",
    "orders",
];

/// An outbox row of event `event`: published `published_ago` ago (`None`: not
/// published), parked if `parked`.
async fn outbox_row(
    db: &DatabaseConnection,
    event: &str,
    published_ago: Option<&str>,
    parked: bool,
) -> anyhow::Result<()> {
    execute(
        db,
        "INSERT INTO outbox (event_id, topic, message_key, payload, created_at, published_at,
                             attempts, next_attempt_at, failed_at)
         VALUES ($1::uuid, 'retention-test', $1, '{}'::jsonb,
                 CASE WHEN $2 = '' THEN now() ELSE now() - interval '40 days' END,
                 now() - NULLIF($2, '')::interval, 1,
                 CASE WHEN $2 = '' THEN 'infinity'::timestamptz ELSE now() END,
                 CASE WHEN $3 = 'parked' THEN now() - interval '30 days' END)",
        &[
            event,
            published_ago.unwrap_or(""),
            if parked { "parked" } else { "" },
        ],
    )
    .await?;
    Ok(())
}

async fn processed_row(db: &DatabaseConnection, event: &str, ago: &str) -> anyhow::Result<()> {
    execute(
        db,
        "INSERT INTO processed_events (consumer, event_id, processed_at)
         VALUES ($1, $2::uuid, now() - $3::interval)",
        &[CONSUMER, event, ago],
    )
    .await?;
    Ok(())
}

/// A refresh token of `email`'s user in `family`: created `created_ago` ago, expiring
/// `expires_in` from now (negative: in the past), rotated / revoked that long ago.
#[allow(
    clippy::too_many_arguments,
    reason = "one fixture row, every column named"
)]
async fn token(
    db: &DatabaseConnection,
    email: &str,
    token: &str,
    family: &str,
    created_ago: &str,
    expires_in: &str,
    used_ago: Option<&str>,
    revoked_ago: Option<&str>,
) -> anyhow::Result<()> {
    let inserted = execute(
        db,
        "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, created_at, expires_at,
                                     used_at, revoked_at, session_started_at)
         SELECT $2::uuid, u.id, $3::uuid,
                decode(md5(random()::text) || md5(random()::text), 'hex'),
                now() - $4::interval, now() + $5::interval,
                now() - NULLIF($6, '')::interval, now() - NULLIF($7, '')::interval,
                now() - $4::interval
         FROM users u WHERE u.email = $1",
        &[
            email,
            token,
            family,
            created_ago,
            expires_in,
            used_ago.unwrap_or(""),
            revoked_ago.unwrap_or(""),
        ],
    )
    .await?;
    anyhow::ensure!(inserted == 1, "no user {email}");
    Ok(())
}

async fn dead_letter(
    db: &DatabaseConnection,
    event: &str,
    replayed_ago: Option<&str>,
) -> anyhow::Result<String> {
    let offset = rand::random::<u32>().to_string();
    execute(
        db,
        "INSERT INTO dead_letters (consumer, original_topic, original_partition, original_offset,
                                   event_id, reason, created_at, replayed_at)
         VALUES ($1, 'retention-test', 0, $2::bigint, $3::uuid, 'retention fixture',
                 now() - interval '40 days', now() - NULLIF($4, '')::interval)",
        &[CONSUMER, &offset, event, replayed_ago.unwrap_or("")],
    )
    .await?;
    Ok(event.to_owned())
}

async fn job_run(db: &DatabaseConnection, started_ago: &str) -> anyhow::Result<String> {
    execute(
        db,
        "INSERT INTO scheduled_jobs (name) VALUES ('retention.scheduled_job_runs')
         ON CONFLICT DO NOTHING",
        &[],
    )
    .await?;
    let marker = format!("retention-test-{}", Uuid::new_v4().simple());
    execute(
        db,
        "INSERT INTO scheduled_job_runs (job, instance, started_at, finished_at, deleted)
         VALUES ('retention.scheduled_job_runs', $1, now() - $2::interval,
                 now() - $2::interval, 0)",
        &[&marker, started_ago],
    )
    .await?;
    Ok(marker)
}

/// Inserts every fixture; the caller holds the relay's lock.
async fn insert_fixtures(db: &DatabaseConnection, email: &str) -> anyhow::Result<Fixtures> {
    let mut f = Fixtures::default();

    // Outbox: published 30 days ago goes; published an hour ago, never published,
    // parked, or named by a dead letter not yet replayed stays.
    let old = id();
    outbox_row(db, &old, Some("30 days"), false).await?;
    f.outbox_gone.push(old);
    let fresh = id();
    outbox_row(db, &fresh, Some("1 hour"), false).await?;
    f.outbox_kept.push(fresh.clone());
    let pending = id();
    outbox_row(db, &pending, None, false).await?;
    f.outbox_kept.push(pending);
    let parked = id();
    outbox_row(db, &parked, None, true).await?;
    f.outbox_kept.push(parked);
    let awaiting_replay = id();
    outbox_row(db, &awaiting_replay, Some("30 days"), false).await?;
    f.outbox_kept.push(awaiting_replay.clone());

    // Processed events: 30 days old goes, unless the outbox still holds the event
    // (it may be published again); a fresh one stays.
    let old = id();
    processed_row(db, &old, "30 days").await?;
    f.processed_gone.push(old);
    let recent = id();
    processed_row(db, &recent, "1 hour").await?;
    f.processed_kept.push(recent);
    processed_row(db, &fresh, "30 days").await?;
    f.processed_kept.push(fresh);

    // Idempotency keys: expired goes, live stays.
    for (key, expired) in [(id(), true), (id(), false)] {
        execute(
            db,
            "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at, expires_at)
             SELECT u.id, $2, 'fixture', now() - interval '2 days',
                    CASE WHEN $3 = 'expired' THEN now() - interval '1 day'
                         ELSE now() + interval '1 day' END
             FROM users u WHERE u.email = $1",
            &[email, &key, if expired { "expired" } else { "live" }],
        )
        .await?;
        if expired {
            f.keys_gone.push(key);
        } else {
            f.keys_kept.push(key);
        }
    }

    // Refresh tokens, a family at a time.
    // Expired two days ago, alone in its family: goes.
    let t = id();
    token(db, email, &t, &id(), "40 days", "-2 days", None, None).await?;
    f.tokens_gone.push(t);
    // Live: stays.
    let t = id();
    token(db, email, &t, &id(), "1 hour", "30 days", None, None).await?;
    f.tokens_kept.push(t);
    // Rotated 20 days ago and expired since, but its successor lives: both stay
    // (presenting the rotated one must still revoke the session).
    let family = id();
    let rotated = id();
    token(
        db,
        email,
        &rotated,
        &family,
        "40 days",
        "-2 days",
        Some("20 days"),
        None,
    )
    .await?;
    let successor = id();
    token(
        db, email, &successor, &family, "20 days", "10 days", None, None,
    )
    .await?;
    f.tokens_kept.extend([rotated, successor]);
    // A session revoked two days ago (both its tokens): goes, though not expired.
    let family = id();
    let rotated = id();
    token(
        db,
        email,
        &rotated,
        &family,
        "10 days",
        "20 days",
        Some("5 days"),
        Some("2 days"),
    )
    .await?;
    let last = id();
    token(
        db,
        email,
        &last,
        &family,
        "5 days",
        "25 days",
        None,
        Some("2 days"),
    )
    .await?;
    f.tokens_gone.extend([rotated, last]);
    // Revoked an hour ago: stays for the day's grace.
    let t = id();
    token(
        db,
        email,
        &t,
        &id(),
        "10 days",
        "20 days",
        None,
        Some("1 hour"),
    )
    .await?;
    f.tokens_kept.push(t);
    // Expired an hour ago: stays for the day's grace.
    let t = id();
    token(db, email, &t, &id(), "30 days", "-1 hour", None, None).await?;
    f.tokens_kept.push(t);

    // Dead letters: replayed 40 days ago goes; replayed yesterday, or never, stays.
    f.letters_gone
        .push(dead_letter(db, &id(), Some("40 days")).await?);
    f.letters_kept
        .push(dead_letter(db, &id(), Some("1 day")).await?);
    f.letters_kept
        .push(dead_letter(db, &awaiting_replay, None).await?);

    // The jobs' history: 40 days old goes, yesterday's stays.
    f.runs_gone.push(job_run(db, "40 days").await?);
    f.runs_kept.push(job_run(db, "1 day").await?);
    Ok(f)
}

async fn check(db: &DatabaseConnection, f: &Fixtures) -> anyhow::Result<()> {
    let groups: [(&str, &[String], &[String]); 6] = [
        (
            "SELECT count(*) FROM outbox WHERE event_id = $1::uuid",
            &f.outbox_gone,
            &f.outbox_kept,
        ),
        (
            "SELECT count(*) FROM processed_events WHERE consumer = 'retention-test' AND event_id = $1::uuid",
            &f.processed_gone,
            &f.processed_kept,
        ),
        (
            "SELECT count(*) FROM idempotency_keys WHERE key = $1",
            &f.keys_gone,
            &f.keys_kept,
        ),
        (
            "SELECT count(*) FROM refresh_tokens WHERE id = $1::uuid",
            &f.tokens_gone,
            &f.tokens_kept,
        ),
        (
            "SELECT count(*) FROM dead_letters WHERE consumer = 'retention-test' AND event_id = $1::uuid",
            &f.letters_gone,
            &f.letters_kept,
        ),
        (
            "SELECT count(*) FROM scheduled_job_runs WHERE instance = $1",
            &f.runs_gone,
            &f.runs_kept,
        ),
    ];
    let mut wrong = Vec::new();
    for (sql, gone, kept) in groups {
        for id in gone {
            if count(db, sql, id).await? != 0 {
                wrong.push(format!("kept, should be gone: {id} ({sql})"));
            }
        }
        for id in kept {
            if count(db, sql, id).await? != 1 {
                wrong.push(format!("gone, should be kept: {id} ({sql})"));
            }
        }
    }
    anyhow::ensure!(wrong.is_empty(), "{}", wrong.join("\n"));
    Ok(())
}

async fn remove_fixtures(db: &DatabaseConnection, email: &str) -> anyhow::Result<()> {
    execute(
        db,
        "DELETE FROM dead_letters WHERE consumer = 'retention-test'",
        &[],
    )
    .await?;
    execute(db, "DELETE FROM outbox WHERE topic = 'retention-test'", &[]).await?;
    execute(
        db,
        "DELETE FROM processed_events WHERE consumer = 'retention-test'",
        &[],
    )
    .await?;
    execute(
        db,
        "DELETE FROM scheduled_job_runs WHERE instance LIKE 'retention-test-%'",
        &[],
    )
    .await?;
    execute(
        db,
        "DELETE FROM refresh_tokens WHERE user_id = (SELECT id FROM users WHERE email = $1)",
        &[email],
    )
    .await?;
    execute(
        db,
        "DELETE FROM idempotency_keys WHERE user_id = (SELECT id FROM users WHERE email = $1)",
        &[email],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_retention_run_deletes_exactly_what_has_outlived_its_purpose() -> anyhow::Result<()> {
    let _guard = ONE_AT_A_TIME.lock().await;
    let (_, _, email) = new_customer("retention").await?;
    let db = database().await?;

    // No relay publishes while rows that look pending or parked exist.
    let relay_lock = db.begin().await?;
    relay_lock
        .execute_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT pg_advisory_xact_lock({RELAY_LOCK})"),
        ))
        .await?;
    let outcome = async {
        let fixtures = insert_fixtures(&db, &email).await?;
        let stdout = api_output(&["retention"], &[]).await?;
        let report = printed(&stdout);
        println!("{}", report.join("\n"));
        let total: u64 = report
            .last()
            .and_then(|l| l.strip_prefix("deleted "))
            .and_then(|l| l.strip_suffix(" rows"))
            .unwrap_or_default()
            .parse()?;
        let doomed = fixtures.outbox_gone.len()
            + fixtures.processed_gone.len()
            + fixtures.keys_gone.len()
            + fixtures.tokens_gone.len()
            + fixtures.letters_gone.len()
            + fixtures.runs_gone.len();
        anyhow::ensure!(
            total >= doomed as u64,
            "deleted {total} rows, fewer than the {doomed} outlived fixtures"
        );
        for table in TABLES {
            anyhow::ensure!(
                report.iter().any(|l| l.starts_with(table)),
                "no line for {table}"
            );
        }
        check(&db, &fixtures).await
    }
    .await;
    let removed = remove_fixtures(&db, &email).await;
    relay_lock.commit().await?;
    outcome?;
    removed
}

#[tokio::test]
async fn a_due_job_runs_once_however_many_processes_race_for_it() -> anyhow::Result<()> {
    let _guard = ONE_AT_A_TIME.lock().await;
    const JOB: &str = "retention.dead_letters";
    let db = database().await?;
    execute(
        &db,
        "INSERT INTO scheduled_jobs (name) VALUES ($1) ON CONFLICT DO NOTHING",
        &[JOB],
    )
    .await?;
    let last_run = count(
        &db,
        "SELECT coalesce(max(id), 0) FROM scheduled_job_runs WHERE job = $1",
        JOB,
    )
    .await?;
    let runs_before = count(&db, "SELECT runs FROM scheduled_jobs WHERE name = $1", JOB).await?;
    // Due now: the 8 processes below and the stack's 4 instances may all try it.
    execute(
        &db,
        "UPDATE scheduled_jobs SET last_started_at = '-infinity' WHERE name = $1",
        &[JOB],
    )
    .await?;

    let ticks: Vec<_> = (0..8)
        .map(|_| api_output(&["jobs-tick"], &[("RETENTION_INTERVAL_SECONDS", "3600")]))
        .collect();
    let outputs = futures_util::future::try_join_all(ticks).await?;
    // Each prints `JOB OUTCOME DELETED` per job: `ran` (or `ran-with-error`) at most once.
    let ran_here = outputs
        .iter()
        .filter(|out| {
            printed(out)
                .iter()
                .any(|l| l.starts_with(&format!("{JOB} ran")))
        })
        .count();
    assert!(ran_here <= 1, "{ran_here} processes ran {JOB}: {outputs:?}");

    // A process, or an instance that won the race, ran it: wait until its run is
    // recorded as finished (an instance that found the lock taken by one of the
    // processes skipped it; one that holds it records the run within moments).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    let sql = format!(
        "SELECT count(*) FROM scheduled_job_runs WHERE job = $1 AND id > {last_run} AND finished_at IS NOT NULL"
    );
    while count(&db, &sql, JOB).await? == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nobody ran the due job {JOB}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let runs = count(
        &db,
        &format!("SELECT count(*) FROM scheduled_job_runs WHERE job = $1 AND id > {last_run}"),
        JOB,
    )
    .await?;
    assert_eq!(runs, 1, "runs of {JOB} recorded after it became due");
    let claimed = count(&db, "SELECT runs FROM scheduled_jobs WHERE name = $1", JOB).await?;
    assert_eq!(claimed, runs_before + 1, "claims of {JOB}");
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT instance, deleted, error FROM scheduled_job_runs WHERE job = '{JOB}' AND id > {last_run}"
            ),
        ))
        .await?;
    if let Some(row) = row {
        let instance: String = row.try_get("", "instance")?;
        let error: Option<String> = row.try_get("", "error")?;
        println!("{JOB} ran in {instance}");
        assert_eq!(error, None, "the run of {JOB} failed");
    }
    Ok(())
}
