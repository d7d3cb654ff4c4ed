//! The first start: demo tenants with history and working tokens, nothing seeded twice, the
//! tokens saved for later starts, and configuration mistakes reported as one line.

use crate::helpers::*;
use chrono::{Days, Utc};
use entity::{
    action_event, action_tag, improvement_action, note, score_snapshot, tag, tenant, tenant_license,
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use securescore::app::App;
use securescore::config::Config;
use securescore::domain::enums::Status;
use securescore::domain::points::Points;
use securescore::domain::{SeatBand, to_storage};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The named demo tenants, without the anonymous peer organisations (`peer-…`) seeded beside
/// them for comparisons.
async fn demo_tenants(app: &TestApp) -> Vec<tenant::Model> {
    tenant::Entity::find()
        .filter(tenant::Column::Slug.not_like("peer-%"))
        .order_by_asc(tenant::Column::Id)
        .all(&app.db)
        .await
        .unwrap()
}

crate::demo_test!(
    the_demo_has_tenants_of_every_size_with_every_status_and_90_days_of_history,
    |app, _tokens| {
        let tenants = demo_tenants(&app).await;
        assert!(tenants.len() >= 6, "{} demo tenants", tenants.len());
        let industries: BTreeSet<&str> = tenants.iter().map(|t| t.industry.as_str()).collect();
        for wanted in [
            "finance",
            "healthcare",
            "technology",
            "retail",
            "manufacturing",
            "education",
        ] {
            assert!(
                industries.contains(wanted),
                "no {wanted} tenant in {industries:?}"
            );
        }
        let bands: BTreeSet<&str> = tenants
            .iter()
            .map(|t| SeatBand::of(t.seat_count).as_str())
            .collect();
        assert_eq!(bands.len(), 6, "one tenant per seat band: {bands:?}");

        let today = Utc::now().date_naive();
        for t in &tenants {
            let actions = improvement_action::Entity::find()
                .filter(improvement_action::Column::TenantId.eq(t.id))
                .all(&app.db)
                .await
                .unwrap();
            for status in Status::ALL {
                assert!(
                    actions.iter().any(|a| a.status == status),
                    "{} has no {status} action",
                    t.slug
                );
            }
            for a in &actions {
                assert_eq!(
                    a.status == Status::Completed,
                    a.total > 0 && a.implemented == a.total,
                    "{} {}: COMPLETED means all of total implemented ({}/{})",
                    t.slug,
                    a.control_id,
                    a.implemented,
                    a.total
                );
                assert!(a.implementation_status.is_some(), "{} {}", t.slug, a.control_id);
            }
            assert!(
                actions
                    .iter()
                    .any(|a| a.implemented > 0 && a.implemented < a.total),
                "{} shows partial progress",
                t.slug
            );

            let snapshots = score_snapshot::Entity::find()
                .filter(score_snapshot::Column::TenantId.eq(t.id))
                .order_by_asc(score_snapshot::Column::Day)
                .all(&app.db)
                .await
                .unwrap();
            assert_eq!(snapshots.len(), 90, "{}: 90 daily snapshots", t.slug);
            assert_eq!(snapshots[0].day, today - Days::new(90), "{}: oldest", t.slug);
            assert_eq!(
                snapshots[89].day,
                today - Days::new(1),
                "{}: newest is yesterday",
                t.slug
            );
            for s in &snapshots {
                assert_eq!(s.source, "COMPUTED");
                assert!(
                    0 <= s.verified
                        && s.verified <= s.current
                        && s.current <= s.achievable
                        && s.achievable <= s.current_license
                        && s.current_license <= s.max_score
                        && s.current <= s.planned
                        && s.planned <= s.max_score,
                    "{} {}: score views out of order: {s:?}",
                    t.slug,
                    s.day
                );
                assert_eq!(s.categories.0.len(), 5, "every category");
                // The exact figures add up exactly; the integer columns are each rounded to
                // ten-thousandths, so their sum is within half a unit per category.
                let exact = s.exact.as_ref().expect("a computed day keeps exact figures");
                let current = |v: &[String; 6]| v[1].parse::<Points>().expect("exact points");
                assert_eq!(
                    exact.categories.values().map(current).sum::<Points>(),
                    current(&exact.overall),
                    "categories add up exactly"
                );
                assert_eq!(current(&exact.overall).to_storage(), s.current, "rounded column");
                let rounded_sum = s.categories.0.iter().map(|c| c.current).sum::<i64>();
                assert!(
                    (rounded_sum - s.current).abs() <= 2,
                    "categories add up within rounding"
                );
                assert_eq!(s.status_counts.0.values().sum::<i64>(), actions.len() as i64);
            }
            assert!(
                snapshots[89].current > snapshots[0].current,
                "{}: the score trends upwards ({} → {})",
                t.slug,
                snapshots[0].current,
                snapshots[89].current
            );
            assert!(
                snapshots.windows(2).any(|w| w[1].current < w[0].current),
                "{}: at least one dip",
                t.slug
            );

            // Nothing changed today, so the live score equals yesterday's snapshot.
            let live = securescore::service::state::load(&app.db, t.clone(), Utc::now())
                .await
                .unwrap();
            assert_eq!(
                to_storage(&live.score.overall.current),
                snapshots[89].current,
                "{}",
                t.slug
            );
            assert_eq!(
                to_storage(&live.score.overall.max_score),
                snapshots[89].max_score,
                "{}",
                t.slug
            );
            for status in Status::ALL {
                let rows = actions.iter().filter(|a| a.status == status).count() as i64;
                assert_eq!(
                    snapshots[89].status_counts.0.get(status.as_str()).copied(),
                    Some(rows),
                    "{}: yesterday's {status} count is today's",
                    t.slug
                );
            }

            for (what, n) in [
                (
                    "notes",
                    note::Entity::find()
                        .filter(note::Column::TenantId.eq(t.id))
                        .count(&app.db)
                        .await
                        .unwrap(),
                ),
                (
                    "tags",
                    tag::Entity::find()
                        .filter(tag::Column::TenantId.eq(t.id))
                        .count(&app.db)
                        .await
                        .unwrap(),
                ),
                (
                    "events",
                    action_event::Entity::find()
                        .filter(action_event::Column::TenantId.eq(t.id))
                        .count(&app.db)
                        .await
                        .unwrap(),
                ),
            ] {
                assert!(n > 0, "{} has no {what}", t.slug);
            }
        }
        assert!(
            action_tag::Entity::find().count(&app.db).await.unwrap() > 0,
            "tags are attached"
        );
        let licences = tenant_license::Entity::find().all(&app.db).await.unwrap();
        let now = Utc::now();
        assert!(
            licences.iter().any(|l| l.expires_at.is_some_and(|at| at < now)),
            "one licence has expired"
        );
        assert!(
            action_event::Entity::find()
                .filter(action_event::Column::Kind.eq("REGRESSED"))
                .count(&app.db)
                .await
                .unwrap()
                > 0,
            "the history has regressions"
        );
    }
);

crate::demo_test!(
    the_printed_tokens_work_for_their_roles_and_the_msp_reads_every_demo_tenant,
    |app, tokens| {
        let roles = |token: &str| {
            app.query_viewer(token, "tenants { role tenant { slug } }")
                .payload()
        };
        for (token, role) in [
            (&tokens.reader, "READER"),
            (&tokens.operator, "OPERATOR"),
            (&tokens.admin, "ADMIN"),
        ] {
            let viewer = roles(token).await;
            assert_eq!(
                viewer["tenants"],
                json!([{ "role": role, "tenant": { "slug": tokens.tenant_slug } }]),
                "the {role} token"
            );
        }
        let viewer = roles(&tokens.msp).await;
        let seen: BTreeSet<String> = viewer["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .inspect(|t| assert_eq!(t["role"], "READER"))
            .map(|t| t["tenant"]["slug"].as_str().unwrap().to_string())
            .collect();
        let all: BTreeSet<String> = demo_tenants(&app).await.into_iter().map(|t| t.slug).collect();
        assert_eq!(seen, all, "the MSP reads every demo tenant");
        assert!(
            tokens.banner().contains(&tokens.admin),
            "the banner shows the tokens"
        );

        // The SERVICE_ADMIN holds no tenant role but may create tenants, which no other demo
        // token may.
        assert!(tokens.banner().contains(&tokens.service_admin));
        let me = roles(&tokens.service_admin).await;
        assert_eq!(me["tenants"], json!([]), "{me}");
        let create = |token: &str| {
            let input = json!({ "slug": "demo-new", "name": "New" });
            app.create_tenant(token, input, "tenant { slug } userErrors { code }")
        };
        for token in [&tokens.admin, &tokens.msp] {
            let refused = create(token).await;
            assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"), "{refused}");
        }
        let created = create(&tokens.service_admin).payload().await;
        assert_eq!(created["tenant"]["slug"], "demo-new", "{created}");
    }
);

const DEMO_COMPARE: &str = "day cohorts { kind suppressedReason figures { size meanPercentage } \
     excludedCells { industry } }";

crate::demo_test!(
    comparisons_show_figures_for_every_demo_tenant_thanks_to_unreadable_peer_organisations,
    |app, tokens| {
        // The peers: anonymous tenants in the cell of every demo tenant, readable by no token.
        let demo = demo_tenants(&app).await;
        assert_eq!(demo.len(), 8, "eight demo tenants");
        let peers: Vec<tenant::Model> = tenant::Entity::find()
            .filter(tenant::Column::Slug.like("peer-%"))
            .all(&app.db)
            .await
            .unwrap();
        let today = Utc::now().date_naive();
        for t in &demo {
            let same_cell = peers
                .iter()
                .filter(|p| {
                    p.industry == t.industry && SeatBand::of(p.seat_count) == SeatBand::of(t.seat_count)
                })
                .count();
            assert!(
                same_cell >= 5,
                "{}: {same_cell} peers of its industry and size",
                t.slug
            );
        }
        for p in &peers {
            let snapshots = score_snapshot::Entity::find()
                .filter(score_snapshot::Column::TenantId.eq(p.id))
                .count(&app.db)
                .await
                .unwrap();
            assert_eq!(snapshots, 90, "{}: the same history as the demo tenants", p.slug);
        }
        let mut percentages: Vec<i64> = Vec::new();
        for p in &peers {
            let yesterday = score_snapshot::Entity::find()
                .filter(score_snapshot::Column::TenantId.eq(p.id))
                .filter(score_snapshot::Column::Day.eq(today - Days::new(1)))
                .one(&app.db)
                .await
                .unwrap()
                .expect("yesterday's snapshot");
            percentages.push(yesterday.current * 100 / yesterday.max_score.max(1));
        }
        percentages.sort();
        assert!(
            percentages.last().unwrap() - percentages.first().unwrap() >= 20,
            "peers' scores vary: {percentages:?}"
        );

        let viewer = app
            .query_viewer(&tokens.msp, "tenants { tenant { slug } }")
            .payload()
            .await;
        let seen: BTreeSet<&str> = viewer["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["tenant"]["slug"].as_str().unwrap())
            .collect();
        let expected: BTreeSet<&str> = demo.iter().map(|t| t.slug.as_str()).collect();
        assert_eq!(seen, expected, "the MSP lists the demo tenants only");
        for token in [&tokens.msp, &tokens.reader, &tokens.admin, &tokens.service_admin] {
            let body = app.query_tenant(token, "peer-001", "slug name").await;
            assert_eq!(body["data"]["tenant"], serde_json::Value::Null, "{body}");
            assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"), "{body}");
        }

        // Every demo tenant for the MSP (which reads them all), the main one for its own reader.
        let mut asks: Vec<(&str, &str)> = demo
            .iter()
            .map(|t| (tokens.msp.as_str(), t.slug.as_str()))
            .collect();
        asks.push((tokens.reader.as_str(), tokens.tenant_slug.as_str()));
        for (token, slug) in asks {
            let days = app
                .query_comparisons(
                    token,
                    slug,
                    today - Days::new(7),
                    today,
                    Value::Null,
                    DEMO_COMPARE,
                )
                .payload()
                .await;
            let days = days.as_array().expect("days");
            assert_eq!(days.len(), 8, "{slug}: the last 7 days and today");
            for d in days {
                let kinds: Vec<&str> = d["cohorts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["kind"].as_str().unwrap())
                    .collect();
                assert_eq!(kinds, ["ALL_TENANTS", "SIMILAR_SIZE", "SAME_INDUSTRY"], "{slug}");
                for c in d["cohorts"].as_array().unwrap() {
                    if d["day"] == today.to_string() {
                        // Today is not over: no snapshots yet, whatever the cohort (not a
                        // privacy suppression).
                        assert_eq!(c["suppressedReason"], "NO_DATA", "{slug} today: {c}");
                        continue;
                    }
                    assert_eq!(
                        c["suppressedReason"],
                        serde_json::Value::Null,
                        "{slug} {}: {c}",
                        d["day"]
                    );
                    assert!(
                        c["figures"]["size"].is_number(),
                        "{slug} {}: figures: {c}",
                        d["day"]
                    );
                    let mean = c["figures"]["meanPercentage"].as_f64().expect("mean");
                    assert!((0.0..=100.0).contains(&mean), "{slug}: {mean}");
                }
            }
        }
    }
);

crate::demo_test!(
    a_second_start_on_the_same_database_seeds_nothing,
    |app, _tokens| {
        let before = tenant::Entity::find().count(&app.db).await.unwrap();
        let snapshots = score_snapshot::Entity::find().count(&app.db).await.unwrap();
        let mut config = Config::for_database(app.database_url.clone());
        config.db_max_connections = Some(2);
        config.seed_demo = true;
        let again = App::build(config).await.expect("second start");
        assert!(again.demo_tokens.is_none(), "no new tokens on a second start");
        assert_eq!(tenant::Entity::find().count(&app.db).await.unwrap(), before);
        assert_eq!(
            score_snapshot::Entity::find().count(&app.db).await.unwrap(),
            snapshots
        );
    }
);

/// Runs the built binary with `args` and returns (exit code, stderr).
fn run_binary(args: &[&str], dir: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_securescore"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("LISTEN_ADDR")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_database_url_or_listen_address_exits_non_zero_with_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("x.db").display());
    let cases: [(&[&str], &str); 4] = [
        (&["--database-url", "mysql://x"], "DATABASE_URL"),
        (
            &["--database-url", "sqlite:///nonexistent-dir/x.db"],
            "DATABASE_URL",
        ),
        (&["--listen-addr", "999.1.1.1:1"], "listen-addr"),
        // A well-formed address this machine doesn't have: binding fails after the database is up.
        (
            &[
                "--database-url",
                &db,
                "--seed-demo",
                "false",
                "--listen-addr",
                "192.0.2.1:1",
            ],
            "LISTEN_ADDR",
        ),
    ];
    for (args, names) in cases {
        let (code, stderr) = run_binary(args, dir.path());
        assert!(code.is_some_and(|c| c != 0), "{args:?}: exit code {code:?}");
        assert!(stderr.starts_with("error:"), "{args:?}: stderr {stderr:?}");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.contains(names),
            "{args:?}: the first line names {names}: {first:?}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert!(
        !dir.path().join("securescore.db").exists(),
        "a failed start creates no default database"
    );
}

/// Reads the server's stdout until a line contains `marker` (or two minutes pass, so a missing
/// line fails the test instead of hanging it), then stops the server; returns what it printed.
fn read_until_then_stop(mut child: Child, marker: &str) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = String::new();
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(marker) {
            break;
        }
    }
    child.kill().ok();
    child.wait().ok();
    seen
}

#[test]
fn the_first_start_saves_the_demo_tokens_and_later_starts_show_where() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("demo.db").display());
    let file = dir.path().join("tokens.txt");
    let start = |marker: &str| {
        let child = Command::new(env!("CARGO_BIN_EXE_securescore"))
            .args([
                "--database-url",
                &db,
                "--listen-addr",
                "127.0.0.1:0",
                "--log-filter",
                "warn",
            ])
            .env("DEMO_TOKENS_FILE", &file)
            .env_remove("SEED_DEMO")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        read_until_then_stop(child, marker)
    };

    let first = start("also saved in");
    assert!(
        first.contains("ADMIN    ssk_"),
        "the first start prints the tokens: {first}"
    );
    assert!(
        first
            .lines()
            .any(|l| l.trim_start().starts_with("SERVICE_ADMIN") && l.contains("ssk_")),
        "and a SERVICE_ADMIN token: {first}"
    );
    let saved = std::fs::read_to_string(&file).expect("tokens saved");
    assert!(
        first.contains(saved.trim_end()),
        "the file holds what was printed: {saved}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "only the owner may read the tokens");
    }

    let second = start("Use one as the header");
    assert!(
        second.contains(&format!(
            "demo tokens were printed on first start and saved in {}",
            file.display()
        )),
        "{second}"
    );
    assert!(second.contains(saved.trim_end()), "{second}");
}
