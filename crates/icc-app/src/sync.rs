//! Linking this database to the central server and syncing with it (docs/sync.md).
//!
//! `login_server` signs in to the server, keeps the refresh token in the OS keyring (never
//! in SQLite or a file) and links the database: from then on every change writes its
//! operations to the outbox in the same transaction, and the invoices already here are
//! queued to go out. `sync` pushes the outbox in batches (a batch is deleted only once the
//! server stored it; a retry is harmless, ops are idempotent) and pulls what others did,
//! applying each page and moving the cursor in one transaction.

use std::collections::VecDeque;

use icc_core::sync::{MAX_PUSH_OPS, PushResponse};
use icc_core::{InvoiceStatus, Secret};
use icc_store::LocalConflict;
use icc_sync::{SyncClient, SyncError};
use serde::Serialize;

use crate::App;
use crate::auth::{Permission, Session};
use crate::error::{AppError, Result};

/// Settings key of the server address.
const SERVER_SETTING: &str = "sync.server";
/// Settings key of the server account.
const SERVER_USER_SETTING: &str = "sync.server_user";

/// A push on its way.
struct InFlight {
    /// Its last outbox op.
    last_seq: i64,
    /// Whether it holds field edits.
    edits: bool,
    push: tokio::task::JoinHandle<std::result::Result<PushResponse, SyncError>>,
}

/// Settings key of the last successful sync (UTC).
const LAST_SYNC_SETTING: &str = "sync.last";
/// Keyring entry of the refresh token.
pub(crate) const REFRESH_TOKEN_ENTRY: &str = "servidor-sincronizacion";
/// Pull page size.
const PULL_PAGE: i64 = 2_000;
/// Ops per push (the server takes up to 5,000; smaller batches lose less to a cut).
const PUSH_BATCH: i64 = 5_000;
/// Pushes in flight at once.
const PUSH_WINDOW: usize = 2;
/// Bytes of values per push: half the server's body limit, leaving room for the rest of
/// each op.
const PUSH_BYTES: i64 = 8 * 1024 * 1024;

impl From<SyncError> for AppError {
    fn from(e: SyncError) -> AppError {
        match e {
            SyncError::Unauthorized(_) => AppError::Credentials(format!(
                "{e}; vuelva a vincular este equipo con `icc login --server URL --server-user NOMBRE`"
            )),
            SyncError::Forbidden(m) => AppError::Forbidden(m),
            SyncError::BadUrl(_) => AppError::Invalid(e.to_string()),
            other => AppError::Remote(other.to_string()),
        }
    }
}

/// The result of `login_server`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LinkReport {
    /// Server address.
    pub server: String,
    /// Server account.
    pub server_user: String,
    /// Its role.
    pub role: String,
    /// Its obras.
    pub obras: Vec<String>,
    /// Invoices queued to be sent.
    pub queued: u64,
}

/// The result of a sync (CLI `--json` contract: pushed, pulled, conflicts).
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncReport {
    /// Ops the server stored (or already had).
    pub pushed: u64,
    /// Ops pulled from the server.
    pub pulled: u64,
    /// Of those, the ones that changed something here.
    pub applied: u64,
    /// Open conflicts after the sync.
    pub conflicts: u64,
    /// Ops still waiting to be sent (0 after a good sync).
    pub pending: u64,
}

/// The sync status line.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncStatus {
    /// Server address, when linked.
    pub server: Option<String>,
    /// Server account.
    pub server_user: Option<String>,
    /// Last successful sync (UTC).
    pub last_sync: Option<String>,
    /// Ops waiting to be sent.
    pub pending: u64,
    /// Open conflicts.
    pub conflicts: u64,
}

/// Which value a resolution keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The value that lost (usually this device's).
    Mine,
    /// The value that won.
    Theirs,
}

impl App {
    async fn server_client(&self) -> Result<SyncClient> {
        let url = self.store.setting(SERVER_SETTING).await?.ok_or_else(|| {
            AppError::Invalid(
                "este equipo no está vinculado a un servidor; use `icc login --server URL --server-user NOMBRE`".into(),
            )
        })?;
        Ok(SyncClient::new(&url)?)
    }

    /// Signs in to the server as `server_user` and links this database to it.
    ///
    /// # Errors
    /// A bad address, wrong credentials (401), too many attempts (429), the server
    /// unreachable, the keyring unusable.
    pub async fn login_server(
        &self,
        s: &Session,
        url: &str,
        server_user: &str,
        password: impl Into<Secret>,
    ) -> Result<LinkReport> {
        let client = SyncClient::new(url)?;
        let tokens = client.login(server_user.trim(), &password.into()).await?;
        self.store_secret(REFRESH_TOKEN_ENTRY, &tokens.refresh_token)
            .await?;
        let device = match self.store.setting(icc_store::sync::DEVICE_SETTING).await? {
            Some(d) => d,
            None => uuid::Uuid::new_v4().simple().to_string(),
        };
        let mut tx = self.store.write(&s.username).await?;
        tx.set_setting(SERVER_SETTING, client.url().trim_end_matches('/'))
            .await?;
        tx.set_setting(SERVER_USER_SETTING, &tokens.user.username)
            .await?;
        let queued = tx.link_device(&device).await?;
        tx.audit(
            "sync",
            device.clone(),
            "login",
            Some("servidor"),
            None,
            Some(client.url().to_owned()),
        );
        tx.commit().await?;
        tracing::info!(server = %client.url(), user = %tokens.user.username, queued, "linked to the sync server");
        Ok(LinkReport {
            server: client.url().trim_end_matches('/').to_owned(),
            server_user: tokens.user.username,
            role: tokens.user.role,
            obras: tokens.user.obras,
            queued,
        })
    }

    /// A fresh access token (the refresh token rotates and the new one replaces it in the
    /// keyring at once).
    async fn access_token(&self, client: &SyncClient) -> Result<Secret> {
        let refresh = self.secret(REFRESH_TOKEN_ENTRY).await?.ok_or_else(|| {
            AppError::Credentials(
                "no hay sesión con el servidor en este equipo; use `icc login --server URL --server-user NOMBRE`".into(),
            )
        })?;
        let tokens = client.refresh(&refresh).await?;
        self.store_secret(REFRESH_TOKEN_ENTRY, &tokens.refresh_token)
            .await?;
        Ok(tokens.access_token)
    }

    /// Pushes the outbox and pulls what others did.
    ///
    /// # Errors
    /// Not linked, the session refused, the server unreachable (nothing is lost: the outbox
    /// keeps what was not sent, the cursor what was not applied).
    pub async fn sync(&self, s: &Session) -> Result<SyncReport> {
        let client = self.server_client().await?;
        let access = self.access_token(&client).await?;
        let device = self
            .store
            .setting(icc_store::sync::DEVICE_SETTING)
            .await?
            .ok_or_else(|| {
                AppError::Invalid("este equipo no está vinculado a un servidor".into())
            })?;
        let mut report = SyncReport::default();
        // Pushes overlap with each other and with the laptop's own work: while batches
        // travel, the next one is read from the outbox and the acknowledged ones are marked
        // sent. Batches of documents may be in flight together (the server stores documents
        // in any order with the same result); a batch with field edits waits until no other
        // batch with edits is in flight, so edits reach the server in the order they were
        // made. Only an acknowledged prefix of the outbox is ever marked; a failure leaves
        // the rest in the outbox (what the server had already stored is re-sent as
        // duplicates, which it ignores).
        let limit = PUSH_BATCH.min(MAX_PUSH_OPS as i64);
        let mut next = self.store.outbox_batch(0, limit, PUSH_BYTES).await?;
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        let mut acknowledged: Option<i64> = None;
        let mut refused: Option<String> = None;
        loop {
            while in_flight.len() < PUSH_WINDOW
                && next
                    .as_ref()
                    .is_some_and(|b| !(b.edits && in_flight.iter().any(|f| f.edits)))
            {
                let Some(batch) = next.take() else { break };
                let (client, access, device) = (client.clone(), access.clone(), device.clone());
                let sent_at_ms = chrono::Utc::now().timestamp_millis();
                in_flight.push_back(InFlight {
                    last_seq: batch.last_seq,
                    edits: batch.edits,
                    push: tokio::spawn(async move {
                        client
                            .push_encoded(&access, &device, sent_at_ms, &batch.ops_json)
                            .await
                    }),
                });
                next = self
                    .store
                    .outbox_batch(batch.last_seq, limit, PUSH_BYTES)
                    .await?;
            }
            let Some(oldest) = in_flight.pop_front() else {
                break;
            };
            let (pushed, marked) =
                tokio::join!(oldest.push, self.mark_sent(s, acknowledged.take()));
            let pushed = pushed.map_err(|e| {
                AppError::Remote(format!(
                    "el envío al servidor se interrumpió ({e}); los cambios siguen guardados en este equipo y se enviarán en la próxima sincronización"
                ))
            });
            let outcome = match (marked, pushed) {
                (Ok(()), Ok(Ok(r))) => Ok(r),
                // A refused batch (an obra this account may not touch) stays in the outbox
                // and is not retried now; what others did still comes in below.
                (Ok(()), Ok(Err(SyncError::Forbidden(m)))) => {
                    refused = Some(m);
                    Err(None)
                }
                (Ok(()), Ok(Err(e))) => Err(Some(AppError::from(e))),
                (Err(e), _) | (_, Err(e)) => Err(Some(e)),
            };
            match outcome {
                Ok(r) => {
                    acknowledged = Some(oldest.last_seq);
                    report.pushed += r.accepted + r.duplicates;
                }
                Err(e) => {
                    // later batches cannot be marked without this one: let them finish
                    // (the server may store them; they go again as duplicates)
                    for f in in_flight.drain(..) {
                        let _ = f.push.await;
                    }
                    if let Some(e) = e {
                        return Err(e);
                    }
                    break;
                }
            }
        }
        self.mark_sent(s, acknowledged).await?;
        loop {
            let cursor: i64 = self
                .store
                .setting(icc_store::sync::CURSOR_SETTING)
                .await?
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let page = client.pull(&access, &device, cursor, PULL_PAGE).await?;
            let mut tx = self.store.write(&s.username).await?;
            let applied = tx
                .apply_remote(&page.ops, &page.conflicts, page.next_cursor)
                .await?;
            tx.commit().await?;
            report.pulled += page.ops.len() as u64;
            report.applied += applied.applied;
            if !page.more {
                break;
            }
        }
        if let Some(m) = refused {
            tracing::warn!(
                pulled = report.pulled,
                "sync: the server refused a batch: {m}"
            );
            return Err(AppError::Forbidden(format!(
                "{m}. Lo que hicieron los demás sí se recibió ({} cambios); lo rechazado sigue \
                 pendiente en este equipo y se intentará en cada sincronización: pida a TI que \
                 lo revise",
                report.pulled
            )));
        }
        let mut tx = self.store.write(&s.username).await?;
        tx.set_setting(LAST_SYNC_SETTING, &icc_store::now_utc())
            .await?;
        tx.commit().await?;
        report.conflicts = self
            .conflicts(s)
            .await?
            .iter()
            .filter(|c| c.resolved_by.is_none())
            .count() as u64;
        report.pending = self.store.outbox_len().await?.unsigned_abs();
        tracing::info!(
            pushed = report.pushed,
            pulled = report.pulled,
            conflicts = report.conflicts,
            "sync"
        );
        Ok(report)
    }

    /// Removes the outbox ops up to `last` (acknowledged by the server); nothing for `None`.
    async fn mark_sent(&self, s: &Session, last: Option<i64>) -> Result<()> {
        let Some(last) = last else {
            return Ok(());
        };
        let mut tx = self.store.write(&s.username).await?;
        tx.outbox_sent(last).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The sync checks of `doctor`: whether the server answers, speaks this protocol and
    /// agrees on the time. `None` when this computer is not linked.
    pub(crate) async fn sync_check(&self) -> Option<(bool, String, Option<String>)> {
        let url = self.store.setting(SERVER_SETTING).await.ok().flatten()?;
        let client = match SyncClient::new(&url) {
            Ok(c) => c,
            Err(e) => {
                return Some((
                    false,
                    e.to_string(),
                    Some("vuelva a vincular el equipo con una dirección válida".into()),
                ));
            }
        };
        Some(match client.health().await {
            Err(e) => (
                false,
                e.to_string(),
                Some(format!(
                    "revise la conexión y que el servidor {url} esté en marcha"
                )),
            ),
            Ok(h) if h.protocol != icc_core::sync::PROTOCOL_VERSION => (
                false,
                format!(
                    "{url} usa el protocolo {} y esta aplicación el {}",
                    h.protocol,
                    icc_core::sync::PROTOCOL_VERSION
                ),
                Some("actualice la aplicación o el servidor para que coincidan".into()),
            ),
            Ok(h) => {
                let skew = (h.server_ms - chrono::Utc::now().timestamp_millis()).abs();
                if skew > icc_core::sync::MAX_CLOCK_SKEW_MS {
                    (
                        false,
                        format!(
                            "{url} responde, pero el reloj de este equipo difiere {} minutos",
                            skew / 60_000
                        ),
                        Some("corrija la fecha y hora del sistema".into()),
                    )
                } else {
                    (
                        true,
                        format!(
                            "{url} responde (versión {}, protocolo {}; relojes a {} s)",
                            h.version,
                            h.protocol,
                            skew / 1000
                        ),
                        None,
                    )
                }
            }
        })
    }

    /// The sync status line.
    ///
    /// # Errors
    /// Store errors.
    pub async fn sync_status(&self, s: &Session) -> Result<SyncStatus> {
        Ok(SyncStatus {
            server: self.store.setting(SERVER_SETTING).await?,
            server_user: self.store.setting(SERVER_USER_SETTING).await?,
            last_sync: self.store.setting(LAST_SYNC_SETTING).await?,
            pending: self.store.outbox_len().await?.unsigned_abs(),
            conflicts: self
                .conflicts(s)
                .await?
                .iter()
                .filter(|c| c.resolved_by.is_none())
                .count() as u64,
        })
    }

    /// The conflicts this user may see (their obras), open first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn conflicts(&self, s: &Session) -> Result<Vec<LocalConflict>> {
        Ok(self
            .store
            .conflicts(true)
            .await?
            .into_iter()
            .filter(|c| s.sees_obra(c.obra.as_deref()))
            .collect())
    }

    /// Resolves a conflict: `Theirs` accepts the winner; `Mine` writes the losing value
    /// again as a new edit (which then wins everywhere). Either way the resolution is sent
    /// to the server and reaches every device.
    ///
    /// # Errors
    /// Unknown conflict, forbidden obra, the server unreachable.
    pub async fn resolve_conflict(&self, s: &Session, id: i64, keep: Keep) -> Result<()> {
        let c = self
            .conflicts(s)
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| AppError::NotFound {
                what: "conflicto",
                key: id.to_string(),
            })?;
        // Keeping a value is an edit like any other: the same permission, the same obra
        // scope and, for the status, the same state machine from where the invoice is now.
        let mine = match keep {
            Keep::Theirs => None,
            Keep::Mine => {
                let value: serde_json::Value =
                    serde_json::from_str(&c.loser_value).unwrap_or(serde_json::Value::Null);
                let detail = self.resolve_invoice(s, &c.entity_id).await?;
                let not_a_status = || {
                    AppError::Invalid(format!(
                        "conflicto {id}: el valor guardado {} no es un estado; elija «del servidor»",
                        c.loser_value
                    ))
                };
                s.require(
                    Permission::for_invoice_field(&c.field, &value).ok_or_else(not_a_status)?,
                )?;
                let status = if c.field == "estado" {
                    Some(
                        value
                            .as_str()
                            .and_then(|t| t.parse::<InvoiceStatus>().ok())
                            .ok_or_else(not_a_status)?,
                    )
                } else {
                    None
                };
                if c.field == "obra" && !s.sees_obra(value.as_str()) {
                    return Err(AppError::Forbidden(format!(
                        "«{}» solo puede asignar facturas a sus obras ({})",
                        s.username,
                        s.obras.join(", ")
                    )));
                }
                let inv: icc_core::InvoiceId = c.entity_id.parse()?;
                Some((inv, value, status, detail.motivo_rechazo))
            }
        };
        let mut tx = self.store.write(&s.username).await?;
        match mine {
            None => {}
            Some((inv, _, Some(to), motivo)) => {
                tx.set_status(inv, to, motivo.as_deref()).await?;
            }
            Some((inv, value, None, _)) => tx.set_synced_field(inv, &c.field, &value).await?,
        }
        tx.resolve_conflict(id, &s.username).await?;
        tx.commit().await?;
        let client = self.server_client().await?;
        let access = self.access_token(&client).await?;
        client.resolve(&access, id).await?;
        self.sync(s).await?;
        Ok(())
    }

    /// Ends the session with the server (revoked there, removed from the keyring). The
    /// outbox keeps recording changes; the next `login_server` sends them.
    ///
    /// # Errors
    /// The keyring unusable. A server that cannot be reached does not stop the logout.
    pub async fn logout_server(&self, s: &Session) -> Result<()> {
        if let (Ok(client), Some(refresh)) = (
            self.server_client().await,
            self.secret(REFRESH_TOKEN_ENTRY).await?,
        ) && let Err(e) = client.logout(&refresh).await
        {
            tracing::warn!("logout: the server could not be told: {e}");
        }
        self.forget_secret(REFRESH_TOKEN_ENTRY).await?;
        let mut tx = self.store.write(&s.username).await?;
        tx.audit("sync", "servidor", "logout", None, None, None);
        tx.commit().await?;
        Ok(())
    }
}
