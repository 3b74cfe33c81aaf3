//! `icc-iconstruye-fake`: the fake iConstruye server, for development and manual tests.
//!
//! ```text
//! icc-iconstruye-fake --port 8788 --seed 7 --invoices 5000 --key "$(cat clave.txt)"
//! ICC_ICONSTRUYE_URL=http://127.0.0.1:8788 icc iconstruye pull --desde 2026-01-01 --hasta 2026-03-31
//! ```

use clap::Parser;
use icc_iconstruye::fake::{Burst, FakeConfig, FakeServer};

/// Servidor falso de iConstruye (solo para desarrollo y pruebas)
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Puerto en 127.0.0.1 (0 elige uno libre)
    #[arg(long, default_value_t = 8788)]
    port: u16,
    /// Semilla de los datos generados
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Facturas a generar
    #[arg(long, default_value_t = 1000)]
    invoices: usize,
    /// Primer día de recepción (AAAA-MM-DD; por defecto, 90 días antes de hoy)
    #[arg(long)]
    desde: Option<chrono::NaiveDate>,
    /// Días sobre los que se reparten las recepciones
    #[arg(long, default_value_t = 90)]
    dias: u32,
    /// Clave de suscripción aceptada (repetible; la segunda sirve de secundaria). Sin ella se
    /// genera una al azar y se muestra al iniciar: no hay clave por defecto
    #[arg(long = "key", env = "ICC_FAKE_KEY")]
    keys: Vec<String>,
    /// Ráfagas de 429: CADA:LARGO (por ejemplo 50:3)
    #[arg(long, value_name = "CADA:LARGO")]
    burst_429: Option<String>,
    /// Segundos de Retry-After en cada 429
    #[arg(long, default_value_t = 1)]
    retry_after: u64,
    /// Un 500 cada N solicitudes
    #[arg(long)]
    error_500_every: Option<u64>,
    /// Una respuesta lenta cada N solicitudes
    #[arg(long)]
    slow_every: Option<u64>,
    /// Milisegundos de una respuesta lenta
    #[arg(long, default_value_t = 2000)]
    slow_ms: u64,
    /// Un documento malformado cada N
    #[arg(long)]
    malformed_every: Option<usize>,
    /// Variantes de mayúsculas en los nombres de campo
    #[arg(long)]
    casing_variants: bool,
    /// Días sin documentos: A:B (desplazamientos desde --desde)
    #[arg(long, value_name = "A:B")]
    empty_days: Option<String>,
}

/// A key for one run of the fake, from the OS's hash seed, the clock and the process id.
fn random_key() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::from("fake-");
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

fn pair(s: &str, what: &str) -> Result<(u64, u64), String> {
    let (a, b) = s
        .split_once(':')
        .ok_or_else(|| format!("{what}: se espera A:B, llegó «{s}»"))?;
    Ok((
        a.trim()
            .parse()
            .map_err(|_| format!("{what}: «{a}» no es un número"))?,
        b.trim()
            .parse()
            .map_err(|_| format!("{what}: «{b}» no es un número"))?,
    ))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let a = Args::parse();
    let from = a.desde.unwrap_or_else(|| {
        chrono::Local::now().date_naive() - chrono::Days::new(u64::from(a.dias))
    });
    let mut keys = a.keys.clone();
    let generated = keys.is_empty();
    if generated {
        keys.push(random_key());
    }
    let mut cfg = FakeConfig::new(a.seed, a.invoices, from, "");
    cfg.days = a.dias;
    cfg.facturas_keys = keys.clone();
    cfg.ordenes_keys = keys.clone();
    cfg.retry_after_secs = a.retry_after;
    cfg.error_500_every = a.error_500_every;
    cfg.slow_every = a.slow_every;
    cfg.slow_ms = a.slow_ms;
    cfg.malformed_every = a.malformed_every;
    cfg.casing_variants = a.casing_variants;
    let parsed = (|| -> Result<(), String> {
        if let Some(b) = &a.burst_429 {
            let (every, len) = pair(b, "--burst-429")?;
            cfg.burst_429 = Some(Burst { every, len });
        }
        if let Some(e) = &a.empty_days {
            let (x, y) = pair(e, "--empty-days")?;
            cfg.empty_days = Some((x as u32, y as u32));
        }
        Ok(())
    })();
    if let Err(e) = parsed {
        eprintln!("error: {e}");
        return std::process::ExitCode::from(2);
    }
    let docs = cfg.invoices;
    let server = match FakeServer::start(cfg, a.port).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: no se pudo escuchar en 127.0.0.1:{}: {e}", a.port);
            return std::process::ExitCode::from(1);
        }
    };
    println!(
        "iConstruye falso en {} ({docs} facturas recibidas desde {from}); Ctrl+C para terminar",
        server.url()
    );
    if generated {
        // a fake's key, made for this run: show it so a test can use it
        println!("clave de suscripción de esta ejecución: {}", keys[0]);
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("error: {e}");
    }
    std::process::ExitCode::SUCCESS
}
