//! The migration CLI: `cargo run -p migration --features cli -- up|down|status|fresh`.
//! Reads `DATABASE_URL` like the server does.

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(migration::Migrator).await;
}
