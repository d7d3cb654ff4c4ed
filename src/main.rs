//! `securescore`: thin entry point. Parses configuration, initialises tracing and hands over to
//! [`securescore::app`] (the same start-up path the tests use) or to a CLI subcommand.

use clap::Parser;
use securescore::config::{Cli, Command};
use std::process::ExitCode;

/// mimalloc instead of the system allocator: a GraphQL response is thousands of small
/// allocations, and under concurrent requests glibc's allocator spent a fifth of the server's
/// CPU in `malloc`/`free` and arena consolidation (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    securescore::telemetry::init_with(&cli.config.log_filter, cli.config.log_format);
    if let Err(message) = cli.config.validate() {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => securescore::app::serve(cli.config).await,
        Command::Migrate => securescore::cli::migrate(cli.config).await,
        Command::CreateTenant(args) => securescore::cli::create_tenant(cli.config, args).await,
        Command::CreateServiceAdmin(args) => securescore::cli::create_service_admin(cli.config, args).await,
        Command::LoadCatalog(args) => securescore::cli::load_catalog(cli.config, args).await,
        Command::Snapshot(args) => securescore::cli::snapshot(cli.config, args).await,
        Command::ImportGraph(args) => securescore::cli::import_graph(cli.config, args).await,
        Command::SeedScale(args) => securescore::cli::seed_scale(cli.config, args).await,
        Command::Token(command) => securescore::cli::token(cli.config, command).await,
        Command::Grant(args) => securescore::cli::grant(cli.config, args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line with the whole cause chain, never a panic or a backtrace.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
