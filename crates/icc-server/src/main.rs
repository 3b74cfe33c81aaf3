//! `icc-server migrate | serve | user add|list|disable|passwd`. Configuration comes from the
//! environment (see `config`); secrets may come from `*_FILE` paths.

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use icc_server::{AppState, Config};

/// Servidor central de ICC Facturas
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Aplica las migraciones pendientes de PostgreSQL
    Migrate,
    /// Atiende solicitudes (aplica antes las migraciones pendientes)
    Serve,
    /// Verifica que el servidor de este contenedor responde (HEALTHCHECK de la imagen)
    Healthcheck,
    /// Cuentas de usuario
    User {
        #[command(subcommand)]
        command: UserCmd,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Crea una cuenta
    Add {
        /// Nombre de usuario
        name: String,
        /// Rol: admin, gerente, contabilidad, admin_obra
        #[arg(long)]
        role: String,
        /// Obras (para admin_obra), separadas por comas
        #[arg(long, value_delimiter = ',')]
        obras: Vec<String>,
        /// Lee la contraseña de la entrada estándar
        #[arg(long)]
        password_stdin: bool,
    },
    /// Lista las cuentas
    List {
        /// Salida JSON
        #[arg(long)]
        json: bool,
    },
    /// Cambia el rol o las obras de una cuenta; sus equipos lo reciben al sincronizar
    Set {
        /// Nombre de usuario
        name: String,
        /// Rol nuevo: admin, gerente, contabilidad, admin_obra
        #[arg(long)]
        role: Option<String>,
        /// Obras (para admin_obra), separadas por comas; reemplazan las anteriores
        #[arg(long, value_delimiter = ',')]
        obras: Option<Vec<String>>,
    },
    /// Deshabilita una cuenta y cierra sus sesiones
    Disable {
        /// Nombre de usuario
        name: String,
    },
    /// Cambia la contraseña (de la entrada estándar) y cierra las sesiones
    Passwd {
        /// Nombre de usuario
        name: String,
        /// Lee la contraseña de la entrada estándar
        #[arg(long)]
        password_stdin: bool,
    },
}

fn read_password(flag: bool) -> Result<String, String> {
    if !flag {
        return Err(
            "indique --password-stdin: la contraseña nunca va en la línea de comandos".into(),
        );
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("no se pudo leer la entrada estándar: {e}"))?;
    let pw = line.trim_end_matches(['\n', '\r']).to_owned();
    if pw.is_empty() {
        return Err("la entrada estándar está vacía; envíe la contraseña por stdin".into());
    }
    Ok(pw)
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_env_filter(filter)
        .init();
}

/// Asks the local server for `/health` (plain HTTP), or only connects when it serves TLS
/// itself. Uses `ICC_BIND` alone, so it needs no secret.
async fn healthcheck() -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let bind = std::env::var("ICC_BIND").unwrap_or_else(|_| "127.0.0.1:8787".into());
    let mut addr: SocketAddr = bind
        .parse()
        .map_err(|_| format!("ICC_BIND «{bind}» no es IP:PUERTO"))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let connect = tokio::net::TcpStream::connect(addr);
    let mut stream = tokio::time::timeout(std::time::Duration::from_secs(3), connect)
        .await
        .map_err(|_| format!("{addr} no responde"))?
        .map_err(|e| format!("{addr}: {e}"))?;
    if std::env::var_os("ICC_TLS_CERT").is_some() {
        return Ok(()); // TLS is answered by the server itself; accepting is enough here
    }
    let exchange = async {
        stream
            .write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(head)
    };
    let head = tokio::time::timeout(std::time::Duration::from_secs(3), exchange)
        .await
        .map_err(|_| format!("{addr}: /health no respondió a tiempo"))?
        .map_err(|e| format!("{addr}: {e}"))?;
    if head.starts_with(b"HTTP/1.") && &head[9..12] == b"200" {
        Ok(())
    } else {
        Err(format!(
            "{addr}: /health respondió {}",
            String::from_utf8_lossy(&head)
        ))
    }
}

/// Resolves on Ctrl-C or SIGTERM (what `docker stop` sends).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = term => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    if matches!(cli.command, Cmd::Healthcheck) {
        return healthcheck().await;
    }
    // One TLS crypto provider, chosen here: when a build enables several (a workspace build
    // unifies features with other crates), rustls cannot pick one by itself.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cfg = Config::from_env().map_err(|e| e.to_string())?;
    let pool = icc_server::connect(&cfg).await?;
    match cli.command {
        Cmd::Healthcheck => {} // answered above, before any configuration is read
        Cmd::Migrate => {
            icc_server::migrate(&pool).await?;
            println!("Migraciones al día.");
        }
        Cmd::Serve => {
            init_logs();
            icc_server::migrate(&pool).await?;
            let st = AppState::new(pool, cfg.clone());
            let handle = axum_server::Handle::new();
            let h = handle.clone();
            let (stopping, mut stop) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                shutdown_signal().await;
                tracing::info!("stopping: finishing requests in flight");
                h.graceful_shutdown(Some(std::time::Duration::from_secs(20)));
                let _ = stopping.send(true);
            });
            if let Some(addr) = cfg.metrics_bind {
                // plain HTTP on its own address, never through the public listener
                let metrics = icc_server::metrics_router(st.clone()).into_make_service();
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| format!("ICC_METRICS_BIND: no se pudo atender en {addr}: {e}"))?;
                tokio::spawn(async move {
                    let served = axum::serve(listener, metrics)
                        .with_graceful_shutdown(async move {
                            let _ = stop.wait_for(|s| *s).await;
                        })
                        .await;
                    if let Err(e) = served {
                        tracing::error!(bind = %addr, "metrics listener stopped: {e}");
                    }
                });
                tracing::info!(bind = %addr, "metrics listening");
            }
            let app = icc_server::router(st).into_make_service_with_connect_info::<SocketAddr>();
            tracing::info!(bind = %cfg.bind, tls = cfg.tls.is_some(), trusted_proxies = cfg.trusted_proxies, "icc-server listening");
            let served = match &cfg.tls {
                Some((cert, key)) => {
                    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                        .await
                        .map_err(|e| {
                            format!(
                                "ICC_TLS_CERT/ICC_TLS_KEY: no se pudo cargar el certificado: {e}"
                            )
                        })?;
                    axum_server::bind_rustls(cfg.bind, tls)
                        .handle(handle)
                        .serve(app)
                        .await
                }
                None => axum_server::bind(cfg.bind).handle(handle).serve(app).await,
            };
            served.map_err(|e| format!("no se pudo atender en {}: {e}", cfg.bind))?;
        }
        Cmd::User { command } => {
            icc_server::migrate(&pool).await?;
            match command {
                UserCmd::Add {
                    name,
                    role,
                    obras,
                    password_stdin,
                } => {
                    let role = parse_role(&role)?;
                    let pw = read_password(password_stdin)?;
                    icc_server::users::add(&pool, &name, role, &obras, &pw).await?;
                    println!("Usuario «{}» creado ({}).", name.trim(), role.label());
                }
                UserCmd::List { json } => {
                    let list = icc_server::users::list(&pool).await?;
                    if json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&list).map_err(|e| e.to_string())?
                        );
                    } else {
                        for u in list {
                            println!(
                                "{:<24} {:<14} {:<12} {}",
                                u.username,
                                u.role,
                                if u.disabled {
                                    "deshabilitado"
                                } else {
                                    "activo"
                                },
                                u.obras.join(",")
                            );
                        }
                    }
                }
                UserCmd::Set { name, role, obras } => {
                    let role = role.as_deref().map(parse_role).transpose()?;
                    let u = icc_server::users::set(&pool, &name, role, obras.as_deref()).await?;
                    let label =
                        parse_role(&u.role).map_or(u.role.clone(), |r| r.label().to_owned());
                    println!(
                        "Usuario «{}»: {}{}. Sus equipos lo reciben en la próxima sincronización.",
                        u.username,
                        label,
                        if u.obras.is_empty() {
                            String::new()
                        } else {
                            format!(", obras {}", u.obras.join(","))
                        }
                    );
                }
                UserCmd::Disable { name } => {
                    icc_server::users::disable(&pool, &name).await?;
                    println!(
                        "Usuario «{}» deshabilitado; sus sesiones quedaron cerradas.",
                        name.trim()
                    );
                }
                UserCmd::Passwd {
                    name,
                    password_stdin,
                } => {
                    let pw = read_password(password_stdin)?;
                    icc_server::users::passwd(&pool, &name, &pw).await?;
                    println!(
                        "Contraseña de «{}» cambiada; sus sesiones quedaron cerradas.",
                        name.trim()
                    );
                }
            }
        }
    }
    Ok(())
}

fn parse_role(role: &str) -> Result<icc_core::Role, String> {
    role.parse().map_err(|e: icc_core::CoreError| e.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
