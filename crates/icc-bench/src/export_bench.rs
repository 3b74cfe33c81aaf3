//! Export benchmark: a 100k-row `facturas` report from a seeded database, against
//! rust_xlsxwriter's constant-memory mode writing the same cells from memory and Python's
//! XlsxWriter (constant_memory) writing them, all in one run.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::{NaiveDate, NaiveDateTime, Timelike};
use icc_app::{App, ExportFormat, ExportOptions, InvoiceFilter, ReportKind};
use icc_store::{ExportRow, ReportSet};
use rust_xlsxwriter::{Format, Workbook};

use crate::import_bench::{PASSWORD, Storage, init_data_dir, timed_icc};
use crate::report;

/// One row of the report, already in cell form: what "the same rows from memory" means.
#[derive(serde::Serialize)]
struct Flat {
    tipo: i64,
    documento: &'static str,
    folio: i64,
    rut: String,
    razon: String,
    emision: String,
    recepcion: Option<String>,
    vence: String,
    plazo: Option<String>,
    estado: &'static str,
    obra: Option<String>,
    cc: Option<String>,
    cuenta: Option<String>,
    oc: Option<String>,
    neto: i64,
    exento: i64,
    iva: i64,
    otros: i64,
    total: i64,
    glosa: Option<String>,
}

fn serial(d: &str) -> Result<f64> {
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30).context("epoch")?;
    if d.len() > 10 {
        let t = NaiveDateTime::parse_from_str(d, "%Y-%m-%dT%H:%M:%S")?;
        Ok((t.date() - epoch).num_days() as f64
            + f64::from(t.num_seconds_from_midnight()) / 86_400.0)
    } else {
        let day: NaiveDate = d.parse()?;
        Ok((day - epoch).num_days() as f64)
    }
}

fn flatten(r: ExportRow) -> Result<Flat> {
    let tipo = icc_core::DteType::new(u16::try_from(r.row.tipo_dte)?)?;
    let sign = if tipo.is_credit_note() { -1 } else { 1 };
    let estado: icc_core::InvoiceStatus = r.row.estado.parse()?;
    Ok(Flat {
        tipo: r.row.tipo_dte,
        documento: tipo.label().unwrap_or("?"),
        folio: r.row.folio,
        rut: r.row.rut_emisor.parse::<icc_core::Rut>()?.display(),
        razon: r.row.razon_social,
        emision: r.row.fecha_emision,
        recepcion: r.fecha_recepcion_sii,
        vence: r.row.vence,
        plazo: r.row.plazo_reclamo,
        estado: estado.label(),
        obra: r.row.obra,
        cc: r.centro_costo,
        cuenta: r.cuenta,
        oc: r.orden_compra,
        neto: sign * r.row.monto_neto,
        exento: sign * r.row.monto_exento,
        iva: sign * r.row.monto_iva,
        otros: sign * r.monto_otros,
        total: sign * r.row.monto_total,
        glosa: r.glosa,
    })
}

const HEADERS: [&str; 20] = [
    "Tipo",
    "Documento",
    "Folio",
    "RUT proveedor",
    "Razón social",
    "Emisión",
    "Recepción SII",
    "Vencimiento",
    "Plazo reclamo",
    "Estado",
    "Obra",
    "Centro de costo",
    "Cuenta",
    "Orden de compra",
    "Neto",
    "Exento",
    "IVA",
    "Otros impuestos",
    "Total",
    "Glosa",
];

/// rust_xlsxwriter in constant-memory mode writing the same cells with the same formats,
/// from rows already in memory (dates already as serials): the floor for any exporter.
fn plain_rust_xlsxwriter(rows: &[(Flat, [Option<f64>; 4])], out: &Path) -> Result<()> {
    let mut wb = Workbook::new();
    let code = Format::new().set_num_format("0");
    let money = Format::new().set_num_format("\"$\"#,##0;[Red]-\"$\"#,##0");
    let date = Format::new().set_num_format("dd-mm-yyyy");
    let datetime = Format::new().set_num_format("dd-mm-yyyy hh:mm");
    let text = Format::new();
    let bold = Format::new().set_bold();
    let ws = wb.add_worksheet_with_constant_memory()?;
    ws.set_name("Facturas")?;
    ws.write_string_with_format(0, 0, "Facturas", &bold)?;
    ws.write_string(1, 0, "Sin filtros")?;
    for (c, h) in HEADERS.iter().enumerate() {
        ws.write_string_with_format(3, c as u16, *h, &bold)?;
    }
    let opt = |ws: &mut rust_xlsxwriter::Worksheet, r, c, v: &Option<String>| -> Result<()> {
        if let Some(v) = v {
            ws.write_string_with_format(r, c, v, &text)?;
        }
        Ok(())
    };
    for (i, (f, dates)) in rows.iter().enumerate() {
        let r = 4 + i as u32;
        ws.write_number_with_format(r, 0, f.tipo as f64, &code)?;
        ws.write_string_with_format(r, 1, f.documento, &text)?;
        ws.write_number_with_format(r, 2, f.folio as f64, &code)?;
        ws.write_string_with_format(r, 3, &f.rut, &text)?;
        ws.write_string_with_format(r, 4, &f.razon, &text)?;
        for (c, (d, fmt)) in [
            (dates[0], &date),
            (dates[1], &datetime),
            (dates[2], &date),
            (dates[3], &date),
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(d) = d {
                ws.write_number_with_format(r, 5 + c as u16, d, fmt)?;
            }
        }
        ws.write_string_with_format(r, 9, f.estado, &text)?;
        opt(ws, r, 10, &f.obra)?;
        opt(ws, r, 11, &f.cc)?;
        opt(ws, r, 12, &f.cuenta)?;
        opt(ws, r, 13, &f.oc)?;
        for (c, v) in [f.neto, f.exento, f.iva, f.otros, f.total]
            .into_iter()
            .enumerate()
        {
            ws.write_number_with_format(r, 14 + c as u16, v as f64, &money)?;
        }
        opt(ws, r, 19, &f.glosa)?;
    }
    ws.set_freeze_panes(4, 0)?;
    ws.autofilter(3, 0, 3 + rows.len() as u32, 19)?;
    wb.save(out)?;
    Ok(())
}

const PYTHON: &str = r##"
import sys, json, time, datetime, xlsxwriter
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
def d(s):
    if not s: return None
    return datetime.datetime.fromisoformat(s)
for r in rows:
    for k in ("emision", "recepcion", "vence", "plazo"):
        r[k] = d(r[k])
t = time.perf_counter()
wb = xlsxwriter.Workbook(sys.argv[2], {"constant_memory": True})
ws = wb.add_worksheet("Facturas")
code = wb.add_format({"num_format": "0"})
money = wb.add_format({"num_format": '"$"#,##0;[Red]-"$"#,##0'})
date = wb.add_format({"num_format": "dd-mm-yyyy"})
dt = wb.add_format({"num_format": "dd-mm-yyyy hh:mm"})
bold = wb.add_format({"bold": True})
ws.write_string(0, 0, "Facturas", bold)
ws.write_string(1, 0, "Sin filtros")
for c, h in enumerate(json.loads(sys.argv[3])):
    ws.write_string(3, c, h, bold)
for i, r in enumerate(rows):
    n = 4 + i
    ws.write_number(n, 0, r["tipo"], code)
    ws.write_string(n, 1, r["documento"])
    ws.write_number(n, 2, r["folio"], code)
    ws.write_string(n, 3, r["rut"])
    ws.write_string(n, 4, r["razon"])
    for c, k, f in ((5, "emision", date), (6, "recepcion", dt), (7, "vence", date), (8, "plazo", date)):
        if r[k] is not None:
            ws.write_datetime(n, c, r[k], f)
    ws.write_string(n, 9, r["estado"])
    for c, k in ((10, "obra"), (11, "cc"), (12, "cuenta"), (13, "oc")):
        if r[k] is not None:
            ws.write_string(n, c, r[k])
    for c, k in enumerate(("neto", "exento", "iva", "otros", "total")):
        ws.write_number(n, 14 + c, r[k], money)
    if r["glosa"] is not None:
        ws.write_string(n, 19, r["glosa"])
ws.freeze_panes(4, 0)
ws.autofilter(3, 0, 3 + len(rows), 19)
wb.close()
print(time.perf_counter() - t)
"##;

fn python_xlsxwriter(jsonl: &Path, out: &Path) -> Result<Option<f64>> {
    let Ok(py) = std::env::var("ICC_BENCH_PYTHON") else {
        return Ok(None);
    };
    let o = Command::new(py)
        .args(["-c", PYTHON])
        .arg(jsonl)
        .arg(out)
        .arg(serde_json::to_string(&HEADERS)?)
        .output()?;
    if !o.status.success() {
        bail!("XlsxWriter failed: {}", String::from_utf8_lossy(&o.stderr));
    }
    Ok(Some(String::from_utf8_lossy(&o.stdout).trim().parse()?))
}

fn median3<F: FnMut() -> Result<()>>(mut f: F) -> Result<f64> {
    let mut t = Vec::new();
    for _ in 0..3 {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    Ok(t[1])
}

pub async fn run(rows: u64, icc: &Path, out: Option<&Path>) -> Result<()> {
    // plain: the in-process baselines below read the same file (scripts/bench runs this
    // without a keyring)
    let data = init_data_dir(icc, Storage::Plain)?;
    eprintln!("seeding {rows} invoices…");
    let seeded = Command::new(icc)
        .arg("--data-dir")
        .arg(data.path())
        .args(["dev", "seed", "--invoices", &rows.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()?;
    if !seeded.success() {
        bail!("icc dev seed failed");
    }
    let work = tempfile::tempdir()?;

    let app = App::open(data.path()).await?;
    let s = app.login("bench", PASSWORD).await?;
    // the rows of the report, in memory, for the baselines
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let store = app.store().clone();
    let reader = tokio::spawn(async move {
        store
            .stream_report_rows(&InvoiceFilter::default(), ReportSet::List, tx)
            .await
    });
    let mut flat = Vec::new();
    while let Some(chunk) = rx.recv().await {
        for r in chunk {
            let f = flatten(r)?;
            let dates = [
                Some(serial(&f.emision)?),
                f.recepcion.as_deref().map(serial).transpose()?,
                Some(serial(&f.vence)?),
                f.plazo.as_deref().map(serial).transpose()?,
            ];
            flat.push((f, dates));
        }
    }
    reader.await??;
    if flat.len() as u64 != rows {
        bail!("read {} rows of {rows}", flat.len());
    }
    let jsonl = work.path().join("rows.jsonl");
    {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(std::fs::File::create(&jsonl)?);
        for (f, _) in &flat {
            serde_json::to_writer(&mut w, f)?;
            w.write_all(b"\n")?;
        }
    }

    let baseline_out = work.path().join("plain.xlsx");
    let baseline = median3(|| plain_rust_xlsxwriter(&flat, &baseline_out))?;
    drop(flat);
    let ours_out = work.path().join("facturas.xlsx");
    let ours = median3(|| {
        let opts = ExportOptions {
            report: ReportKind::Facturas,
            format: ExportFormat::Xlsx,
            filter: InvoiceFilter::default(),
            mes: None,
            out: ours_out.clone(),
        };
        let r = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(app.export(&s, opts, &mut |_| true))
        })?;
        if r.documents != rows {
            bail!("exported {} of {rows}", r.documents);
        }
        Ok(())
    })?;
    app.close().await;
    let mut procs = Vec::new();
    for _ in 0..3 {
        let path = work.path().join("cli.xlsx");
        procs.push(timed_icc(
            icc,
            data.path(),
            Storage::Plain,
            &[
                "export".as_ref(),
                "facturas".as_ref(),
                "--out".as_ref(),
                path.as_os_str(),
            ],
        )?);
    }
    procs.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    let cli = &procs[1];
    let max_rss_mb = procs.iter().map(|p| p.max_rss_kb).max().unwrap_or(0) / 1024;
    let python = python_xlsxwriter(&jsonl, &work.path().join("py.xlsx"))?;
    eprintln!(
        "plain rust_xlsxwriter {baseline:.2} s, App::export {ours:.2} s, icc export {:.2} s / {max_rss_mb} MB, XlsxWriter {python:?}",
        cli.secs
    );

    let yes = |ok: bool| if ok { "yes" } else { "**no**" };
    let mut m = String::from("## Export: 100k-row `facturas` report\n\n");
    m.push_str(&format!(
        "Run {} on {}.\n\n",
        chrono::Local::now().format("%Y-%m-%d %H:%M %Z"),
        report::machine()
    ));
    m.push_str(&format!(
        "{rows} seeded invoices exported as the `facturas` xlsx (20 columns, CLP and date formats, title, filters line, \
         frozen header, autofilter, fitted widths, Parámetros sheet). `App::export` is the use case in-process, from the \
         database to the finished file; `icc export` is the release binary as a process (startup, login with argon2id, \
         export), timed by `/usr/bin/time`. The baseline is rust_xlsxwriter's constant-memory mode writing the same cells \
         with the same formats from rows already in memory; XlsxWriter (Python, constant_memory) writes the same cells from \
         rows already in memory. Medians of 3 (XlsxWriter: one run).\n\n"
    ));
    m.push_str("| measure | seconds | ratio | goal | met |\n|---|---:|---:|---|:---:|\n");
    m.push_str(&format!(
        "| rust_xlsxwriter constant memory, rows in memory | {baseline:.2} | 1.0× | baseline | |\n"
    ));
    m.push_str(&format!(
        "| `App::export` facturas, from the database | {ours:.2} | {:.2}× | ≤ 1.5× | {} |\n",
        ours / baseline,
        yes(ours <= 1.5 * baseline)
    ));
    m.push_str(&format!(
        "| `icc export facturas` process | {:.2} | {:.2}× | | |\n",
        cli.secs,
        cli.secs / baseline
    ));
    match python {
        Some(p) => m.push_str(&format!(
            "| Python XlsxWriter constant_memory, rows in memory | {p:.2} | {:.1}× slower than `App::export` | ≥ 5× | {} |\n",
            p / ours,
            yes(p >= 5.0 * ours)
        )),
        None => m.push_str("| Python XlsxWriter | not run | | ≥ 5× | |\n"),
    }
    m.push_str(&format!(
        "\nPeak RSS of `icc export facturas`: {max_rss_mb} MB (goal < 100 MB: {}).\n",
        yes(max_rss_mb < 100)
    ));
    println!("{m}");
    if let Some(out) = out {
        report::write_section(out, "export", &m)?;
    }
    Ok(())
}
