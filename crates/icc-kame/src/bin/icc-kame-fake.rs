//! `icc-kame-fake`: the fake Kame server, for development, demos and manual tests.
//!
//! ```text
//! ICC_FAKE_KAME_SECRET=… icc-kame-fake --port 8789 --client-id icc --fichas 300
//! ICC_KAME_URL=http://127.0.0.1:8789 icc kame fichas
//! ```

use clap::Parser;
use icc_kame::fake::{FakeConfig, FakeServer};

/// Servidor falso de Kame (solo para desarrollo y pruebas)
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Puerto en 127.0.0.1 (0 elige uno libre)
    #[arg(long, default_value_t = 8789)]
    port: u16,
    /// client_id aceptado
    #[arg(long)]
    client_id: String,
    /// client_secret aceptado (no hay uno por defecto)
    #[arg(long, env = "ICC_FAKE_KAME_SECRET", hide_env_values = true)]
    client_secret: String,
    /// Fichas de proveedores generadas
    #[arg(long, default_value_t = 100)]
    fichas: usize,
    /// Segundos de vida de cada token
    #[arg(long, default_value_t = 86_400)]
    token_ttl: u64,
    /// Solicitudes por minuto antes de responder 429
    #[arg(long, default_value_t = icc_kame::REQUESTS_PER_MINUTE)]
    por_minuto: u32,
    /// Un 429 cada N solicitudes
    #[arg(long)]
    inyectar_429: Option<u64>,
    /// Cada N comprobantes, registrarlo y responder 500 (respuesta perdida)
    #[arg(long)]
    perder_respuesta: Option<u64>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let a = Args::parse();
    if a.client_secret.trim().is_empty() || a.client_id.trim().is_empty() {
        eprintln!(
            "error: --client-id y --client-secret (o ICC_FAKE_KAME_SECRET) no pueden estar vacíos"
        );
        return std::process::ExitCode::from(2);
    }
    let mut cfg = FakeConfig::new(&a.client_id, &a.client_secret).with_fichas(a.fichas);
    cfg.token_ttl_secs = a.token_ttl;
    cfg.per_minute = a.por_minuto;
    cfg.inject_429_every = a.inyectar_429;
    cfg.lose_answer_every = a.perder_respuesta;
    let server = match FakeServer::start(cfg, a.port).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: no se pudo escuchar en 127.0.0.1:{}: {e}", a.port);
            return std::process::ExitCode::from(1);
        }
    };
    println!(
        "Kame falso en {} ({} fichas); Ctrl+C para terminar",
        server.url(),
        a.fichas
    );
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("error: {e}");
    }
    std::process::ExitCode::SUCCESS
}
