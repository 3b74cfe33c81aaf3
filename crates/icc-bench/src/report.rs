//! Markdown output for `docs/benchmarks.md`: each benchmark owns a marked section that a new
//! run replaces, with the machine and the date.

use std::path::Path;

use anyhow::Result;

pub struct Row {
    pub name: String,
    pub samples: usize,
    pub rows: usize,
    pub p50: f64,
    pub p95: f64,
    pub baseline_p50: f64,
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map_or("?".into(), |kb| format!("{} GiB", kb / 1024 / 1024));
    format!(
        "{cpu}, {cores} cores, {mem} RAM, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

pub fn store_section(n: u64, seed_secs: f64, db_size: u64, base: &[f64], rows: &[Row]) -> String {
    let mut s = String::new();
    s.push_str("## Store: invoice list pages over a seeded database\n\n");
    s.push_str(&format!(
        "Run {} on {}.\n\n",
        chrono::Local::now().format("%Y-%m-%d %H:%M %Z"),
        machine()
    ));
    s.push_str(&format!(
        "{n} invoices seeded by `icc dev seed` in {seed_secs:.1} s (one transaction, with audit rows and the FTS index); \
         database file {:.0} MB. Each case reads {} pages of {} rows by keyset cursor, {} times, after one warm-up pass; \
         times are per page, inside the store (query + row decoding). Baseline: a 50-row primary-key page \
         (`WHERE seq > ? ORDER BY seq LIMIT 50`) in the same run, p50 {:.0} µs, p95 {:.0} µs. Goal: p95 under 1 ms.\n\n",
        db_size as f64 / 1e6,
        super::PAGES_PER_RUN,
        super::PAGE,
        super::RUNS,
        super::pct(base, 0.5),
        super::pct(base, 0.95)
    ));
    s.push_str("| case | pages | rows | p50 µs | p95 µs | p50 ÷ baseline | p95 < 1 ms |\n|---|---:|---:|---:|---:|---:|:---:|\n");
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.1}× | {} |\n",
            r.name,
            r.samples,
            r.rows,
            r.p50,
            r.p95,
            r.p50 / r.baseline_p50,
            if r.p95 < 1000.0 { "yes" } else { "**no**" }
        ));
    }
    s
}

pub fn write_section(path: &Path, key: &str, section: &str) -> Result<()> {
    let start = format!("<!-- bench:{key}:start -->");
    let end = format!("<!-- bench:{key}:end -->");
    let old = std::fs::read_to_string(path)
        .unwrap_or_else(|_| "# Benchmarks\n\nWritten by `scripts/bench`.\n".into());
    let block = format!("{start}\n{section}{end}");
    let new = match (old.find(&start), old.find(&end)) {
        (Some(a), Some(b)) if b > a => format!("{}{}{}", &old[..a], block, &old[b + end.len()..]),
        _ => format!("{}\n{}\n", old.trim_end(), block),
    };
    std::fs::write(path, new)?;
    Ok(())
}
