//! Command-line subcommands besides `serve`.

use crate::config::{
    Config, CreateServiceAdminArgs, CreateTenantArgs, GrantArgs, ImportGraphArgs, LoadCatalogArgs,
    SeedScaleArgs, SnapshotArgs, TokenCommand,
};
use crate::domain::enums::Role;
use crate::error::AppError;
use crate::service::access::tenants::{self, NewTenant};
use crate::service::graph::import::{self as graph_import, ImportDocuments, Importer};
use crate::service::history::snapshots;
use crate::{db, seed};
use anyhow::Context;

/// `securescore migrate`: apply pending migrations.
pub async fn migrate(config: Config) -> anyhow::Result<()> {
    let db = db::connect(&config).await?;
    db::migrate(&db).await?;
    println!("migrations applied");
    Ok(())
}

/// `securescore create-tenant`: a tenant and its first admin token.
pub async fn create_tenant(config: Config, args: CreateTenantArgs) -> anyhow::Result<()> {
    let db = db::connect(&config).await?;
    db::migrate(&db).await?;
    seed::catalog::load(&db).await?;
    let now = chrono::Utc::now();
    let new = NewTenant {
        slug: args.slug,
        name: args.name,
        industry: args.industry,
        seat_count: args.seats,
        active_user_count: args.seats,
        enabled_services: args.services,
    };
    let txn = crate::db::begin_write(&db).await?;
    let tenant = tenants::create(&txn, &new, now).await.map_err(into_anyhow)?;
    let principal = tenants::create_principal(&txn, &args.admin_name, "USER", now)
        .await
        .map_err(into_anyhow)?;
    tenants::grant_role(&txn, principal.id, tenant.id, Role::Admin, now)
        .await
        .map_err(into_anyhow)?;
    let (secret, _) = tenants::issue_token(&txn, principal.id, "first admin token", None, None, now)
        .await
        .map_err(into_anyhow)?;
    txn.commit().await.context("cannot create the tenant")?;
    println!("created tenant {} ({})", tenant.slug, tenant.name);
    println!("admin token (shown once, store it now): {secret}");
    Ok(())
}

/// `securescore create-service-admin`: a SERVICE_ADMIN principal and its token, printed once.
pub async fn create_service_admin(config: Config, args: CreateServiceAdminArgs) -> anyhow::Result<()> {
    let db = db::connect(&config).await?;
    db::migrate(&db).await?;
    seed::catalog::load(&db).await?;
    let txn = crate::db::begin_write(&db).await?;
    let (principal, secret) = tenants::create_service_admin(&txn, &args.name, chrono::Utc::now())
        .await
        .map_err(into_anyhow)?;
    txn.commit().await.context("cannot create the service admin")?;
    println!("created SERVICE_ADMIN {}", principal.name);
    println!("service admin token (shown once, store it now): {secret}");
    Ok(())
}

/// `securescore load-catalog`: upserts controls (and licence SKUs) from files into the service
/// catalog as the system, validated like the catalog mutations; nothing is written unless every
/// entry is valid.
pub async fn load_catalog(config: Config, args: LoadCatalogArgs) -> anyhow::Result<()> {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
    };
    let controls = crate::service::catalog::parse_controls(&read(&args.controls)?)
        .map_err(|e| anyhow::anyhow!("{}: {}", args.controls.display(), e.message()))?;
    let licenses = match &args.licenses {
        Some(path) => crate::service::catalog::parse_licenses(&read(path)?)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?,
        None => Vec::new(),
    };
    let db = db::connect(&config).await?;
    db::migrate(&db).await?;
    seed::catalog::load(&db).await?;
    let r = crate::service::catalog::load_entries(&db, &controls, &licenses, chrono::Utc::now())
        .await
        .map_err(into_anyhow)?;
    println!(
        "controls: {} created, {} updated, {} unchanged; licences: {} created, {} updated, {} unchanged; {} actions added to tenants",
        r.controls_created.len(),
        r.controls_updated.len(),
        r.controls_unchanged,
        r.licenses_created.len(),
        r.licenses_updated.len(),
        r.licenses_unchanged,
        r.actions_added
    );
    for (what, ids) in [
        ("created control", &r.controls_created),
        ("updated control", &r.controls_updated),
        ("created licence", &r.licenses_created),
        ("updated licence", &r.licenses_updated),
    ] {
        for id in ids {
            println!("{what}: {id}");
        }
    }
    Ok(())
}

/// `securescore snapshot`: snapshot one past day (default yesterday) or backfill a range, then
/// print what was written. Existing snapshots (computed or imported) are kept.
pub async fn snapshot(config: Config, args: SnapshotArgs) -> anyhow::Result<()> {
    let db = db::connect(&config).await?;
    db::migrate(&db).await?;
    let now = chrono::Utc::now();
    let yesterday = now.date_naive() - chrono::Days::new(1);
    let reports = match args.backfill_from {
        Some(from) => snapshots::backfill(&db, from, args.to.unwrap_or(yesterday), now)
            .await
            .map_err(into_anyhow)?,
        None => vec![
            snapshots::snapshot_day(&db, args.date.unwrap_or(yesterday), now)
                .await
                .map_err(into_anyhow)?,
        ],
    };
    for r in &reports {
        println!(
            "{}: {} snapshot(s) written, {} already present{}",
            r.day,
            r.written,
            r.existing,
            if r.aggregated {
                ", cohort aggregates updated"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// `securescore seed-scale`: the load-test data set (see `seed::scale`).
pub async fn seed_scale(config: Config, args: SeedScaleArgs) -> anyhow::Result<()> {
    let db = db::connect(&config).await?;
    db::migrate(&db).await?;
    seed::catalog::load(&db).await?;
    let opts = seed::scale::ScaleOptions {
        tenants: args.tenants,
        controls: args.controls,
        days: args.days,
        seed: args.seed,
        tokens_file: args.tokens_file,
    };
    let r = seed::scale::seed(&db, &opts, chrono::Utc::now()).await?;
    println!(
        "seeded {} tenants ({}…) × {} controls: {} actions, {} snapshots in {:.1} s",
        r.tenants,
        r.first_slug,
        r.controls,
        r.actions,
        r.snapshots,
        r.elapsed.as_secs_f64()
    );
    println!(
        "MSP token (OPERATOR on every scale tenant; shown once): {}",
        r.msp_token
    );
    Ok(())
}

/// The viewer the command line acts as (see `tenants::command_line_principal`).
async fn command_line_viewer(db: &sea_orm::DatabaseConnection) -> anyhow::Result<crate::auth::Viewer> {
    let principal = tenants::command_line_principal(db, chrono::Utc::now())
        .await
        .map_err(into_anyhow)?;
    Ok(crate::auth::Viewer::command_line(&principal))
}

/// `securescore token create|list|revoke`: a tenant's API tokens, with SERVICE_ADMIN rights and
/// the same rules, validation and audit rows as `createApiToken`, `apiTokens` and
/// `revokeApiToken`.
pub async fn token(config: Config, command: TokenCommand) -> anyhow::Result<()> {
    use crate::service::access::{self, NewApiToken};
    let db = db::connect(&config).await?;
    db::migrate(&db).await?;
    let viewer = command_line_viewer(&db).await?;
    let now = chrono::Utc::now();
    match command {
        TokenCommand::Create(args) => {
            let new = NewApiToken {
                principal_name: args.principal.unwrap_or_else(|| args.name.clone()),
                tenant_slug: args.tenant,
                role: args.role,
                name: args.name,
                expires_at: args.expires_at,
            };
            let (secret, info) = access::create_api_token(&db, &viewer, &new, now)
                .await
                .map_err(into_anyhow)?;
            println!(
                "created token {} \"{}\" for principal {} \"{}\" with role {} on {}",
                info.token.id,
                info.token.name,
                info.token.principal_id,
                info.principal_name,
                new.role.as_str(),
                new.tenant_slug
            );
            println!("token (shown once, store it now): {secret}");
        }
        TokenCommand::List(args) => {
            let tenant = tenants::managed_by_slug(&db, &viewer, &args.tenant)
                .await
                .map_err(into_anyhow)?;
            let tokens = access::api_tokens(&db, &viewer, tenant.id)
                .await
                .map_err(into_anyhow)?;
            println!("id\tprefix\tname\tprincipal\trole\tstate\tcreated\texpires\tlast used");
            let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map_or_else(|| "-".to_string(), |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            };
            for t in tokens {
                let state = if t.token.revoked_at.is_some() {
                    "revoked"
                } else if t.token.expires_at.is_some_and(|at| at <= now) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{}\t{}\t{}\t{} {}\t{}\t{}\t{}\t{}\t{}",
                    t.token.id,
                    t.token.token_prefix,
                    t.token.name,
                    t.token.principal_id,
                    t.principal_name,
                    t.role.map_or("-", |r| r.as_str()),
                    state,
                    time(Some(t.token.created_at)),
                    time(t.token.expires_at),
                    time(t.token.last_used_at)
                );
            }
        }
        TokenCommand::Revoke(args) => {
            let info = access::revoke_api_token(&db, &viewer, args.id, now)
                .await
                .map_err(into_anyhow)?;
            println!(
                "revoked token {} \"{}\" ({}) of principal {} \"{}\"",
                info.token.id,
                info.token.name,
                info.token.token_prefix,
                info.token.principal_id,
                info.principal_name
            );
        }
    }
    Ok(())
}

/// `securescore grant`: gives an existing principal a role on a tenant, or changes it (as
/// `grantRole`).
pub async fn grant(config: Config, args: GrantArgs) -> anyhow::Result<()> {
    let db = db::connect(&config).await?;
    db::migrate(&db).await?;
    let viewer = command_line_viewer(&db).await?;
    let (tenant, grant) = crate::service::access::grant_role(
        &db,
        &viewer,
        &args.tenant,
        args.principal,
        args.role,
        chrono::Utc::now(),
    )
    .await
    .map_err(into_anyhow)?;
    println!(
        "principal {} \"{}\" holds {} on {}",
        grant.principal_id,
        grant.principal_name,
        grant.role.as_str(),
        tenant.slug
    );
    Ok(())
}

/// Keeps the cause chain of internal errors and the message of user errors.
fn into_anyhow(err: AppError) -> anyhow::Error {
    match err {
        AppError::Internal(cause) | AppError::Unavailable(cause) => cause,
        other => anyhow::anyhow!(other.message()),
    }
}

/// Reads one import file, refusing files above the import limit before reading them.
fn read_document(path: &std::path::Path, field: &str, max_bytes: usize) -> anyhow::Result<serde_json::Value> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot read {field} file {}", path.display()))?
        .len();
    if len > max_bytes as u64 {
        anyhow::bail!(
            "{field} file {} is {len} bytes; at most {max_bytes} are accepted (IMPORT_MAX_BYTES)",
            path.display()
        );
    }
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read {field} file {}", path.display()))?;
    graph_import::parse_json(&bytes, field)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))
}

/// `securescore import-graph`: imports Graph exports from files as the system (whoever can run
/// the server's CLI against its database is trusted like the server itself).
pub async fn import_graph(config: Config, args: ImportGraphArgs) -> anyhow::Result<()> {
    let max = config.import_max_bytes;
    let secure_scores = read_document(&args.scores, "secureScores", max)?;
    let control_profiles = args
        .profiles
        .iter()
        .map(|p| read_document(p, "controlProfiles", max))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let db = db::connect(&config).await?;
    db::migrate(&db).await?;
    seed::catalog::load(&db).await?;
    let docs = ImportDocuments {
        secure_scores,
        control_profiles,
    };
    let report = graph_import::import(
        &db,
        Importer::System,
        &args.tenant,
        &docs,
        max,
        args.dry_run,
        chrono::Utc::now(),
    )
    .await
    .map_err(into_anyhow)?;
    print_report(&args.tenant, &report);
    Ok(())
}

fn print_report(slug: &str, r: &graph_import::ImportReport) {
    let verb = if r.dry_run { "would import" } else { "imported" };
    println!(
        "{verb} into {slug}: {} daily records, {} profiles{}",
        r.records,
        r.profiles,
        if r.changed() { "" } else { " (nothing changed)" }
    );
    println!(
        "controls: {} created, {} updated; actions: {} created, {} updated; notes: {}; snapshots: {}; benchmarks: {}; events: {}",
        r.controls_created,
        r.controls_updated,
        r.actions_created,
        r.actions_updated,
        r.notes_added,
        r.snapshots_written,
        r.benchmarks_written,
        r.events_written
    );
    for g in &r.gaps {
        println!("gap: {}: {}", g.control_id, g.message);
    }
    for d in &r.discrepancies {
        println!(
            "discrepancy {}: vendor {}/{} vs recomputed {}/{} (Σ controlScores {})",
            d.day,
            crate::domain::points::round2_decimal(d.vendor_current_score),
            crate::domain::points::round2_decimal(d.vendor_max_score),
            d.recomputed_current.round2(),
            d.recomputed_max.round2(),
            crate::domain::points::round2_decimal(d.control_scores_sum)
        );
    }
    for w in &r.warnings {
        println!("warning: {}: {}", w.path, w.message);
    }
}
