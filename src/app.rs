//! One start-up path shared by `main` and the tests: [`App::build`] connects and migrates the
//! database, seeds it, binds the listener and assembles the router; [`App::run_until_stopped`]
//! serves until SIGINT/SIGTERM (or the given shutdown future) and drains in-flight requests
//! (the serve loop and its timeouts are in [`crate::http::serve`]).

use crate::config::Config;
use crate::graphql;
use crate::http::AppState;
use crate::{db, http, seed};
use anyhow::Context;
use sea_orm::DatabaseConnection;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Principals whose grants a server keeps in memory (a few hundred bytes each, plus 16 bytes per
/// grant).
const GRANTS_CACHE_PRINCIPALS: usize = 10_000;

/// A built server: database ready, listener bound.
pub struct App {
    listener: TcpListener,
    state: AppState,
    /// Tokens printed for the demo tenant when this start seeded demo data.
    pub demo_tokens: Option<seed::DemoTokens>,
    /// Feeds committed changes to the subscriptions; stops when the app is dropped.
    watcher: crate::service::notify::Watcher,
    /// Set to `true` when shutting down (WebSockets watch it through `AppState::shutdown`).
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl App {
    /// Connects, migrates, seeds and binds.
    pub async fn build(config: Config) -> anyhow::Result<App> {
        let db = db::connect(&config).await?;
        App::build_with_db(config, db).await
    }

    /// Like [`App::build`] on a connection made by the caller (with [`db::connect`]), e.g. one
    /// with a metric callback that counts SQL statements in a test.
    pub async fn build_with_db(config: Config, db: DatabaseConnection) -> anyhow::Result<App> {
        db::migrate(&db).await?;
        seed::catalog::load(&db)
            .await
            .context("loading the control catalog failed")?;
        let demo_tokens = if config.seed_demo {
            seed::demo::seed_if_empty(&db, chrono::Utc::now())
                .await
                .context("seeding demo data failed")?
        } else {
            None
        };
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .with_context(|| format!("cannot listen on LISTEN_ADDR {}", config.listen_addr))?;
        // Listening before the app is returned: a change committed once `build` returns reaches
        // the subscriptions of this app.
        let (hub, watcher) = crate::service::notify::start(&db)
            .await
            .context("starting the change watcher failed")?;
        crate::metrics::init();
        let config = Arc::new(config);
        let grants = Arc::new(crate::auth::GrantsCache::new(GRANTS_CACHE_PRINCIPALS));
        let states = crate::service::state::States::new(
            db.clone(),
            config.state_cache_mib * 1024 * 1024,
            Arc::new(|db, tenant_id, now| {
                Box::pin(
                    async move { crate::service::workflow::expire_due_for_tenant(&db, tenant_id, now).await },
                )
            }),
        );
        let schema = graphql::build_schema(db.clone(), config.clone(), hub, grants.clone(), states.clone());
        let api = graphql::Pipeline::new(schema, &config);
        let shutdown = tokio::sync::watch::Sender::new(false);
        Ok(App {
            listener,
            state: AppState {
                db,
                config,
                api,
                grants,
                states,
                shutdown: shutdown.subscribe(),
            },
            shutdown,
            demo_tokens,
            watcher,
        })
    }

    /// The bound address (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    /// The database connection (for tools and tests that prepare data).
    pub fn db(&self) -> &DatabaseConnection {
        &self.state.db
    }

    /// Serves until `shutdown` completes, then finishes the requests in progress for at most
    /// `SHUTDOWN_DRAIN_MS` (see [`http::serve`]).
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let jobs = if self.state.config.background_jobs {
            Some(Jobs::start(&self.state.db, &self.state.config).await)
        } else {
            tracing::info!(
                "background jobs are off (BACKGROUND_JOBS=false): sweeps, snapshots, Graph sync and webhook delivery are left to other processes"
            );
            None
        };
        let upkeep = crate::metrics::spawn_upkeep();
        let watcher = self.watcher;
        let limits = http::serve::Limits::from_config(&self.state.config);
        let router = http::router(self.state);
        http::serve::serve(self.listener, router, limits, self.shutdown, shutdown).await;
        upkeep.abort();
        if let Some(jobs) = jobs {
            jobs.stop().await;
        }
        drop(watcher);
        Ok(())
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// `securescore serve`: build, print how to start, serve.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    let addr = app.local_addr();
    // Without PUBLIC_BASE_URL, link to the bound address: with port 0 the configured one is wrong.
    let base = match app.state.config.public_base_url {
        Some(_) => app.state.config.public_base_url(),
        None => format!("http://{addr}"),
    };
    tracing::info!(%addr, "listening");
    println!("securescore is listening on http://{addr}");
    println!("Dashboard: {base}/");
    println!("GraphQL playground: {base}/graphql");
    let tokens_file = &app.state.config.demo_tokens_file;
    if let Some(tokens) = &app.demo_tokens {
        println!("{}", tokens.banner());
        // The tokens are on screen already, so a file that can't be written is no reason to stop.
        match tokens.save(tokens_file) {
            Ok(()) => println!("(also saved in {})", tokens_file.display()),
            Err(err) => tracing::warn!("{err:#}"),
        }
    } else if app.state.config.seed_demo
        && let Some(notice) = seed::saved_tokens_notice(tokens_file)
    {
        println!("{notice}");
    }
    app.run_until_stopped().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

/// The background jobs of a process (`BACKGROUND_JOBS`); each coordinates with the same job in
/// other processes through the database.
struct Jobs {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    webhooks: crate::service::webhooks::deliver::Worker,
}

impl Jobs {
    /// Starts them; the first expiry and reminder sweeps complete before this returns, so a
    /// process serves nothing that is already due.
    async fn start(db: &DatabaseConnection, config: &Config) -> Self {
        // Expiry is also applied on every read and write; the sweep keeps history and
        // snapshots timely for tenants nobody looks at.
        let mut tasks = vec![
            crate::service::workflow::start_expiry_sweep(db.clone(), std::time::Duration::from_secs(60))
                .await,
            crate::service::workflow::risk::start_reminder_sweep(
                db.clone(),
                crate::service::workflow::risk::REMINDER_SWEEP_EVERY,
            )
            .await,
        ];
        tasks.extend(crate::service::graph::sync::spawn(db.clone(), config));
        // Snapshots of the days that ended; the job's lease makes it safe to run in every process.
        if config.snapshot_interval_secs > 0 {
            tasks.push(crate::service::history::snapshots::spawn_snapshot_job(
                db.clone(),
                std::time::Duration::from_secs(config.snapshot_interval_secs),
                config.snapshot_retention_days,
            ));
        }
        let webhooks = crate::service::webhooks::deliver::spawn(
            db.clone(),
            crate::service::webhooks::Settings::from_config(config),
        );
        Jobs { tasks, webhooks }
    }

    /// Stops them; the webhook worker gives up its leases so another process delivers at once.
    async fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
        self.webhooks.stop().await;
    }
}
