//! `icc-bench sync`: the sync server and clients on loopback against the real PostgreSQL.
//!
//! * the first sync of N invoices (push, and the pull of the same ops back) against a
//!   PostgreSQL `COPY` of the same documents into a table, in the same run;
//! * an incremental sync of one change on that database against the same on a database of
//!   one invoice;
//! * C clients editing and syncing concurrently for S seconds: syncs, errors, p50/p99.
//!
//! Needs the OS keyring (run inside `scripts/with-keyring`) and `ICC_TEST_DATABASE_URL` or a
//! PostgreSQL on 127.0.0.1:5432.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use icc_app::{App, AssignmentChange, Session};
use icc_core::Role;

const PW: &str = "caballo correcto batería grapa";
const SERVER_PW: &str = "Moldaje-Andamio-Losa-2026";

use icc_server::testing::TestServer as Server;

async fn server(clients: usize) -> Server {
    let names: Vec<String> = (0..clients.max(1)).map(|i| format!("bench{i}")).collect();
    let users: Vec<(&str, Role, &[&str])> = names
        .iter()
        .map(|n| (n.as_str(), Role::Contabilidad, &[][..]))
        .collect();
    Server::start(&users, SERVER_PW).await
}

async fn laptop(
    srv: &Server,
    user: &str,
    invoices: u64,
) -> Result<(tempfile::TempDir, App, Session)> {
    let dir = tempfile::tempdir()?;
    let app = App::open(dir.path()).await?;
    let s = app.init("admin", PW).await?;
    app.seed(invoices, 7, &mut |_, _| true).await?;
    app.login_server(&s, &srv.url, user, SERVER_PW).await?;
    Ok((dir, app, s))
}

async fn first_key(app: &App, s: &Session) -> Result<String> {
    let p = app.list_invoices(s, Default::default(), 1, None).await?;
    let r = p.items.first().context("no invoice")?;
    Ok(format!("{}:{}:{}", r.rut_emisor, r.tipo_dte, r.folio))
}

async fn one_change_sync(app: &App, s: &Session, key: &str, i: usize) -> Result<f64> {
    app.set_invoice_fields(
        s,
        key,
        AssignmentChange {
            glosa: Some(Some(format!("cambio {i}"))),
            ..Default::default()
        },
    )
    .await?;
    let t = Instant::now();
    app.sync(s).await?;
    Ok(t.elapsed().as_secs_f64())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

/// Runs the benchmark and returns its Markdown section.
pub async fn run(n: u64, clients: usize, secs: u64) -> Result<String> {
    // 1. first sync of n invoices vs COPY of the same documents
    let srv = server(clients).await;
    let (_d1, big, s1) = laptop(&srv, "bench0", n).await?;
    let docs: Vec<(String, String)> = {
        let ops = big.store().outbox(i64::MAX).await?;
        ops.into_iter()
            .map(|o| (o.op.entity_id, o.op.value.to_string()))
            .collect()
    };
    let t = Instant::now();
    let r = big.sync(&s1).await?;
    let first_sync = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        r.pending == 0 && r.pushed >= n,
        "first sync incomplete: {r:?}"
    );

    let mut conn = srv.pool.acquire().await?;
    sqlx::query("CREATE TABLE copy_docs (entity_id text, value jsonb)")
        .execute(&mut *conn)
        .await?;
    let mut text = String::with_capacity(docs.len() * 600);
    for (id, v) in &docs {
        text.push_str(id);
        text.push('\t');
        // COPY text format: escape backslashes (JSON has no tabs or newlines here)
        text.push_str(&v.replace('\\', "\\\\"));
        text.push('\n');
    }
    let t = Instant::now();
    let mut copy = conn.copy_in_raw("COPY copy_docs FROM STDIN").await?;
    copy.send(text.as_bytes()).await?;
    copy.finish().await?;
    let copy_secs = t.elapsed().as_secs_f64();
    drop(conn);

    // 1b. a new laptop joining: the first pull of the n invoices, against the floors of
    // storing the same rows at all (bare insert + FTS5 indexing, as the import benchmark
    // measures them), in the same run
    let joiner = srv.url.clone();
    let (_dj, join_app, sj) = {
        let dir = tempfile::tempdir()?;
        let app = App::open(dir.path()).await?;
        let s = app.init("admin", PW).await?;
        let user = if clients > 1 { "bench1" } else { "bench0" };
        app.login_server(&s, &joiner, user, SERVER_PW).await?;
        (dir, app, s)
    };
    let t = Instant::now();
    let rj = join_app.sync(&sj).await?;
    let first_pull = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        rj.applied >= n && rj.invalid == 0,
        "first pull incomplete: {rj:?}"
    );
    let floor = {
        let dir = tempfile::tempdir()?;
        let csv_path = dir.path().join("rows.csv");
        let mut w = csv::WriterBuilder::new()
            .delimiter(b';')
            .from_path(&csv_path)?;
        w.write_record([
            "rut", "razon", "tipo", "folio", "fecha", "neto", "exento", "iva", "total", "glosa",
        ])?;
        for (_, v) in &docs {
            let inv: icc_core::Invoice = serde_json::from_str(v)?;
            w.write_record([
                inv.key.rut_emisor.to_string(),
                inv.razon_social.clone(),
                inv.key.tipo_dte.code().to_string(),
                inv.key.folio.to_string(),
                inv.fecha_emision.to_string(),
                inv.monto_neto.pesos().to_string(),
                inv.monto_exento.pesos().to_string(),
                inv.monto_iva.pesos().to_string(),
                inv.monto_total.pesos().to_string(),
                inv.glosa.clone().unwrap_or_default(),
            ])?;
        }
        w.flush()?;
        crate::import_bench::median_floors(&csv_path).await?
    };
    let floor_secs = floor.insert + floor.fts;
    // what SQLite alone needs for the same rows in the store's schema (schema_floor.rs)
    let schema = {
        let dir = tempfile::tempdir()?;
        let rows = dir.path().join("schema-floor-rows.db");
        crate::schema_floor::copy_rows(join_app.store().pool(), &rows).await?;
        crate::schema_floor::measure(&rows).await?
    };

    // 2. one change on the big database vs on a database of one invoice
    let key = first_key(&big, &s1).await?;
    let mut big_times = Vec::new();
    for i in 0..7 {
        big_times.push(one_change_sync(&big, &s1, &key, i).await?);
    }
    srv.stop().await;
    let srv = server(1).await;
    let (_d2, small, s2) = laptop(&srv, "bench0", 1).await?;
    small.sync(&s2).await?;
    let skey = first_key(&small, &s2).await?;
    let mut small_times = Vec::new();
    for i in 0..7 {
        small_times.push(one_change_sync(&small, &s2, &skey, i).await?);
    }
    srv.stop().await;

    // 3. concurrent clients
    let srv = server(clients).await;
    let mut handles = Vec::new();
    let started = Instant::now() + Duration::from_secs(1);
    let mut laptops = Vec::new();
    for i in 0..clients {
        laptops.push(laptop(&srv, &format!("bench{i}"), 1).await?);
    }
    for (i, (dir, app, s)) in laptops.into_iter().enumerate() {
        let key = first_key(&app, &s).await?;
        handles.push(tokio::spawn(async move {
            let _keep = dir;
            let mut lat = Vec::new();
            let mut errors = 0u64;
            tokio::time::sleep_until(started.into()).await;
            let end = Instant::now() + Duration::from_secs(secs);
            let mut k = 0;
            while Instant::now() < end {
                match one_change_sync(&app, &s, &key, i * 100_000 + k).await {
                    Ok(t) => lat.push(t),
                    Err(e) => {
                        errors += 1;
                        eprintln!("client {i}: {e}");
                    }
                }
                k += 1;
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (lat, e) = h.await?;
        all.extend(lat);
        errors += e;
    }
    let syncs = all.len();
    let (p50, p99) = (pct(&mut all, 0.5), pct(&mut all, 0.99));
    srv.stop().await;

    let ratio = first_sync / copy_secs;
    let (bm, sm) = (median(&mut big_times), median(&mut small_times));
    Ok(format!(
        "## Sync\n\n\
         Measured {date} on {machine}: `icc-server` and the clients in one process on loopback, \
         PostgreSQL 15 on 127.0.0.1, release build, refresh tokens through GNOME Keyring.\n\n\
         | measure | figure | baseline in the same run | ratio | goal |\n|---|---|---|---|---|\n\
         | first sync of {n} invoices (push of every invoice, then a pull that skips the device's own ops) | {first_sync:.2} s | PostgreSQL `COPY` of the same {docs} documents: {copy_secs:.2} s | {ratio:.1}× | ≤ 3× |\n\
         | first pull of {n} invoices by a new laptop (every document applied, searchable) | {first_pull:.2} s | floors: bare SQLite insert {fi:.2} s + FTS5 indexing {ff:.2} s = {floor_secs:.2} s | {pull_ratio:.1}× | ≤ 3× |\n\
         | schema floor: the same pulled rows written by SQLite alone into the store's schema (keys, foreign keys, list indexes, full-text index, document versions; no Rust), plain file | {schema_secs:.2} s: rows {sr:.2} + list indexes {si:.2} + full-text {sf:.2} + commit {sc:.2} | the bare floors above | {schema_ratio:.1}× | the goal: ≤ 3× = {goal_secs:.2} s |\n\
         | schema floor, into a file encrypted as the laptops keep theirs | {enc_secs:.2} s | the bare floors above | {enc_ratio:.1}× (the first pull is {pull_schema:.1}× this) | |\n\
         | sync of 1 change, {n}-invoice database (median of 7) | {bm_ms:.0} ms | same on a 1-invoice database: {sm_ms:.0} ms | {inc:.2}× | ≈ 1× |\n\
         | {clients} clients editing and syncing for {secs} s | {syncs} syncs, {errors} errors | — | p50 {p50_ms:.0} ms, p99 {p99_ms:.0} ms | 0 errors |\n\n\
         Each sync exchanges the refresh token (stored in the keyring at once), pushes and pulls. \
         The first sync sends batches of 5,000 documents that SQLite encodes as JSON on the \
         laptop, two in flight at once; the server checks which are already stored, `COPY`s \
         the rest into the op log as sent and `COPY`s the new entities' obras, then commits \
         (the `COPY` baseline writes the documents once, with no index and no commit per \
         batch). A new laptop's first pull reads pages of 2,000 ops (the server walks the op log \
         and sends each stored value as PostgreSQL's text) and applies them as one bulk load: \
         one SQLite transaction, the import's bulk insert, the list indexes rebuilt and the \
         full-text entries written in one statement at the end. The schema floor is what the design itself costs \
         (DESIGN.md, \"Local data model\"; `crates/icc-bench/src/schema_floor.rs`): the rows the first pull stored, \
         copied beforehand into a temporary table and written again by SQLite alone into a fresh database made by \
         the store's migrations, as cheaply as SQLite can (one transaction, list indexes built after the rows, \
         full-text entries in one statement, the commit with the checkpoint SQLite runs in it), into a plain file and \
         into an encrypted one; the first pull into an encrypted folder cannot take less. The {clients} clients share the two cores with the server and PostgreSQL; \
         pushes are serialised by design (docs/sync.md).\n",
        date = chrono::Local::now().format("%Y-%m-%d"),
        machine = crate::report::machine(),
        docs = docs.len(),
        fi = floor.insert,
        ff = floor.fts,
        pull_ratio = first_pull / floor_secs,
        schema_secs = schema.total(),
        sr = schema.rows,
        si = schema.indexes,
        sf = schema.fts,
        sc = schema.commit,
        schema_ratio = schema.total() / floor_secs,
        enc_secs = schema.encrypted,
        enc_ratio = schema.encrypted / floor_secs,
        pull_schema = first_pull / schema.encrypted,
        goal_secs = 3.0 * floor_secs,
        bm_ms = bm * 1000.0,
        sm_ms = sm * 1000.0,
        inc = bm / sm,
        p50_ms = p50 * 1000.0,
        p99_ms = p99 * 1000.0,
    ))
}
