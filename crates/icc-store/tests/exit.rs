//! A process that ends right after dropping its stores must end cleanly. SQLCipher frees its
//! process-wide state in an exit handler; connections still closing on sqlx's worker
//! threads at that moment crashed a test binary of the app with SIGSEGV after every test
//! had passed.
//!
//! The end of such a binary is made to happen many times here: the test runs itself as a
//! child process that opens several encrypted stores, reads them, drops them (as a test
//! does when it returns, without `close`) and exits at once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::Path;
use std::process::Command;

use icc_store::{DbKey, Store};

/// Set in the child: the folder of its databases.
const CHILD: &str = "ICC_STORE_EXIT_CHILD";
const TEST: &str = "a_process_ending_right_after_dropping_its_stores_ends_cleanly";
const RUNS: usize = 20;
const STORES: usize = 6;

#[test]
fn a_process_ending_right_after_dropping_its_stores_ends_cleanly() {
    if let Some(dir) = std::env::var_os(CHILD) {
        child(Path::new(&dir));
    }
    let me = std::env::current_exe().unwrap();
    for run in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new(&me)
            .args(["--exact", TEST, "--test-threads=1", "--quiet"])
            .env(CHILD, dir.path())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "run {run}: the process ended with {status} after dropping its stores"
        );
    }
}

/// Opens `STORES` encrypted stores, uses both connections of each, drops them all and
/// exits the process.
fn child(dir: &Path) -> ! {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut stores = Vec::new();
        for i in 0..STORES {
            let path = dir.join(format!("icc-{i}.db"));
            let store = Store::open_encrypted(&path, DbKey::new([i as u8 + 1; 32]))
                .await
                .unwrap();
            // two readers at once: both connections of the pool are open
            let (a, b) = tokio::join!(store.schema_version(), store.schema_version());
            assert_eq!(a.unwrap(), b.unwrap());
            stores.push(store);
        }
        drop(stores);
    });
    drop(rt);
    std::process::exit(0);
}
