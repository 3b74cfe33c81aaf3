//! At process exit, waiting for the connections of dropped stores to finish closing.
//!
//! SQLCipher registers an exit handler (`atexit`) that frees its process-wide state: the
//! mask that shields keys in memory, its crypto provider, its mutexes. sqlx closes a
//! connection on that connection's worker thread, some time after the pool (or the task
//! holding the connection) was dropped. A process that exits meanwhile runs SQLCipher's
//! handler under a thread still reading or closing an encrypted file and crashes: a test
//! binary of the app ended with SIGSEGV (in `sqlcipher_page_hmac`) after all its tests had
//! passed; `tests/exit.rs` reproduces it.
//!
//! So each pool carries a token, held by a collation registered on every connection: SQLite
//! releases a connection's reference when it closes the connection (after its files and
//! their ciphers), and the pool's options hold one until the pool is gone. When the last
//! handle of a [`Store`](crate::Store) is dropped, the token's weak reference is listed
//! here, and a handler registered after SQLCipher's (exit handlers run in reverse order)
//! waits, at most [`EXIT_WAIT`], until every listed token is gone. Stores still open at
//! exit are not waited for: their idle connections run no SQLCipher code.
//!
//! Blocking in the drop instead does not work: closing a pool waits for connections that
//! are being returned by tasks of the runtime the drop would block.

use std::sync::{Arc, Mutex, Once, Weak};
use std::time::{Duration, Instant};

use sqlx::sqlite::SqliteConnectOptions;

/// Longest wait at exit (a connection kept by a task that never ends must not hang the
/// process).
const EXIT_WAIT: Duration = Duration::from_secs(3);

/// What a pool's connections and options hold while any of them is open.
#[derive(Debug)]
pub(crate) struct Token;

/// Tokens of dropped stores whose connections may still be closing.
static DROPPED: Mutex<Vec<Weak<Token>>> = Mutex::new(Vec::new());

/// Adds the token collation to `opts`: every connection made with them holds the token
/// until it is closed.
pub(crate) fn track(opts: SqliteConnectOptions) -> (SqliteConnectOptions, Weak<Token>) {
    let token = Arc::new(Token);
    let weak = Arc::downgrade(&token);
    // never used in a query: it only keeps the token alive
    let opts = opts.collation("icc_cierre", move |a: &str, b: &str| {
        let _ = &token;
        a.cmp(b)
    });
    (opts, weak)
}

/// Held by every clone of a store; dropped with the last one.
#[derive(Debug)]
pub(crate) struct OnDrop(pub(crate) Weak<Token>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        let mut dropped = DROPPED.lock().unwrap_or_else(|e| e.into_inner());
        dropped.retain(|w| w.strong_count() > 0);
        dropped.push(self.0.clone());
    }
}

/// Registers the exit handler, once per process. Called after a connection was opened, so
/// that SQLCipher's own handler (registered when SQLite first initialises) is already there
/// and runs after this one.
pub(crate) fn wait_at_exit() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: `atexit` only stores the pointer of a function with the C signature it
        // expects; `wait_for_dropped` never unwinds (it has no panicking call: the lock's
        // poison is taken as the value).
        #[allow(unsafe_code)]
        let failed = unsafe { libc::atexit(wait_for_dropped) } != 0;
        if failed {
            tracing::warn!("could not register the exit handler that waits for closing databases");
        }
    });
}

/// The exit handler: waits until the connections of every dropped store are closed.
extern "C" fn wait_for_dropped() {
    let deadline = Instant::now() + EXIT_WAIT;
    while Instant::now() < deadline {
        let open = DROPPED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|w| w.strong_count() > 0);
        if !open {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
