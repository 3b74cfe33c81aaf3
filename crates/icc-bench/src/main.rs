//! Benchmarks of ICC Facturas, run by `scripts/bench` (never by the tests: these machines are
//! shared and noisy, so every figure is reported next to a baseline measured in the same run).
//!
//! `icc-bench store [--invoices N] [--out docs/benchmarks.md]` seeds N invoices and measures
//! the store's list pages (p50/p95) for several filter combinations and full-text queries,
//! against a primary-key page read as the baseline.
//!
//! `icc-bench import --icc PATH [--rows N]` imports a generated sheet with the real binary,
//! against raw calamine and csv reads and pandas.
//!
//! `icc-bench sync [--invoices N] [--clients C] [--secs S]` measures the first sync of N
//! invoices against a PostgreSQL COPY, one-change syncs, and C concurrent clients.
//!
//! `icc-bench export --icc PATH [--rows N]` exports a seeded database's `facturas` report,
//! against plain rust_xlsxwriter and Python XlsxWriter writing the same cells.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use icc_app::App;
use icc_core::{InvoiceStatus, Rut};
use icc_store::{Cursor, InvoiceFilter, Store};

mod export_bench;
mod import_bench;
mod report;
mod schema_floor;
mod sync_bench;

const PAGE: u32 = 50;
const PAGES_PER_RUN: usize = 20;
const RUNS: usize = 10;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(what) = args.first() else {
        bail!(
            "usage: icc-bench store [--invoices N] [--out FILE] | import --icc PATH [--rows N] [--out FILE] \
             | export --icc PATH [--rows N] [--out FILE]"
        )
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match what.as_str() {
        "store" => {
            let n: u64 = arg(&args, "--invoices")
                .map(|v| v.parse())
                .transpose()?
                .unwrap_or(1_000_000);
            let out = arg(&args, "--out").map(PathBuf::from);
            let db = arg(&args, "--reuse-dir").map(PathBuf::from);
            rt.block_on(store_bench(n, out, db))
        }
        "import" => {
            let (rows, icc, out) = rows_icc_out(&args)?;
            rt.block_on(import_bench::run(rows, &icc, out.as_deref()))
        }
        "export" => {
            let (rows, icc, out) = rows_icc_out(&args)?;
            rt.block_on(export_bench::run(rows, &icc, out.as_deref()))
        }
        "sync" => {
            let num = |name: &str, default: u64| -> Result<u64> {
                Ok(arg(&args, name)
                    .map(|v| v.parse())
                    .transpose()?
                    .unwrap_or(default))
            };
            let (n, clients, secs) = (
                num("--invoices", 100_000)?,
                num("--clients", 50)?,
                num("--secs", 60)?,
            );
            let text = rt.block_on(sync_bench::run(n, clients as usize, secs))?;
            println!("{text}");
            match arg(&args, "--out") {
                Some(out) => report::write_section(std::path::Path::new(&out), "sync", &text),
                None => Ok(()),
            }
        }
        // a section measured elsewhere (the desktop benchmark, in the webview)
        "section" => {
            let key = arg(&args, "--key").context("--key NAME")?;
            let from = PathBuf::from(arg(&args, "--from").context("--from FILE")?);
            let out = PathBuf::from(arg(&args, "--out").context("--out FILE")?);
            let text = std::fs::read_to_string(&from)?.replace("{{machine}}", &report::machine());
            println!("{text}");
            report::write_section(&out, &key, &text)
        }
        other => bail!("unknown benchmark {other}"),
    }
}

/// `--rows N` (default 100,000), `--icc PATH` and `--out FILE` of the file benchmarks.
fn rows_icc_out(args: &[String]) -> Result<(u64, PathBuf, Option<PathBuf>)> {
    let rows: u64 = arg(args, "--rows")
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(100_000);
    let icc = PathBuf::from(arg(args, "--icc").context("--icc PATH to the release icc binary")?);
    Ok((rows, icc, arg(args, "--out").map(PathBuf::from)))
}

/// Percentile of sorted microsecond samples.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn pages(store: &Store, filter: &InvoiceFilter) -> Result<(Vec<f64>, usize)> {
    let mut samples = Vec::with_capacity(RUNS * PAGES_PER_RUN);
    let mut rows = 0;
    for _ in 0..RUNS {
        let mut cursor: Option<Cursor> = None;
        for _ in 0..PAGES_PER_RUN {
            let t = Instant::now();
            let p = store.list_invoices(filter, PAGE, cursor.as_ref()).await?;
            samples.push(t.elapsed().as_secs_f64() * 1e6);
            rows += p.items.len();
            match p.next_cursor {
                Some(c) => cursor = Some(Cursor::decode(&c)?),
                None => break,
            }
        }
    }
    samples.sort_by(f64::total_cmp);
    Ok((samples, rows))
}

async fn baseline(store: &Store) -> Result<Vec<f64>> {
    // The cheapest page SQLite can serve: 50 rows by primary key after a position.
    let mut samples = Vec::new();
    for _ in 0..RUNS {
        let mut after = 0i64;
        for _ in 0..PAGES_PER_RUN {
            let t = Instant::now();
            let rows: Vec<(i64, String, i64)> = sqlx::query_as(
                "SELECT seq, id, monto_total FROM invoices WHERE seq > ? ORDER BY seq LIMIT ?",
            )
            .bind(after)
            .bind(i64::from(PAGE))
            .fetch_all(store.pool())
            .await?;
            samples.push(t.elapsed().as_secs_f64() * 1e6);
            after = rows.last().map_or(after, |r| r.0);
        }
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples)
}

/// The same pages on an encrypted copy (SQLCipher, as the desktop keeps its data) of the
/// same database, alternated with the plain one so both see the same machine.
async fn encryption_cost(plain: &Store, cases: &[(&str, InvoiceFilter)]) -> Result<String> {
    let dir = tempfile::tempdir()?;
    let copy = dir.path().join("icc.db");
    eprintln!("making an encrypted copy…");
    plain.snapshot_to(&copy).await?;
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let key = icc_store::DbKey::new(key);
    if !icc_store::encrypt_in_place(&copy, &key).await? {
        bail!("could not encrypt the copy");
    }
    let enc = Store::open_encrypted(&copy, key).await?;
    for (_, f) in cases {
        pages(&enc, f).await?;
    }
    let mut s = String::from(
        "\n### Encryption at rest: the same pages on an encrypted copy\n\n\
         The database copied (`VACUUM INTO`) and encrypted in place as the desktop keeps it (SQLCipher 4, raw 256-bit \
         key, HMAC per page), opened with the store's pragmas; each case alternates plain, encrypted, plain, encrypted \
         in the same run. Goal: encrypted at most 15 % slower.\n\n\
         | case | plain p50 µs | encrypted p50 µs | encrypted p95 µs | cost | ≤ +15 % |\n|---|---:|---:|---:|---:|:---:|\n",
    );
    let (mut plain_all, mut enc_all) = (0.0, 0.0);
    for (name, f) in cases {
        let (mut a, _) = pages(plain, f).await?;
        let (mut b, _) = pages(&enc, f).await?;
        a.extend(pages(plain, f).await?.0);
        b.extend(pages(&enc, f).await?.0);
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        let (pa, pb) = (pct(&a, 0.5), pct(&b, 0.5));
        plain_all += pa;
        enc_all += pb;
        let cost = (pb / pa - 1.0) * 100.0;
        eprintln!("{name}: plain {pa:.0} µs, encrypted {pb:.0} µs ({cost:+.1} %)");
        s.push_str(&format!(
            "| {name} | {pa:.0} | {pb:.0} | {:.0} | {cost:+.1} % | {} |\n",
            pct(&b, 0.95),
            if cost <= 15.0 { "yes" } else { "**no**" }
        ));
    }
    let cost = (enc_all / plain_all - 1.0) * 100.0;
    s.push_str(&format!(
        "| **all cases (sum of p50)** | {plain_all:.0} | {enc_all:.0} | | {cost:+.1} % | {} |\n",
        if cost <= 15.0 { "yes" } else { "**no**" }
    ));
    enc.close().await;
    Ok(s)
}

async fn store_bench(n: u64, out: Option<PathBuf>, reuse: Option<PathBuf>) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    // --reuse-dir DIR: measure pages on an already seeded data dir (for quick iterations;
    // the recorded figures always come from a fresh seed)
    let dir = reuse.clone().unwrap_or_else(|| tmp.path().to_owned());
    let app = App::open(&dir).await?;
    let mut seed_secs = f64::NAN;
    if reuse.is_none() {
        app.init("bench", "caballo correcto batería grapa").await?;
        eprintln!("seeding {n} invoices…");
        let t = Instant::now();
        let seeded = app.seed(n, 42, &mut |_, _| true).await?;
        seed_secs = t.elapsed().as_secs_f64();
        eprintln!("seeded {} in {seed_secs:.1} s", seeded.inserted);
    }
    if app.is_encrypted() {
        bail!(
            "the store benchmark needs a plain folder as its baseline: run it where no keyring answers (scripts/bench does)"
        );
    }
    let store = app.store().clone();
    sqlx::query("PRAGMA optimize").execute(store.pool()).await?;

    let today = chrono::Local::now().date_naive();
    let some_rut: String = sqlx::query_scalar(
        "SELECT rut_emisor FROM invoices GROUP BY rut_emisor ORDER BY COUNT(*) DESC LIMIT 1",
    )
    .fetch_one(store.pool())
    .await?;
    let rut: Rut = some_rut.parse().context("stored RUT")?;
    let some_folio: i64 = sqlx::query_scalar("SELECT folio FROM invoices WHERE seq = 777")
        .fetch_one(store.pool())
        .await?;
    let base = InvoiceFilter {
        today: Some(today),
        ..Default::default()
    };
    let half_year_ago = today - chrono::Days::new(180);
    let month_start = chrono::Datelike::with_day(&half_year_ago, 1).unwrap_or(half_year_ago);
    let cases: Vec<(&str, InvoiceFilter)> = vec![
        ("sin filtro", base.clone()),
        (
            "obra",
            InvoiceFilter {
                obra: Some("OB-2026-017".into()),
                ..base.clone()
            },
        ),
        (
            "estado aprobada",
            InvoiceFilter {
                estado: Some(InvoiceStatus::Aprobada),
                ..base.clone()
            },
        ),
        (
            "obra + estado",
            InvoiceFilter {
                obra: Some("OB-2026-017".into()),
                estado: Some(InvoiceStatus::Aprobada),
                ..base.clone()
            },
        ),
        (
            "proveedor",
            InvoiceFilter {
                proveedor: Some(rut),
                ..base.clone()
            },
        ),
        (
            "desde/hasta (un mes)",
            InvoiceFilter {
                desde: Some(month_start),
                hasta: Some(month_start + chrono::Days::new(30)),
                ..base.clone()
            },
        ),
        (
            "vencidas",
            InvoiceFilter {
                vencidas: true,
                ..base.clone()
            },
        ),
        (
            "plazo de reclamo por vencer (2 días)",
            InvoiceFilter {
                plazo_por_vencer: Some(2),
                ..base.clone()
            },
        ),
        (
            "admin_obra (2 obras) + vencidas",
            InvoiceFilter {
                visible_obras: Some(vec!["OB-2026-003".into(), "OB-2026-017".into()]),
                vencidas: true,
                ..base.clone()
            },
        ),
        (
            "FTS proveedor «hormigones maipu»",
            InvoiceFilter {
                q: Some("hormigones maipu".into()),
                ..base.clone()
            },
        ),
        (
            "FTS RUT",
            InvoiceFilter {
                q: Some(rut.display()),
                ..base.clone()
            },
        ),
        (
            "FTS folio",
            InvoiceFilter {
                q: Some(some_folio.to_string()),
                ..base.clone()
            },
        ),
        (
            "FTS glosa «andamios»",
            InvoiceFilter {
                q: Some("andamios".into()),
                ..base.clone()
            },
        ),
        (
            "FTS + obra",
            InvoiceFilter {
                q: Some("hormigon".into()),
                obra: Some("OB-2026-017".into()),
                ..base.clone()
            },
        ),
    ];
    // warm the cache once, as a user scrolling would
    for (_, f) in &cases {
        pages(&store, f).await?;
    }
    let base_samples = baseline(&store).await?;
    let base_p50 = pct(&base_samples, 0.5);
    let mut rows = Vec::new();
    for (name, f) in &cases {
        let (s, nrows) = pages(&store, f).await?;
        eprintln!(
            "{name}: p50 {:.0} µs, p95 {:.0} µs",
            pct(&s, 0.5),
            pct(&s, 0.95)
        );
        rows.push(report::Row {
            name: (*name).to_owned(),
            samples: s.len(),
            rows: nrows,
            p50: pct(&s, 0.5),
            p95: pct(&s, 0.95),
            baseline_p50: base_p50,
        });
    }
    let db_size = std::fs::metadata(store.path())?.len();
    let mut section = report::store_section(n, seed_secs, db_size, &base_samples, &rows);
    section.push_str(&encryption_cost(&store, &cases).await?);
    println!("{section}");
    if let Some(path) = out {
        report::write_section(&path, "store", &section)?;
        eprintln!("written to {}", path.display());
    }
    app.close().await;
    Ok(())
}
