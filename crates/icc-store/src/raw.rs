//! Prepared-statement loops on the store's own connection, for bulk writes.
//!
//! sqlx binds every value of every statement through an owned argument buffer and a
//! message to its worker thread: cheap for the few statements of an edit, but most of the
//! cost of loading 100k invoices (measured: 3.1 s through multi-row `VALUES` against 0.5 s
//! for SQLite inserting the same rows natively). Here rusqlite borrows the connection sqlx
//! holds, inside the transaction sqlx opened, and binds straight from Rust values into
//! prepared statements reused for every row.
//!
//! One of the crate's two `unsafe` (the other registers an exit handler, `closing.rs`):
//! handing SQLite's connection pointer from one safe wrapper to another. Both wrap the
//! same `libsqlite3-sys`, so the pointer type is the same.

use sqlx::SqliteConnection;

use crate::{Result, StoreError};

/// Runs `f` with a rusqlite connection on `conn`'s SQLite handle, within whatever
/// transaction `conn` has open. `f` must not begin, commit or roll back (sqlx tracks the
/// transaction) and must not change connection settings.
///
/// # Errors
/// The connection's worker is gone, or `f`'s SQLite error.
pub(crate) async fn with_raw<R>(
    conn: &mut SqliteConnection,
    f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<R>,
) -> Result<R> {
    let mut locked = conn.lock_handle().await?;
    let handle = locked.as_raw_handle();
    // SAFETY: `handle` is the live connection sqlx opened; `locked` keeps sqlx's worker off
    // it (the worker waits on the same lock) until it is dropped, which happens after
    // `raw` (also when `f` panics: locals drop in reverse order), and there is no await in
    // between, so nothing else touches the handle while rusqlite uses it. A connection made
    // by `from_handle` is not owned: dropping it never closes the handle. Statements `f`
    // prepares borrow `raw`, so the borrow checker has them finalized (dropped) before
    // `raw` is, and `R` cannot hold one.
    #[allow(unsafe_code)]
    let raw = unsafe { rusqlite::Connection::from_handle(handle.as_ptr()) }.map_err(raw_err)?;
    let out = f(&raw).map_err(raw_err);
    drop(raw);
    drop(locked);
    out
}

/// A rusqlite error as the store's: SQLite's message, as sqlx would have reported it (its
/// code is not kept: nothing written through here is expected to conflict, so no caller
/// needs to tell a unique violation or a busy database apart).
fn raw_err(e: rusqlite::Error) -> StoreError {
    StoreError::Raw(e.to_string())
}

/// Binds one multi-row statement's values in order ([`insert_many`]).
pub(crate) struct Binder<'s, 'c> {
    stmt: &'s mut rusqlite::Statement<'c>,
    next: usize,
}

impl Binder<'_, '_> {
    /// Binds the next value.
    pub(crate) fn bind(&mut self, v: impl rusqlite::ToSql) -> rusqlite::Result<&mut Self> {
        self.next += 1;
        self.stmt.raw_bind_parameter(self.next, v)?;
        Ok(self)
    }
}

/// Most rows one statement of [`insert_many`] carries. SQLite opens a statement's cursors
/// once per execution, but measured on 100k invoices (an import, a first pull) 1, 8, 32,
/// 64 and 256 rows a statement were within the noise of these machines: the binding was
/// the cost, not the statements.
const ROWS_PER_STATEMENT: usize = 64;

/// Runs `head VALUES (?, …), (?, …) … tail` over `n` rows, many rows a statement: `bind`
/// binds the `cols` values of row `i` in column order, and `returned` sees every row the
/// statements return (with a `RETURNING` in `tail`).
///
/// # Errors
/// SQLite's.
pub(crate) fn insert_many(
    c: &rusqlite::Connection,
    head: &str,
    cols: usize,
    tail: &str,
    n: usize,
    mut bind: impl FnMut(&mut Binder<'_, '_>, usize) -> rusqlite::Result<()>,
    mut returned: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    // SQLite's limit of bound values a statement (32,766) caps the rows
    let per = ROWS_PER_STATEMENT.min(32_766 / cols.max(1)).max(1);
    let sql = |rows: usize| {
        let one = format!("({})", vec!["?"; cols].join(", "));
        format!("{head} VALUES {} {tail}", vec![one; rows].join(", "))
    };
    let mut full: Option<rusqlite::Statement<'_>> = None;
    let mut start = 0;
    while start < n {
        let rows = per.min(n - start);
        let mut partial;
        let stmt = if rows == per {
            match &mut full {
                Some(s) => s,
                None => full.insert(c.prepare(&sql(rows))?),
            }
        } else {
            partial = c.prepare(&sql(rows))?;
            &mut partial
        };
        let mut b = Binder { stmt, next: 0 };
        for i in start..start + rows {
            bind(&mut b, i)?;
        }
        // a reused statement keeps the values bound last time: every one must be rebound
        if b.next != rows * cols {
            return Err(rusqlite::Error::InvalidParameterCount(b.next, rows * cols));
        }
        let mut out = stmt.raw_query();
        while let Some(row) = out.next()? {
            returned(row)?;
        }
        start += rows;
    }
    Ok(())
}
