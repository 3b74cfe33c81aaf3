//! Tracing setup shared by the CLI and the desktop app: JSON lines to a daily-rotating file
//! in the OS log folder (14 kept), plus readable lines on stderr.
//!
//! Levels follow the environment, `ICC_ENV`:
//!
//! | `ICC_ENV`        | file                         | console                 |
//! |------------------|------------------------------|-------------------------|
//! | `dev`            | `debug` (sqlx `info`)        | `debug`, readable       |
//! | `staging`        | `debug` for ICC, else `info` | `warn`                  |
//! | `prod` (default) | `info`                       | `warn`                  |
//!
//! `RUST_LOG`, when set, overrides both. Secrets never reach a log: passwords, tokens and
//! keys travel as [`icc_core::Secret`] (or `ApiKey`), whose `Debug` prints `***` and which
//! have no `Display`.

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Log files kept (one per day).
pub const KEEP_LOG_FILES: usize = 14;

/// The deployment environment, from `ICC_ENV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Env {
    /// A developer's machine: verbose, readable console.
    Dev,
    /// A test installation: detailed files, quiet console.
    Staging,
    /// Users' machines (the default).
    Prod,
}

impl Env {
    /// Reads `ICC_ENV`. An unknown value is reported (the message is returned, in Spanish)
    /// and `prod` is used: a typo must not make a laptop verbose.
    pub fn from_env() -> (Env, Option<String>) {
        match std::env::var("ICC_ENV") {
            Err(_) => (Env::Prod, None),
            Ok(v) => match Env::parse(&v) {
                Some(e) => (e, None),
                None => (
                    Env::Prod,
                    Some(format!(
                        "ICC_ENV={v:?} no es válido (use dev, staging o prod); se usa prod"
                    )),
                ),
            },
        }
    }

    /// Parses `dev`, `staging` or `prod` (any case, surrounding spaces ignored).
    pub fn parse(s: &str) -> Option<Env> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dev" | "development" | "desarrollo" => Some(Env::Dev),
            "staging" | "pruebas" => Some(Env::Staging),
            "prod" | "production" | "produccion" | "producción" => Some(Env::Prod),
            _ => None,
        }
    }

    /// The file filter when `RUST_LOG` is unset.
    pub fn file_filter(self) -> &'static str {
        match self {
            Env::Dev => {
                "debug,sqlx=info,hyper=info,hyper_util=info,reqwest=info,h2=info,rustls=info,tao=info,wry=info"
            }
            Env::Staging => {
                "info,icc_app=debug,icc_store=debug,icc_sync=debug,icc_iconstruye=debug,icc_io=debug,icc_desktop=debug,icc=debug,sqlx=warn"
            }
            Env::Prod => "info,sqlx=warn",
        }
    }

    /// The console filter when `RUST_LOG` is unset.
    pub fn console_filter(self) -> &'static str {
        match self {
            Env::Dev => {
                "debug,sqlx=warn,hyper=info,hyper_util=info,reqwest=info,h2=info,rustls=info,tao=info,wry=info"
            }
            Env::Staging | Env::Prod => "warn,sqlx=error",
        }
    }
}

/// Which program writes: the log files are named after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// The `icc` command line.
    Cli,
    /// The desktop app.
    Desktop,
}

impl Program {
    fn prefix(self) -> &'static str {
        match self {
            Program::Cli => "icc-cli",
            Program::Desktop => "icc-app",
        }
    }
}

/// The folder for log files: `ICC_LOG_DIR` when set; `DATA_DIR/logs` when the data folder
/// was chosen explicitly (`--data-dir` / `ICC_DATA_DIR`: tests and portable installs keep
/// everything together); else the OS log folder (`~/.local/state/iccfacturas/logs` on Linux,
/// `~/Library/Logs/ICC Facturas` on macOS, `%LOCALAPPDATA%\ICC\ICC Facturas\data\logs` on
/// Windows).
pub fn log_dir(explicit_data_dir: Option<&Path>) -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("ICC_LOG_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = explicit_data_dir {
        return Some(d.join("logs"));
    }
    os_log_dir()
}

fn os_log_dir() -> Option<PathBuf> {
    if cfg!(target_os = "macos") {
        return directories::BaseDirs::new()
            .map(|b| b.home_dir().join("Library/Logs/ICC Facturas"));
    }
    let p = directories::ProjectDirs::from("cl", "ICC", "ICC Facturas")?;
    Some(match p.state_dir() {
        Some(state) => state.join("logs"),
        None => p.data_local_dir().join("logs"),
    })
}

/// Installs the global subscriber: the file layer in `dir` (when given and creatable) and
/// the console layer on stderr. Returns the guard that flushes the file writer on drop;
/// keep it alive. A log folder that cannot be created only disables the file, it never
/// stops the program.
pub fn init(dir: Option<&Path>, program: Program) -> Option<WorkerGuard> {
    let (env, warning) = Env::from_env();
    let from_env = |default: &str| {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
    };
    let console = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(env == Env::Dev)
        .with_filter_boxed(from_env(env.console_filter()));
    let (file_layer, guard) = match dir {
        Some(dir) if std::fs::create_dir_all(dir).is_ok() => {
            match tracing_appender::rolling::Builder::new()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix(program.prefix())
                .filename_suffix("jsonl")
                .max_log_files(KEEP_LOG_FILES)
                .build(dir)
            {
                Ok(appender) => {
                    let (writer, guard) = tracing_appender::non_blocking(appender);
                    let layer = tracing_subscriber::fmt::layer()
                        .json()
                        .with_current_span(true)
                        .with_writer(writer)
                        .with_filter_boxed(from_env(env.file_filter()));
                    (Some(layer), Some(guard))
                }
                Err(_) => (None, None),
            }
        }
        _ => (None, None),
    };
    let _ = tracing_subscriber::registry()
        .with(console)
        .with(file_layer)
        .try_init();
    if let Some(w) = warning {
        tracing::warn!("{w}");
    }
    tracing::debug!(?env, dir = ?dir, "logging started");
    guard
}

trait BoxedFilter<S> {
    fn with_filter_boxed(self, f: EnvFilter)
    -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>;
}

impl<S, L> BoxedFilter<S> for L
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    L: tracing_subscriber::Layer<S> + Send + Sync + 'static,
{
    fn with_filter_boxed(
        self,
        f: EnvFilter,
    ) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync> {
        Box::new(self.with_filter(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_parse_and_unknown_ones_are_named() {
        assert_eq!(Env::parse(" DEV "), Some(Env::Dev));
        assert_eq!(Env::parse("staging"), Some(Env::Staging));
        assert_eq!(Env::parse("Prod"), Some(Env::Prod));
        assert_eq!(Env::parse("produccion"), Some(Env::Prod));
        assert_eq!(Env::parse("qa"), None);
        // every filter is valid syntax
        for e in [Env::Dev, Env::Staging, Env::Prod] {
            EnvFilter::try_new(e.file_filter()).unwrap();
            EnvFilter::try_new(e.console_filter()).unwrap();
        }
        // production is quieter than development
        assert!(Env::Prod.console_filter().starts_with("warn"));
        assert!(Env::Dev.console_filter().starts_with("debug"));
    }

    #[test]
    fn an_explicit_data_folder_keeps_its_logs() {
        if std::env::var_os("ICC_LOG_DIR").is_some() {
            return; // the environment decides
        }
        let d = Path::new("/tmp/icc-datos");
        assert_eq!(log_dir(Some(d)), Some(d.join("logs")));
        let os = log_dir(None).unwrap();
        assert!(
            os.ends_with("logs") || os.ends_with("ICC Facturas"),
            "{os:?}"
        );
    }
}
