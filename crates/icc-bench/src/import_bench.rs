//! Import benchmark: a generated 100k-row invoice sheet (xlsx and csv), imported by the real
//! `icc` binary, against the raw calamine and csv reads of the same files and against
//! pandas.read_excel (openpyxl), all in one run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use icc_core::{Clp, Rut};

use crate::report;

pub(crate) const PASSWORD: &str = "caballo correcto batería grapa";

fn rut(i: u64) -> Result<Rut> {
    // 600 suppliers with valid check digits
    Ok(Rut::from_body(76_000_000 + (i % 600) as u32 * 7919)?)
}

/// Writes the same rows as xlsx and csv.
fn generate(dir: &Path, rows: u64) -> Result<(PathBuf, PathBuf)> {
    let headers = [
        "RUT Proveedor",
        "Razón social",
        "Tipo Doc",
        "Folio",
        "Fecha emisión",
        "Monto Neto",
        "Monto Exento",
        "IVA",
        "Monto Total",
        "Glosa",
    ];
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet_with_constant_memory()?;
    let mut csv = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_path(dir.join("facturas.csv"))?;
    for (c, h) in headers.iter().enumerate() {
        ws.write_string(0, c as u16, *h)?;
    }
    csv.write_record(headers)?;
    let date_fmt = rust_xlsxwriter::Format::new().set_num_format("dd-mm-yyyy");
    for i in 0..rows {
        let r = (i + 1) as u32;
        let rut = rut(i)?;
        let neto = 10_000 + (i * 7_919) as i64 % 5_000_000;
        let iva = Clp::new(neto).percent(19).pesos();
        let tipo = if i % 20 == 19 { 61 } else { 33 };
        let day = 1 + (i % 28) as u8;
        let month = 1 + ((i / 28) % 12) as u8;
        let folio = 1000 + i;
        ws.write_string(r, 0, rut.to_string())?;
        ws.write_string(r, 1, format!("Proveedor {} Ltda.", i % 600))?;
        ws.write_number(r, 2, f64::from(tipo))?;
        ws.write_number(r, 3, folio as f64)?;
        ws.write_datetime_with_format(
            r,
            4,
            &rust_xlsxwriter::ExcelDateTime::from_ymd(2026, month, day)?,
            &date_fmt,
        )?;
        ws.write_number(r, 5, neto as f64)?;
        ws.write_number(r, 6, 0.0)?;
        ws.write_number(r, 7, iva as f64)?;
        ws.write_number(r, 8, (neto + iva) as f64)?;
        ws.write_string(r, 9, "Materiales de obra gruesa")?;
        csv.write_record([
            rut.to_string(),
            format!("Proveedor {} Ltda.", i % 600),
            tipo.to_string(),
            folio.to_string(),
            format!("{day:02}/{month:02}/2026"),
            Clp::new(neto).format_number(),
            "0".into(),
            Clp::new(iva).format_number(),
            Clp::new(neto + iva).format_number(),
            "Materiales de obra gruesa".into(),
        ])?;
    }
    csv.flush()?;
    let xlsx = dir.join("facturas.xlsx");
    wb.save(&xlsx)?;
    Ok((xlsx, dir.join("facturas.csv")))
}

/// calamine: open, read the sheet, turn every row into typed values (the raw read).
fn raw_calamine(path: &Path) -> Result<usize> {
    use calamine::{Data, Reader};
    let mut wb = calamine::open_workbook_auto(path)?;
    let name = wb.sheet_names().first().cloned().context("no sheet")?;
    let range = wb.worksheet_range(&name)?;
    let mut n = 0usize;
    for row in range.rows().skip(1) {
        let typed: Vec<i64> = row
            .iter()
            .map(|c| match c {
                Data::Int(i) => *i,
                Data::Float(f) => *f as i64,
                Data::String(s) => s.len() as i64,
                Data::DateTime(d) => d.as_f64() as i64,
                _ => 0,
            })
            .collect();
        n += typed.len();
    }
    Ok(n)
}

/// csv crate: parse every record and its amounts (the raw parse).
fn raw_csv(path: &Path) -> Result<usize> {
    let mut r = csv::ReaderBuilder::new().delimiter(b';').from_path(path)?;
    let mut n = 0usize;
    for rec in r.records() {
        let rec = rec?;
        for f in rec.iter() {
            n += f
                .replace('.', "")
                .parse::<i64>()
                .map_or(f.len(), |v| v as usize % 7);
        }
    }
    Ok(n)
}

/// Floors: what storing the same rows costs in SQLite alone, with nothing else of an import.
/// Every import must at least insert each row once and, for search, index its text in FTS5
/// (the store's tokenizer and columns), so no full import can be faster than `insert` alone,
/// nor, at best with the reading done on the other core, than `insert + fts`.
pub(crate) struct Floors {
    /// The rows into one table without indexes or constraints, in one transaction.
    pub(crate) insert: f64,
    /// The same rows' text into an FTS5 table like `invoices_search`, in one transaction.
    pub(crate) fts: f64,
}

/// Measures [`Floors`] on a scratch database with the store's pragmas (WAL, synchronous
/// NORMAL), the rows already in memory (read from the csv beforehand, not timed).
async fn floors(csv_path: &Path) -> Result<Floors> {
    use sqlx::Connection;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    type Row = (String, String, i64, i64, String, i64, i64, i64, i64, String);
    let amount = |f: &str| f.replace('.', "").parse::<i64>().unwrap_or(0);
    let mut rows: Vec<Row> = Vec::new();
    let mut r = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_path(csv_path)?;
    for rec in r.records() {
        let rec = rec?;
        let f = |i: usize| rec.get(i).unwrap_or_default().to_owned();
        rows.push((
            f(0),
            f(1),
            amount(&f(2)),
            amount(&f(3)),
            f(4),
            amount(&f(5)),
            amount(&f(6)),
            amount(&f(7)),
            amount(&f(8)),
            f(9),
        ));
    }
    let dir = tempfile::tempdir()?;
    let opts = SqliteConnectOptions::new()
        .filename(dir.path().join("floor.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let mut conn = sqlx::SqliteConnection::connect_with(&opts).await?;
    sqlx::query(
        "CREATE TABLE t (rut TEXT, razon TEXT, tipo INTEGER, folio INTEGER, fecha TEXT, \
         neto INTEGER, exento INTEGER, iva INTEGER, total INTEGER, glosa TEXT)",
    )
    .execute(&mut conn)
    .await?;
    sqlx::query(
        "CREATE VIRTUAL TABLE f USING fts5(razon_social, rut_emisor, folio, glosa, \
         content = '', tokenize = 'unicode61 remove_diacritics 2')",
    )
    .execute(&mut conn)
    .await?;
    // 500 rows a statement (5000 parameters), as the store's bulk path batches
    let t = Instant::now();
    let mut tx = conn.begin().await?;
    for chunk in rows.chunks(500) {
        let mut qb: sqlx::QueryBuilder<sqlx::Sqlite> = sqlx::QueryBuilder::new(
            "INSERT INTO t (rut, razon, tipo, folio, fecha, neto, exento, iva, total, glosa) ",
        );
        qb.push_values(chunk, |mut b, r| {
            b.push_bind(&r.0)
                .push_bind(&r.1)
                .push_bind(r.2)
                .push_bind(r.3)
                .push_bind(&r.4)
                .push_bind(r.5)
                .push_bind(r.6)
                .push_bind(r.7)
                .push_bind(r.8)
                .push_bind(&r.9);
        });
        qb.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    let insert = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut tx = conn.begin().await?;
    sqlx::query(
        "INSERT INTO f (rowid, razon_social, rut_emisor, folio, glosa) \
         SELECT rowid, razon, rut, folio, glosa FROM t",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let fts = t.elapsed().as_secs_f64();
    conn.close().await?;
    Ok(Floors { insert, fts })
}

/// Median of three measurements of [`floors`], each field on its own.
pub(crate) async fn median_floors(csv_path: &Path) -> Result<Floors> {
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(floors(csv_path).await?);
    }
    let mid = |mut xs: Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    Ok(Floors {
        insert: mid(runs.iter().map(|f| f.insert).collect()),
        fts: mid(runs.iter().map(|f| f.fts).collect()),
    })
}

/// The [schema floor](crate::schema_floor) of the rows an import of `xlsx` stores: the real
/// `icc import` into a plain folder (not timed), its rows copied out and written again.
async fn schema_floor_of(icc: &Path, xlsx: &Path) -> Result<crate::schema_floor::SchemaFloor> {
    let dir = init_data_dir(icc, Storage::Plain)?;
    let run = timed_icc(
        icc,
        dir.path(),
        Storage::Plain,
        &["import".as_ref(), xlsx.as_os_str()],
    )?;
    anyhow::ensure!(
        run.report["total"]["inserted"].as_u64().unwrap_or(0) > 0,
        "the import for the schema floor stored nothing"
    );
    let store = icc_store::Store::open(&dir.path().join(icc_app::DB_FILE)).await?;
    let rows = dir.path().join("schema-floor-rows.db");
    crate::schema_floor::copy_rows(store.pool(), &rows).await?;
    store.close().await;
    crate::schema_floor::measure(&rows).await
}

pub(crate) struct Run {
    pub secs: f64,
    pub max_rss_kb: u64,
    pub report: serde_json::Value,
}

/// A session bus address where nothing listens: `icc` then finds no keyring and keeps its
/// data folder plain, the baseline of the encryption's cost.
const NO_KEYRING_BUS: &str = "unix:path=/nonexistent/icc-bench-no-keyring";

/// Whether the data folder `icc` makes is encrypted (the keyring of the environment) or
/// plain (no keyring reachable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Storage {
    Encrypted,
    Plain,
}

fn storage_env(cmd: &mut Command, storage: Storage) {
    if storage == Storage::Plain {
        cmd.env("DBUS_SESSION_BUS_ADDRESS", NO_KEYRING_BUS);
    }
}

/// A fresh data directory with the benchmark's administrator, made by the real `icc init`,
/// encrypted or plain as asked (an encrypted one needs a keyring: `scripts/with-keyring`).
pub(crate) fn init_data_dir(icc: &Path, storage: Storage) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let mut cmd = Command::new(icc);
    cmd.args(["--data-dir"])
        .arg(dir.path())
        .args([
            "--json",
            "init",
            "--admin-user",
            "bench",
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    storage_env(&mut cmd, storage);
    let out = cmd.spawn().and_then(|mut c| {
        use std::io::Write;
        if let Some(mut i) = c.stdin.take() {
            i.write_all(format!("{PASSWORD}\n").as_bytes())?;
        }
        c.wait_with_output()
    })?;
    if !out.status.success() {
        bail!("icc init failed");
    }
    let made: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    if made["encrypted"] != (storage == Storage::Encrypted) {
        bail!(
            "icc init made an {} folder where {storage:?} was asked: run under scripts/with-keyring",
            if made["encrypted"] == true {
                "encrypted"
            } else {
                "unencrypted"
            }
        );
    }
    Ok(dir)
}

/// Runs `icc --data-dir DIR --user bench ARGS --json` under /usr/bin/time for wall time and
/// peak RSS.
pub(crate) fn timed_icc(
    icc: &Path,
    dir: &Path,
    storage: Storage,
    args: &[&std::ffi::OsStr],
) -> Result<Run> {
    let stats = dir.join("time.txt");
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "%e %M", "-o"])
        .arg(&stats)
        .arg(icc)
        .arg("--data-dir")
        .arg(dir)
        .args(["--user", "bench", "--json"])
        .args(args)
        .env("ICC_PASSWORD", PASSWORD);
    storage_env(&mut cmd, storage);
    let out = cmd
        .output()
        .context("running /usr/bin/time (apt package `time`)")?;
    if !out.status.success() {
        bail!(
            "icc {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let t = std::fs::read_to_string(&stats)?;
    let mut parts = t.split_whitespace();
    let secs: f64 = parts.next().context("time output")?.parse()?;
    let max_rss_kb: u64 = parts.next().context("time output")?.parse()?;
    Ok(Run {
        secs,
        max_rss_kb,
        report: serde_json::from_slice(&out.stdout)?,
    })
}

/// The real `icc import` on a fresh database.
fn icc_import(icc: &Path, file: &Path, storage: Storage) -> Result<Run> {
    let dir = init_data_dir(icc, storage)?;
    timed_icc(
        icc,
        dir.path(),
        storage,
        &["import".as_ref(), file.as_os_str()],
    )
}

fn pandas_read(xlsx: &Path) -> Result<Option<f64>> {
    let Ok(py) = std::env::var("ICC_BENCH_PYTHON") else {
        return Ok(None);
    };
    let code = "import sys,time,pandas\nt=time.perf_counter()\ndf=pandas.read_excel(sys.argv[1], engine='openpyxl')\nprint(time.perf_counter()-t, len(df))";
    let out = Command::new(py).args(["-c", code]).arg(xlsx).output()?;
    if !out.status.success() {
        bail!("pandas failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let s = String::from_utf8_lossy(&out.stdout);
    Ok(Some(
        s.split_whitespace()
            .next()
            .context("pandas output")?
            .parse()?,
    ))
}

fn median<F: FnMut() -> Result<usize>>(mut f: F) -> Result<f64> {
    let mut t = Vec::new();
    for _ in 0..3 {
        let s = Instant::now();
        std::hint::black_box(f()?);
        t.push(s.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    Ok(t[1])
}

pub async fn run(rows: u64, icc: &Path, out: Option<&Path>) -> Result<()> {
    let dir = tempfile::tempdir()?;
    eprintln!("generating {rows} rows…");
    let (xlsx, csvf) = generate(dir.path(), rows)?;
    let cal = median(|| raw_calamine(&xlsx))?;
    let rawcsv = median(|| raw_csv(&csvf))?;
    eprintln!("raw calamine {cal:.2} s, raw csv {rawcsv:.2} s");
    let floor = median_floors(&csvf).await?;
    eprintln!(
        "floors: bare insert {:.2} s, FTS5 indexing {:.2} s",
        floor.insert, floor.fts
    );
    let schema = schema_floor_of(icc, &xlsx).await?;
    eprintln!(
        "schema floor {:.2} s (rows {:.2}, indexes {:.2}, FTS5 {:.2}, commit {:.2}), encrypted {:.2} s",
        schema.total(),
        schema.rows,
        schema.indexes,
        schema.fts,
        schema.commit,
        schema.encrypted
    );
    // the product's imports (encrypted folder) and the plain store, alternated so both see
    // the same machine
    let (mut xl_runs, mut csv_runs, mut xl_plain_runs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        xl_runs.push(icc_import(icc, &xlsx, Storage::Encrypted)?);
        xl_plain_runs.push(icc_import(icc, &xlsx, Storage::Plain)?);
        csv_runs.push(icc_import(icc, &csvf, Storage::Encrypted)?);
    }
    for runs in [&mut xl_runs, &mut csv_runs, &mut xl_plain_runs] {
        runs.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    }
    let (xl, cs, xl_plain) = (&xl_runs[1], &csv_runs[1], &xl_plain_runs[1]);
    for r in [xl, cs, xl_plain] {
        let inserted = r.report["total"]["inserted"].as_u64().unwrap_or(0);
        if inserted != rows {
            bail!(
                "import inserted {inserted} of {rows}: {}",
                r.report["total"]["errors"]
            );
        }
    }
    let pandas = pandas_read(&xlsx)?;
    eprintln!(
        "icc import xlsx {:.2} s ({} MB), csv {:.2} s ({} MB), pandas {:?}",
        xl.secs,
        xl.max_rss_kb / 1024,
        cs.secs,
        cs.max_rss_kb / 1024,
        pandas
    );
    let mut s = String::from("## Import: 100k-row invoice sheet\n\n");
    s.push_str(&format!(
        "Run {} on {}.\n\n",
        chrono::Local::now().format("%Y-%m-%d %H:%M %Z"),
        report::machine()
    ));
    s.push_str(&format!(
        "{rows} generated invoices (generic columns, 5 % credit notes) as xlsx and as `;` CSV with Chilean thousands separators. \
         Full import = the release `icc import` process on a fresh database (parse, validate, duplicate check, insert with \
         indexes and full-text index, import batch), median of 3, wall time and peak RSS from `/usr/bin/time`. Raw reads are \
         in-process medians of 3.\n\n"
    ));
    s.push_str("| measure | seconds | ratio | goal | met |\n|---|---:|---:|---|:---:|\n");
    s.push_str(&format!(
        "| raw calamine read of the xlsx → typed rows | {cal:.2} | 1.0× | baseline | |\n"
    ));
    let floor_sum = cal + floor.insert + floor.fts;
    s.push_str(&format!(
        "| `icc import` xlsx (full, encrypted folder) | {:.2} | {:.1}× calamine + insert + FTS5 floors ({floor_sum:.2} s) | ≤ 2× the floors | {} |\n",
        xl.secs,
        xl.secs / floor_sum,
        if xl.secs <= 2.0 * floor_sum {
            "yes"
        } else {
            "**no**"
        }
    ));
    s.push_str(&format!(
        "| `icc import` xlsx (full, plain folder: no keyring) | {:.2} | encrypted is {:+.1} % | ≤ +15 % | {} |\n",
        xl_plain.secs,
        (xl.secs / xl_plain.secs - 1.0) * 100.0,
        if xl.secs <= 1.15 * xl_plain.secs {
            "yes"
        } else {
            "**no**"
        }
    ));
    match pandas {
        Some(p) => s.push_str(&format!(
            "| pandas.read_excel (openpyxl), read only | {p:.2} | {:.1}× slower than `icc import` | ≥ 5× | {} |\n",
            p / xl.secs,
            if p >= 5.0 * xl.secs { "yes" } else { "**no**" }
        )),
        None => s.push_str("| pandas.read_excel (openpyxl) | not run | | ≥ 5× | |\n"),
    }
    s.push_str(&format!(
        "| raw csv crate parse → typed rows | {rawcsv:.2} | 1.0× | baseline | |\n"
    ));
    s.push_str(&format!(
        "| `icc import` csv (full, encrypted folder) | {:.2} | {:.1}× csv | ≤ 3× csv | {} |\n",
        cs.secs,
        cs.secs / rawcsv,
        if cs.secs <= 3.0 * rawcsv {
            "yes"
        } else {
            "**no**"
        }
    ));
    s.push_str(&format!(
        "| floor: the same rows into one bare SQLite table (no index, no constraint, one transaction, rows already in memory) | {:.2} | {:.1}× csv, {:.1}× calamine | | |\n",
        floor.insert,
        floor.insert / rawcsv,
        floor.insert / cal,
    ));
    s.push_str(&format!(
        "| floor: FTS5 indexing of the same rows' text alone (the store's tokenizer and columns) | {:.2} | {:.1}× csv, {:.1}× calamine | | |\n",
        floor.fts,
        floor.fts / rawcsv,
        floor.fts / cal,
    ));
    s.push_str(&format!(
        "| floor: insert + FTS5 indexing | {:.2} | {:.1}× csv, {:.1}× calamine | | |\n",
        floor.insert + floor.fts,
        (floor.insert + floor.fts) / rawcsv,
        (floor.insert + floor.fts) / cal,
    ));
    s.push_str(&format!(
        "| floor: the same rows written by SQLite alone into the store's schema (natural and UUID keys, foreign keys, \
         list indexes, full-text index), plain file: rows {:.2} + list indexes {:.2} + full-text {:.2} + commit {:.2} | {:.2} | {:.1}× insert + FTS5 | | |\n",
        schema.rows,
        schema.indexes,
        schema.fts,
        schema.commit,
        schema.total(),
        schema.total() / (floor.insert + floor.fts),
    ));
    s.push_str(&format!(
        "| floor: the same, into a file encrypted as the product keeps it | {:.2} | {:.1}× insert + FTS5 | | |\n",
        schema.encrypted,
        schema.encrypted / (floor.insert + floor.fts),
    ));
    s.push_str(&format!(
        "\nThe floors are in-process, on a scratch database with the store's pragmas, medians of 3. No import that keeps \
         the rows in SQLite and makes them searchable can take less than the insert floor, nor (with the reading done on the \
         other core) less than insert + FTS5: here {:.2} s, against goals of {:.2} s for the csv (3× csv) and {:.2} s for the \
         xlsx (2× calamine + insert + FTS5). The floors write a plain file; the imports write an encrypted folder \
         (SQLCipher, the product's default where a keyring answers), so the floors are the stricter baseline.\n\n\
         The schema floor is what the design itself costs (DESIGN.md, \"Local data model\"): the rows an `icc import` of \
         the xlsx stored (copied beforehand into a temporary table, so nothing is read, parsed or bound from Rust) written \
         again by SQLite into a fresh database made by the store's migrations, as cheaply as SQLite can (one transaction, \
         list indexes built after the rows, full-text entries in one statement, the commit with the checkpoint SQLite runs in it), into a plain file and into \
         an encrypted one; the search vocabulary, day bounds, segment merge and audit the product also pays are left out. \
         With the reading on the other core, no import of this design into an encrypted folder can take less: here {:.2} s, \
         {} the xlsx goal of {:.2} s.\n",
        floor.insert + floor.fts,
        3.0 * rawcsv,
        2.0 * floor_sum,
        schema.encrypted,
        if schema.encrypted > 2.0 * floor_sum {
            "above"
        } else {
            "within"
        },
        2.0 * floor_sum,
    ));
    s.push_str(&format!(
        "\nPeak RSS of `icc import`: xlsx {} MB, csv {} MB (goal < 200 MB: {}).\n",
        xl.max_rss_kb / 1024,
        cs.max_rss_kb / 1024,
        if xl.max_rss_kb.max(cs.max_rss_kb) < 200 * 1024 {
            "yes"
        } else {
            "**no**"
        }
    ));
    println!("{s}");
    if let Some(out) = out {
        report::write_section(out, "import", &s)?;
    }
    Ok(())
}
