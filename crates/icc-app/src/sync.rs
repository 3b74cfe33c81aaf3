//! Linking this database to the central server and syncing with it (docs/sync.md).
//!
//! `login_server` signs in to the server, keeps the refresh token in the OS keyring (never
//! in SQLite or a file) and links the database: from then on every change writes its
//! operations to the outbox in the same transaction, and the invoices already here are
//! queued to go out. `sync` pushes the outbox in batches (a batch is deleted only once the
//! server stored it; a retry is harmless, ops are idempotent) and pulls what others did,
//! applying each page and moving the cursor in one transaction.

use std::collections::VecDeque;

use icc_core::sync::{MAX_PUSH_OPS, PushResponse, Refusal};
use icc_core::{InvoiceStatus, Secret};
use icc_store::{LocalConflict, RefusedChange, RemovedInvoice};
use icc_sync::{SyncClient, SyncError};
use serde::Serialize;

use crate::App;
use crate::auth::{Permission, Session};
use crate::error::{AppError, Result};

/// Settings key of the server address.
pub(crate) const SERVER_SETTING: &str = "sync.server";
/// Settings key of the server account.
const SERVER_USER_SETTING: &str = "sync.server_user";

/// A push on its way.
struct InFlight {
    /// Its last outbox op.
    last_seq: i64,
    push: tokio::task::JoinHandle<std::result::Result<PushResponse, SyncError>>,
}

/// The turn to sync this data folder: held until dropped.
struct SyncTurn<'a> {
    _gate: tokio::sync::MutexGuard<'a, ()>,
    _file: std::fs::File,
}

/// File in the data folder locked while a sync runs, by any process.
const SYNC_LOCK_FILE: &str = "sync.lock";
/// An access token is renewed when less than this is left of its life.
const ACCESS_MARGIN: std::time::Duration = std::time::Duration::from_secs(60);
/// Rounds of setting refused changes aside in one sync before giving up.
const MAX_REFUSAL_ROUNDS: usize = 50;

/// Settings key of the last successful sync (UTC).
const LAST_SYNC_SETTING: &str = "sync.last";
/// Keyring entry of the refresh token.
pub(crate) const REFRESH_TOKEN_ENTRY: &str = "servidor-sincronizacion";
/// Pull page size.
const PULL_PAGE: i64 = 2_000;
/// Most ops one bulk-load transaction of a pull applies (see `sync_with`).
const BULK_RUN_OPS: usize = 250_000;
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
            SyncError::Refused {
                status: 403,
                message,
                ..
            } => AppError::Forbidden(message),
            SyncError::Refused { message, .. } => AppError::Invalid(message),
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

/// The result of a sync (CLI `--json` contract: pushed, pulled, applied, conflicts,
/// pending, refused, removed).
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncReport {
    /// Ops the server stored (or already had).
    pub pushed: u64,
    /// Ops pulled from the server.
    pub pulled: u64,
    /// Of those, the ones that changed something here.
    pub applied: u64,
    /// Pulled values this laptop cannot hold (wrong type): skipped and counted.
    pub invalid: u64,
    /// Pulled edits of invoices not here yet, kept until their document arrives.
    pub held: u64,
    /// Open conflicts after the sync.
    pub conflicts: u64,
    /// Ops still waiting to be sent (0 after a good sync).
    pub pending: u64,
    /// Changes the server refused, set aside (all of them, not only this sync's), each
    /// waiting for «descartar».
    pub refused: Vec<RefusedChange>,
    /// Invoices this sync removed because they left the account's obras, and why.
    pub removed: Vec<RemovedInvoice>,
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
    /// Changes the server refused, waiting for «descartar».
    pub refused: u64,
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
        // the server issues the device id and binds it to the session; it gives this
        // laptop its own id back when the same account links it again
        let held = self.store.setting(icc_store::sync::DEVICE_SETTING).await?;
        let tokens = client
            .login(server_user.trim(), &password.into(), held.as_deref())
            .await?;
        self.store_secret(REFRESH_TOKEN_ENTRY, &tokens.refresh_token)
            .await?;
        self.remember_access(&tokens);
        let device = if tokens.device_id.is_empty() {
            // a server from before device ids were issued
            held.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
        } else {
            tokens.device_id.clone()
        };
        let mut tx = self.store.write(&s.username).await?;
        tx.set_setting(SERVER_SETTING, client.url().trim_end_matches('/'))
            .await?;
        tx.set_setting(SERVER_USER_SETTING, &tokens.user.username)
            .await?;
        let queued = tx.link_device(&device).await?;
        let old = self.account_profile().await?;
        self.keep_account(&mut tx, &tokens.user, old).await?;
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

    /// Keeps a new access token until shortly before it expires.
    fn remember_access(&self, tokens: &icc_sync::Tokens) {
        let life = std::time::Duration::from_secs(tokens.expires_in).saturating_sub(ACCESS_MARGIN);
        if let Ok(mut a) = self.access.lock() {
            *a = Some((
                tokens.access_token.clone(),
                std::time::Instant::now() + life,
            ));
        }
    }

    fn forget_access(&self) {
        if let Ok(mut a) = self.access.lock() {
            *a = None;
        }
    }

    /// The access token: the one in hand while it lives, else a new one for the refresh
    /// token (which rotates: the new one replaces it in the keyring at once). After a backup
    /// restore the server is asked for a new device id at the same time.
    async fn access_token(&self, client: &SyncClient) -> Result<Secret> {
        let reset = self
            .store
            .setting(icc_store::backup::DEVICE_RESET_SETTING)
            .await?
            .is_some();
        if !reset
            && let Ok(a) = self.access.lock()
            && let Some((token, until)) = a.as_ref()
            && std::time::Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let refresh = self.secret(REFRESH_TOKEN_ENTRY).await?.ok_or_else(|| {
            AppError::Credentials(
                "no hay sesión con el servidor en este equipo; use `icc login --server URL --server-user NOMBRE`".into(),
            )
        })?;
        let tokens = client.refresh(&refresh, reset).await?;
        self.store_secret(REFRESH_TOKEN_ENTRY, &tokens.refresh_token)
            .await?;
        if reset && !tokens.device_id.is_empty() {
            let mut tx = self.store.write("sync").await?;
            tx.set_setting(icc_store::sync::DEVICE_SETTING, &tokens.device_id)
                .await?;
            tx.set_setting(icc_store::sync::CURSOR_SETTING, "0").await?;
            tx.delete_setting(icc_store::backup::DEVICE_RESET_SETTING)
                .await?;
            tx.audit(
                "sync",
                tokens.device_id.clone(),
                "nuevo_dispositivo",
                Some("dispositivo"),
                None,
                Some("restauración de respaldo".into()),
            );
            tx.commit().await?;
            tracing::info!(device = %tokens.device_id, "new device id after a restore; pulling everything again");
        }
        // a write only when the account changed (every refresh describes it)
        let old = self.account_profile().await?;
        if old != Some(canonical(&tokens.user)) {
            let mut tx = self.store.write("sync").await?;
            self.keep_account(&mut tx, &tokens.user, old).await?;
            tx.commit().await?;
        }
        self.remember_access(&tokens);
        Ok(tokens.access_token)
    }

    /// The server account this laptop is linked as, as the server last described it.
    async fn account_profile(&self) -> Result<Option<icc_sync::Profile>> {
        let Some(text) = self.store.setting(icc_store::sync::ACCOUNT_SETTING).await? else {
            return Ok(None);
        };
        match serde_json::from_str(&text) {
            Ok(p) => Ok(Some(p)),
            Err(e) => {
                tracing::warn!(
                    "the stored server account is unreadable ({e}); the next sync rewrites it"
                );
                Ok(None)
            }
        }
    }

    /// Keeps the server account's role and obras as the server just said them (every
    /// session on this laptop then follows them, [`App::with_account`]), audited when they
    /// differ from `old`, the account kept so far ([`App::account_profile`]).
    async fn keep_account(
        &self,
        tx: &mut icc_store::WriteTx,
        profile: &icc_sync::Profile,
        old: Option<icc_sync::Profile>,
    ) -> Result<()> {
        let profile = &canonical(profile);
        if old.as_ref() == Some(profile) {
            return Ok(());
        }
        let text = serde_json::to_string(profile)
            .map_err(|e| AppError::Io(format!("no se pudo guardar la cuenta del servidor: {e}")))?;
        tx.set_setting(icc_store::sync::ACCOUNT_SETTING, &text)
            .await?;
        let describe = |p: &icc_sync::Profile| {
            let role = p
                .role
                .parse::<icc_core::Role>()
                .map_or(p.role.as_str(), |r| r.label());
            if p.obras.is_empty() {
                format!("{} ({role})", p.username)
            } else {
                format!("{} ({role}; obras {})", p.username, p.obras.join(", "))
            }
        };
        tx.audit(
            "sync",
            "servidor",
            "cuenta",
            Some("cuenta"),
            old.as_ref().map(describe),
            Some(describe(profile)),
        );
        tracing::info!(user = %profile.username, role = %profile.role, obras = ?profile.obras, "server account's role and obras kept");
        Ok(())
    }

    /// `s` as the linked server account allows it (DESIGN: a linked laptop keeps the
    /// account's role and obras and applies them; the server would refuse the rest). A role
    /// this version does not know applies as the narrowest one, a site manager of the
    /// account's obras.
    ///
    /// # Errors
    /// Database errors.
    pub(crate) async fn with_account(&self, s: Session) -> Result<Session> {
        let Some(p) = self.account_profile().await? else {
            return Ok(s);
        };
        let role = p.role.parse().unwrap_or_else(|_| {
            tracing::warn!(role = %p.role, "unknown server role; applied as a site manager's");
            icc_core::Role::AdminObra
        });
        Ok(s.under_account(&p.username, role, p.obras))
    }

    /// Waits for any other sync of this data folder (in this process or another: the app,
    /// its timer, the command line) and holds the turn until the guard is dropped.
    async fn sync_turn(&self) -> Result<SyncTurn<'_>> {
        let gate = self.sync_gate.lock().await;
        let file = crate::lock_file(&self.data_dir, SYNC_LOCK_FILE, false).await?;
        Ok(SyncTurn {
            _gate: gate,
            _file: file,
        })
    }

    /// Pushes the outbox and pulls what others did. One sync at a time per data folder:
    /// a second one waits for the first. Changes the server refuses are set aside (listed
    /// in the report until someone discards them) and the ones after them still go out.
    ///
    /// # Errors
    /// Not linked, the session refused, the server unreachable (nothing is lost: the outbox
    /// keeps what was not sent, the cursor what was not applied).
    pub async fn sync(&self, s: &Session) -> Result<SyncReport> {
        let _turn = self.sync_turn().await?;
        let client = self.server_client().await?;
        let access = match self.access_token(&client).await {
            Ok(a) => a,
            Err(e) => {
                self.forget_access();
                return Err(e);
            }
        };
        let result = self.sync_with(s, &client, &access).await;
        if matches!(result, Err(AppError::Credentials(_))) {
            self.forget_access();
        }
        result
    }

    async fn sync_with(
        &self,
        s: &Session,
        client: &SyncClient,
        access: &Secret,
    ) -> Result<SyncReport> {
        let device = self
            .store
            .setting(icc_store::sync::DEVICE_SETTING)
            .await?
            .ok_or_else(|| {
                AppError::Invalid("este equipo no está vinculado a un servidor".into())
            })?;
        let mut report = SyncReport::default();
        let mut rounds = 0;
        // invoices whose document this sync sent again (at most once each)
        let mut resent_docs = std::collections::HashSet::new();
        loop {
            match self
                .push_outbox(s, client, access, &device, &mut report)
                .await?
            {
                None => break,
                Some(refused) => {
                    rounds += 1;
                    // changes of an invoice the server does not hold: its document goes
                    // again, ahead of them (a server restored from an older backup)
                    let mut tx = self.store.write(&s.username).await?;
                    let (behind, resent) = tx.resend_documents(&refused, &resent_docs).await?;
                    tx.commit().await?;
                    if !behind.is_empty() {
                        let mut tx = self.store.write(&s.username).await?;
                        tx.move_behind(&behind).await?;
                        tx.commit().await?;
                        tracing::warn!(
                            invoices = resent.len(),
                            "sync: the server did not hold invoices this laptop changed; their documents go again"
                        );
                    }
                    resent_docs.extend(resent);
                    let rest: Vec<icc_core::sync::Refusal> = refused
                        .into_iter()
                        .filter(|r| !behind.contains(&r.op_id))
                        .collect();
                    let mut moved = 0;
                    if !rest.is_empty() {
                        let mut tx = self.store.write(&s.username).await?;
                        moved = tx.set_aside(&rest).await?;
                        tx.commit().await?;
                        tracing::warn!(
                            refused = rest.len(),
                            moved,
                            "sync: the server refused changes; set aside"
                        );
                    }
                    let refused = rest;
                    if (moved == 0 && behind.is_empty()) || rounds >= MAX_REFUSAL_ROUNDS {
                        return Err(AppError::Remote(format!(
                            "el servidor rechazó cambios que este equipo no pudo apartar ({}); los cambios siguen guardados aquí: pida a TI que lo revise",
                            refused
                                .first()
                                .map_or_else(String::new, |r| r.reason.clone())
                        )));
                    }
                }
            }
        }
        // Pages are fetched one ahead: while this laptop applies a page, the server reads
        // and sends the next (a new laptop joining a large server spends about as long
        // receiving as applying). The next request carries the cursor and the scope the
        // page being applied will leave here; if applying fails, the page fetched ahead is
        // dropped and nothing moved.
        let cursor: i64 = self
            .store
            .setting(icc_store::sync::CURSOR_SETTING)
            .await?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let held = self.store.setting(icc_store::sync::SCOPE_SETTING).await?;
        // Not known here (a laptop linked before pulls answered it, or just restored): said
        // as not held, so an account that may see the treasury gets it whole once
        let treasury = Some(
            self.store
                .setting(icc_store::sync::TREASURY_SETTING)
                .await?
                .is_some_and(|t| t == "1"),
        );
        let fetch = |cursor: i64, held: Option<String>, treasury: Option<bool>| {
            let (client, access, device) = (client.clone(), access.clone(), device.clone());
            tokio::spawn(async move {
                let page = client
                    .pull(
                        &access,
                        &device,
                        cursor,
                        PULL_PAGE,
                        held.as_deref(),
                        treasury,
                    )
                    .await?;
                // decoded here, while the page before is written (CPU work: off the
                // runtime's threads)
                tokio::task::spawn_blocking(move || {
                    let docs = icc_store::sync::decode_invoice_docs(&page.ops);
                    (page, docs)
                })
                .await
                .map_err(|e| {
                    AppError::Remote(format!(
                        "no se pudo leer una página recibida del servidor ({e}); se reintentará en la próxima sincronización"
                    ))
                })
            })
        };
        let mut ahead = Some(fetch(cursor, held, treasury));
        // A laptop catching up on many documents (a new one joining) applies them as a bulk
        // load: pages share one write transaction, the list indexes are rebuilt once at its
        // end (WriteTx::expect_bulk), and the full-text index is merged once. A crash or an
        // error rolls the whole run back to the cursor it started from; runs are cut at
        // BULK_RUN_OPS so a very large server is not one transaction.
        let mut bulk: Option<(icc_store::WriteTx, usize)> = None;
        // the account's role and obras as the last page says them (kept at the end)
        let mut account: Option<(String, Option<Vec<String>>)> = None;
        while let Some(next) = ahead.take() {
            let (page, docs) = next.await.map_err(|e| {
                AppError::Remote(format!(
                    "la recepción desde el servidor se interrumpió ({e}); se reintentará en la próxima sincronización"
                ))
            })??;
            if page.more {
                let scope = page
                    .scope
                    .as_ref()
                    .map_or_else(|| "*".to_owned(), |s| s.join(","));
                ahead = Some(fetch(page.next_cursor, Some(scope), page.treasury));
            }
            if let Some(role) = &page.role {
                account = Some((role.clone(), page.scope.clone()));
            }
            let (mut tx, mut run) = match bulk.take() {
                Some(b) => b,
                None => {
                    let mut tx = self.store.write(&s.username).await?;
                    if page.more
                        && let Some(left) = page.remaining
                    {
                        let expected = page
                            .ops
                            .len()
                            .saturating_add(usize::try_from(left).unwrap_or(0).min(BULK_RUN_OPS));
                        tx.expect_bulk(expected).await?;
                    }
                    (tx, 0)
                }
            };
            run += page.ops.len();
            let applied = tx
                .apply_decoded(
                    &page.ops,
                    docs,
                    &page.conflicts,
                    &page.removed,
                    page.scope.as_deref(),
                    page.next_cursor,
                )
                .await?;
            let left = tx.apply_treasury_scope(page.treasury).await?;
            if left > 0 {
                tracing::info!(
                    left,
                    "sync: the account no longer sees the treasury; its documents were removed here"
                );
            }
            if page.more && tx.bulk_load() && run < BULK_RUN_OPS {
                bulk = Some((tx, run));
            } else {
                tx.commit().await?;
            }
            report.pulled += page.ops.len() as u64;
            report.applied += applied.applied;
            report.invalid += applied.invalid;
            report.held += applied.held;
            report.removed.extend(applied.removed);
        }
        if !report.removed.is_empty() {
            // their attachments' files, now that the removal is committed
            match self.forget_unreferenced_attachments().await {
                Ok(n) if n > 0 => {
                    tracing::info!(files = n, "sync: attachments of removed invoices deleted")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "sync: attachments of removed invoices were not deleted; the next removal retries")
                }
            }
        }
        let mut tx = self.store.write(&s.username).await?;
        tx.set_setting(LAST_SYNC_SETTING, &icc_store::now_utc())
            .await?;
        if let (Some((role, scope)), Some(username)) =
            (account, self.store.setting(SERVER_USER_SETTING).await?)
        {
            let profile = icc_sync::Profile {
                username,
                role,
                obras: scope.unwrap_or_default(),
            };
            let old = self.account_profile().await?;
            self.keep_account(&mut tx, &profile, old).await?;
        }
        tx.commit().await?;
        report.conflicts = self
            .conflicts(s)
            .await?
            .iter()
            .filter(|c| c.resolved_by.is_none())
            .count() as u64;
        report.pending = self.store.outbox_len().await?.unsigned_abs();
        report.refused = self.store.refused().await?;
        tracing::info!(
            pushed = report.pushed,
            pulled = report.pulled,
            conflicts = report.conflicts,
            refused = report.refused.len(),
            removed = report.removed.len(),
            "sync"
        );
        Ok(report)
    }

    /// Sends the outbox in batches until it is empty (`None`) or the server refuses some
    /// ops of a batch (`Some(refused)`: nothing of that batch was stored).
    ///
    /// Pushes overlap with each other and with the laptop's own work: while batches
    /// travel, the next one is read from the outbox and the acknowledged ones are marked
    /// sent. Batches of documents may be in flight together (the server stores documents
    /// in any order with the same result); a batch with field edits goes only when every
    /// batch before it was acknowledged, so an edit never reaches the server before the
    /// document it changes, and edits arrive in the order they were made. Only an
    /// acknowledged prefix of the outbox is ever marked; a failure leaves the rest in the
    /// outbox (what the server had already stored is re-sent as duplicates, which it
    /// ignores).
    async fn push_outbox(
        &self,
        s: &Session,
        client: &SyncClient,
        access: &Secret,
        device: &str,
        report: &mut SyncReport,
    ) -> Result<Option<Vec<Refusal>>> {
        let limit = PUSH_BATCH.min(MAX_PUSH_OPS as i64);
        let mut next = self.store.outbox_batch(0, limit, PUSH_BYTES).await?;
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        let mut acknowledged: Option<i64> = None;
        loop {
            while in_flight.len() < PUSH_WINDOW
                && next
                    .as_ref()
                    .is_some_and(|b| !b.edits || in_flight.is_empty())
            {
                let Some(batch) = next.take() else { break };
                let (client, access, device) = (client.clone(), access.clone(), device.to_owned());
                let sent_at_ms = chrono::Utc::now().timestamp_millis();
                in_flight.push_back(InFlight {
                    last_seq: batch.last_seq,
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
                (Ok(()), Ok(Err(SyncError::Refused { refused, .. }))) => Err(Ok(refused)),
                (Ok(()), Ok(Err(e))) => Err(Err(AppError::from(e))),
                (Err(e), _) | (_, Err(e)) => Err(Err(e)),
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
                    self.mark_sent(s, acknowledged).await?;
                    return e.map(Some);
                }
            }
        }
        self.mark_sent(s, acknowledged).await?;
        Ok(None)
    }

    /// Changes the server refused, waiting for «descartar».
    ///
    /// # Errors
    /// Store errors.
    pub async fn refused_changes(&self, s: &Session) -> Result<Vec<RefusedChange>> {
        let _ = s;
        Ok(self.store.refused().await?)
    }

    /// Invoices removed from this laptop because they left the account's obras, newest
    /// first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn removed_invoices(&self, s: &Session) -> Result<Vec<RemovedInvoice>> {
        let _ = s;
        Ok(self.store.removed_invoices(200).await?)
    }

    /// Discards a change the server refused: the server's value of the field is restored
    /// here (audited as `descarte`) and the change is forgotten.
    ///
    /// # Errors
    /// Unknown change, store errors.
    pub async fn discard_refused(&self, s: &Session, op_id: &str) -> Result<RefusedChange> {
        let mut tx = self.store.write(&s.username).await?;
        let change = tx.discard_refused(op_id).await?;
        tx.commit().await?;
        tracing::info!(op = %change.op_id, entity = %change.entity_id, field = %change.field, "refused change discarded");
        Ok(change)
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
    /// The sync server as doctor sees it: (passed, what was found, what to do, whether the
    /// only problem is that the server did not answer).
    pub(crate) async fn sync_check(&self) -> Option<(bool, String, Option<String>, bool)> {
        let url = self.store.setting(SERVER_SETTING).await.ok().flatten()?;
        let client = match SyncClient::new(&url) {
            Ok(c) => c,
            Err(e) => {
                return Some((
                    false,
                    e.to_string(),
                    Some("vuelva a vincular el equipo con una dirección válida".into()),
                    false,
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
                true,
            ),
            Ok(h) if h.protocol != icc_core::sync::PROTOCOL_VERSION => (
                false,
                format!(
                    "{url} usa el protocolo {} y esta aplicación el {}",
                    h.protocol,
                    icc_core::sync::PROTOCOL_VERSION
                ),
                Some("actualice la aplicación o el servidor para que coincidan".into()),
                false,
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
                        false,
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
                        false,
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
            refused: self.store.refused().await?.len() as u64,
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
    /// again as a new edit (which then wins everywhere). Either way the resolution is
    /// saved here and sent to the server, and reaches every device. `Some(reason)` when it
    /// could not be sent now (no server answer, say): it waits in the outbox for the next
    /// sync, like any edit made offline.
    ///
    /// # Errors
    /// Unknown conflict, forbidden obra, a value the user may not keep.
    pub async fn resolve_conflict(
        &self,
        s: &Session,
        id: i64,
        keep: Keep,
    ) -> Result<Option<String>> {
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
        // the kept value and the resolution travel through the outbox like any edit: sent
        // now if the server answers, else at the next sync
        match self.sync(s).await {
            Ok(_) => Ok(None),
            Err(e) => {
                tracing::warn!(conflict = id, error = %e, "a resolved conflict waits for the next sync");
                Ok(Some(e.to_string()))
            }
        }
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
        self.forget_access();
        let mut tx = self.store.write(&s.username).await?;
        // no longer acting for that account: the local users' own roles apply again (what
        // waits in the outbox still goes as the account that next links this laptop)
        tx.delete_setting(icc_store::sync::ACCOUNT_SETTING).await?;
        tx.audit("sync", "servidor", "logout", None, None, None);
        tx.commit().await?;
        Ok(())
    }
}

/// A server account as this laptop keeps it, whichever answer described it (a token
/// refresh lists the account's obras as IT typed them, a pull as its scope): obras in upper
/// case and sorted, and none for a role that sees every obra.
fn canonical(p: &icc_sync::Profile) -> icc_sync::Profile {
    let scoped = p
        .role
        .parse::<icc_core::Role>()
        .map_or(true, |r| r == icc_core::Role::AdminObra);
    let mut obras: Vec<String> = if scoped {
        p.obras.iter().map(|o| o.trim().to_uppercase()).collect()
    } else {
        Vec::new()
    };
    obras.sort();
    obras.dedup();
    icc_sync::Profile {
        username: p.username.clone(),
        role: p.role.trim().to_lowercase(),
        obras,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(role: &str, obras: &[&str]) -> icc_sync::Profile {
        icc_sync::Profile {
            username: "jefe1".into(),
            role: role.into(),
            obras: obras.iter().map(|o| (*o).to_owned()).collect(),
        }
    }

    #[test]
    fn the_account_is_kept_the_same_whichever_answer_described_it() {
        // a refresh lists the obras as IT typed them, a pull as the upper-cased scope
        assert_eq!(
            canonical(&profile("admin_obra", &["ob-2", " OB-1", "OB-2"])),
            canonical(&profile("admin_obra", &["OB-1", "OB-2"]))
        );
        assert_eq!(
            canonical(&profile("admin_obra", &["ob-2", "OB-1"])).obras,
            vec!["OB-1".to_owned(), "OB-2".to_owned()]
        );
        // a role that sees every obra keeps none (a refresh may list stale ones)
        assert!(
            canonical(&profile("Contabilidad", &["OB-1"]))
                .obras
                .is_empty()
        );
        assert_eq!(
            canonical(&profile("Contabilidad", &[])).role,
            "contabilidad"
        );
        // a role this version does not know keeps its obras: it applies as a site manager's
        assert_eq!(
            canonical(&profile("auditor", &["ob-9"])).obras,
            vec!["OB-9".to_owned()]
        );
    }
}
