//! Signed updates (tauri-plugin-updater): where to look, the offer shown to the user, and the
//! download that is verified against the public key compiled into the app before anything is
//! installed.
//!
//! The endpoint is the one `scripts/release --base-url` builds into the release (a
//! development build has none and never checks). IT chooses per machine:
//! `ICC_UPDATE_URL` replaces the endpoint (it may use `{{target}}`,
//! `{{arch}}` and `{{current_version}}`), `ICC_UPDATE_CHANNEL` picks a channel of the
//! configured one (`estable` by default, e.g. `piloto`). Only HTTPS is accepted, except a
//! loopback address in development builds (the tests' local update server).

use std::sync::Mutex;

use serde::Serialize;
use tauri::Url;
use tauri::{AppHandle, Runtime};
use tauri_plugin_updater::{Update, UpdaterExt};

use crate::error::UiError;

/// The channel segment of the configured endpoints.
pub const DEFAULT_CHANNEL: &str = "estable";

/// An update the user can install.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct UpdateOffer {
    /// The new version.
    pub version: String,
    /// The running version.
    pub current_version: String,
    /// Release notes, as published.
    pub notes: Option<String>,
    /// Publication date (RFC 3339), when given.
    pub date: Option<String>,
}

/// Where updates come from on this machine.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct UpdateSource {
    /// Endpoints, in order (empty: the configured ones).
    pub endpoints: Vec<String>,
    /// Channel.
    pub channel: String,
    /// Whether IT set them on this machine (environment).
    pub set_by_it: bool,
}

/// Resolves the endpoints from the environment and the configured ones.
///
/// # Errors
/// A URL that does not parse or is not HTTPS (outside development on loopback).
pub fn source(configured: &[Url]) -> Result<(Vec<Url>, UpdateSource), UiError> {
    source_from(configured, &|k| std::env::var(k).ok())
}

/// [`source`] with the variables read through `get` (tests pass a map).
///
/// # Errors
/// As [`source`].
pub fn source_from(
    configured: &[Url],
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<(Vec<Url>, UpdateSource), UiError> {
    let url = get("ICC_UPDATE_URL").filter(|u| !u.trim().is_empty());
    let channel = get("ICC_UPDATE_CHANNEL")
        .map(|c| c.trim().to_lowercase())
        .filter(|c| !c.is_empty());
    if let Some(c) = &channel
        && !c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
    {
        return Err(UiError::new(
            "invalid",
            &format!("ICC_UPDATE_CHANNEL «{c}» no es válido: use letras, números o guion"),
        ));
    }
    let channel_name = channel.clone().unwrap_or_else(|| DEFAULT_CHANNEL.into());
    let endpoints: Vec<Url> = match &url {
        Some(u) => vec![Url::parse(u.trim()).map_err(|e| {
            UiError::new(
                "invalid",
                &format!("ICC_UPDATE_URL «{u}» no es una dirección válida ({e})"),
            )
        })?],
        None => configured
            .iter()
            .map(|u| {
                let s = u.as_str().replace(
                    &format!("/{DEFAULT_CHANNEL}/"),
                    &format!("/{channel_name}/"),
                );
                Url::parse(&s).unwrap_or_else(|_| u.clone())
            })
            .collect(),
    };
    let dev = cfg!(debug_assertions)
        || get("ICC_ENV").is_some_and(|e| e.trim().eq_ignore_ascii_case("dev"));
    for e in &endpoints {
        check_transport(e, dev)?;
    }
    let shown = UpdateSource {
        endpoints: endpoints.iter().map(|u| u.to_string()).collect(),
        channel: channel_name,
        set_by_it: url.is_some() || channel.is_some(),
    };
    Ok((endpoints, shown))
}

/// HTTPS, or plain HTTP to a loopback address in a development build.
fn check_transport(u: &Url, dev: bool) -> Result<(), UiError> {
    let loopback = matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match u.scheme() {
        "https" => Ok(()),
        "http" if loopback && dev => Ok(()),
        _ => Err(UiError::new(
            "invalid",
            &format!(
                "la dirección de actualizaciones {u} no usa HTTPS; las actualizaciones solo se descargan por HTTPS"
            ),
        )),
    }
}

fn failed(what: &str, e: &tauri_plugin_updater::Error) -> UiError {
    tracing::warn!(error = %e, "update {what} failed");
    let detail = match e {
        tauri_plugin_updater::Error::Minisign(_)
        | tauri_plugin_updater::Error::Base64(_)
        | tauri_plugin_updater::Error::SignatureUtf8(_)
        | tauri_plugin_updater::Error::SignedVersionMismatch { .. }
        | tauri_plugin_updater::Error::MissingSignedVersion => {
            "la firma no corresponde a ICC Facturas: el archivo fue alterado o no viene de TI; no se instaló nada".to_owned()
        }
        tauri_plugin_updater::Error::Network(_) | tauri_plugin_updater::Error::Reqwest(_) => {
            format!("no se pudo contactar el servidor de actualizaciones ({e}); revise la conexión e intente más tarde")
        }
        _ => format!("{e}"),
    };
    UiError::new("update", &format!("actualización: al {what}: {detail}"))
}

/// Asks the endpoints for a newer version, verifying with `pubkey` (the configured key when
/// `None`). `Ok(None)`: up to date (or the offered version is not newer).
///
/// # Errors
/// Bad endpoints, the server unreachable, a malformed manifest.
pub async fn check<R: Runtime>(
    app: &AppHandle<R>,
    endpoints: Vec<Url>,
    pubkey: Option<&str>,
) -> Result<Option<(Update, UpdateOffer)>, UiError> {
    if endpoints.is_empty() {
        // a build without an update server (a development build, or one IT published
        // without `scripts/release`): nothing to ask, and no invented host to try
        tracing::info!("no update endpoint configured; not checking");
        return Ok(None);
    }
    let mut b = app
        .updater_builder()
        .endpoints(endpoints)
        .map_err(|e| failed("buscar", &e))?
        .timeout(std::time::Duration::from_secs(30));
    if let Some(k) = pubkey {
        b = b.pubkey(k);
    }
    let updater = b.build().map_err(|e| failed("buscar", &e))?;
    let found = updater.check().await.map_err(|e| failed("buscar", &e))?;
    Ok(found.map(|u| {
        let offer = UpdateOffer {
            version: u.version.clone(),
            current_version: u.current_version.clone(),
            notes: u.body.clone(),
            date: u.date.map(|d| d.to_string()),
        };
        tracing::info!(version = %offer.version, "update available");
        (u, offer)
    }))
}

/// Downloads the update and verifies its signature; returns the verified bytes. `progress`
/// gets (bytes so far, total when known).
///
/// # Errors
/// Network errors, a signature that does not verify (tampered artifact, another key).
pub async fn download(
    update: &Update,
    mut progress: impl FnMut(u64, Option<u64>),
) -> Result<Vec<u8>, UiError> {
    let mut done: u64 = 0;
    let bytes = update
        .download(
            |chunk, total| {
                done += chunk as u64;
                progress(done, total);
            },
            || {},
        )
        .await
        .map_err(|e| failed("descargar", &e))?;
    tracing::info!(version = %update.version, bytes = bytes.len(), "update downloaded and verified");
    Ok(bytes)
}

/// Installs verified bytes (verified again by the plugin).
///
/// # Errors
/// The installer failed (permissions, a package manager refusing).
pub fn install(update: &Update, bytes: &[u8]) -> Result<(), UiError> {
    update.install(bytes).map_err(|e| failed("instalar", &e))
}

/// The update found by the last check, kept for the install.
#[derive(Default)]
pub struct Pending(pub Mutex<Option<Update>>);

impl Pending {
    /// The slot, or an error saying to restart when a panic left it poisoned.
    ///
    /// # Errors
    /// A poisoned lock.
    pub fn slot(&self) -> Result<std::sync::MutexGuard<'_, Option<Update>>, UiError> {
        self.0.lock().map_err(|_| {
            UiError::new(
                "update",
                "actualización: estado interno inválido; reinicie la aplicación",
            )
        })
    }
}
