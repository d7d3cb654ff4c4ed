//! Build script: tells the test suite whether PostgreSQL variants can run. With
//! `TEST_DATABASE_URL` set, the `postgres_tests` cfg is on and every PostgreSQL variant runs;
//! without it those tests are compiled as `#[ignore]`d, so `cargo test` reports them as ignored
//! rather than as passed. Cargo re-runs this (and rebuilds the tests) when the variable changes.

fn main() {
    println!("cargo::rerun-if-env-changed=TEST_DATABASE_URL");
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
}
