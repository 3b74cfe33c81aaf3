//! Tracing setup shared by the CLI and the desktop app: readable lines on stderr, JSON lines
//! to a daily file in the data directory's `logs` folder. Levels come from `RUST_LOG`.

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Log files kept.
pub const KEEP_LOG_FILES: usize = 14;

/// Installs the global subscriber. `console_default` is the stderr level when `RUST_LOG`
/// is unset (`warn` for the CLI, whose stdout is for results). Returns the guard that
/// flushes the file writer on drop; keep it alive. A log folder that cannot be created only
/// disables the file, it never stops the program.
pub fn init(data_dir: Option<&Path>, console_default: &str) -> Option<WorkerGuard> {
    let console_filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(console_default));
    let console = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter_boxed(console_filter);
    let (file_layer, guard) = match data_dir.map(|d| d.join("logs")) {
        Some(dir) if std::fs::create_dir_all(&dir).is_ok() => {
            match tracing_appender::rolling::Builder::new()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("icc")
                .filename_suffix("jsonl")
                .max_log_files(KEEP_LOG_FILES)
                .build(&dir)
            {
                Ok(appender) => {
                    let (writer, guard) = tracing_appender::non_blocking(appender);
                    let filter = EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
                    let layer = tracing_subscriber::fmt::layer()
                        .json()
                        .with_writer(writer)
                        .with_filter_boxed(filter);
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
