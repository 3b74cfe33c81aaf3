//! Posting invoices to the Kame ERP (docs/kame.md): settings, the accountant's templates,
//! the suppliers' fichas pulled from Kame, and the posting run.
//!
//! Kame has no duplicate protection, so every voucher is recorded before its request
//! (`enviando`) and after Kame's answer. A voucher left `enviando` (a crash, a lost answer)
//! is looked up in Kame's payables before anything is sent again; one run at a time per
//! data folder (a file lock), so two runs never race on the same invoice.

use std::time::Duration;

use icc_core::kame::{Plantilla, comprobante};
use icc_core::{Permission, Rut, Secret};
use icc_kame::{Client, ClientConfig, KameError};
pub use icc_store::kame::{Envio, Ficha, FichasStored};
use icc_store::kame::{KameInvoice, NewFicha};
use serde::Serialize;

use crate::{App, AppError, Result, Session};

const URL_SETTING: &str = "kame.url";
const CLIENT_ID_SETTING: &str = "kame.client_id";
const USUARIO_SETTING: &str = "kame.usuario";
const INTERVAL_SETTING: &str = "kame.intervalo_ms";
/// Overrides the stored address (tests, the fake server).
pub const URL_ENV: &str = "ICC_KAME_URL";
/// Overrides the pace between requests, in milliseconds (tests against the fake).
pub const INTERVAL_ENV: &str = "ICC_KAME_INTERVALO_MS";
/// The keyring credential holding the OAuth client secret.
pub const SECRET_CREDENTIAL: &str = "kame";
const LOCK_FILE: &str = "kame.lock";
/// Most invoices one posting run takes (at Kame's 180 requests a minute, 50 minutes).
pub const MAX_RUN: usize = 10_000;

/// How long a voucher left `enviando` waits before it is looked up in Kame (and possibly
/// sent again): a request that timed out may still be being processed.
pub const VERIFY_AFTER_SECS: i64 = 120;
/// Overrides [`VERIFY_AFTER_SECS`] (tests).
pub const VERIFY_AFTER_ENV: &str = "ICC_KAME_VERIFICAR_TRAS_S";

impl From<KameError> for AppError {
    fn from(e: KameError) -> AppError {
        match e {
            KameError::BadUrl(_) => AppError::Invalid(e.to_string()),
            e if e.is_credentials() => AppError::Credentials(e.to_string()),
            e => AppError::Remote(e.to_string()),
        }
    }
}

/// The Kame settings a screen shows (never the secret).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct KameSettings {
    /// Base address in use.
    pub url: String,
    /// Whether `ICC_KAME_URL` overrides it.
    pub url_de_entorno: bool,
    /// OAuth client id.
    pub client_id: Option<String>,
    /// Kame user vouchers are written as.
    pub usuario: Option<String>,
    /// Whether the client secret is in the keyring.
    pub secreto_guardado: bool,
}

/// One entry of the centro de gestión → unidad de negocio map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Unidad {
    /// The centro's first 4 characters.
    pub centro: String,
    /// Kame's unidad de negocio.
    pub unidad: String,
}

/// A local edit of a supplier's ficha: `None` leaves the field as it is.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FichaEdit {
    /// Concepto de compra (never emptied).
    pub concepto: Option<String>,
    /// Kame's «proveedor» flag.
    pub proveedor: Option<bool>,
    /// Kame's «honorario» flag (fees: a boleta de honorarios, not an invoice).
    pub honorario: Option<bool>,
}

/// What a bulk concepto assignment did ([`App::kame_assign_concepto`]).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ConceptoAsignado {
    /// The concepto, as its template writes it.
    pub concepto: String,
    /// Invoices selected (each now reached by the template).
    pub facturas: u64,
    /// Suppliers whose ficha got the concepto.
    pub proveedores: u64,
    /// Suppliers that already had it.
    pub sin_cambio: u64,
}

/// What `kame fichas` did.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FichasReport {
    /// Pages read.
    pub paginas: u32,
    /// Fichas received and read.
    pub recibidas: usize,
    /// Items that could not be read, with why.
    pub rechazadas: Vec<String>,
    /// What storing them did.
    #[serde(flatten)]
    pub guardadas: FichasStored,
}

/// How posting one invoice ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Resultado {
    /// Kame took the voucher now.
    Publicado,
    /// It was posted before: nothing sent.
    YaPublicado,
    /// Its earlier answer was lost and Kame has it: recorded, nothing sent.
    Recuperado,
    /// Not sendable (no template, void, amounts that do not add up) or refused by Kame.
    Rechazado,
    /// Sent, and no answer: checked before anything is sent again.
    Incierto,
    /// Not sent (no connection, the run stopped).
    NoEnviado,
}

/// One invoice's line of a posting run.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PostResult {
    /// Invoice id.
    pub id: String,
    /// `RUT:TIPO:FOLIO`, when the invoice exists.
    pub documento: Option<String>,
    /// How it ended.
    pub resultado: Resultado,
    /// Kame's voucher number.
    pub kame_id: Option<String>,
    /// Why, when it was not posted.
    pub mensaje: Option<String>,
}

/// A posting run.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PostReport {
    /// Per invoice, in the order asked.
    pub resultados: Vec<PostResult>,
    /// Posted now.
    pub publicadas: usize,
    /// Found posted (before, or recovered).
    pub ya_publicadas: usize,
    /// Refused.
    pub rechazadas: usize,
    /// Left uncertain or unsent: run again.
    pub pendientes: usize,
}

/// What bringing the predecessor's Kame maps and upload log across did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LegacyKameReport {
    /// Templates made from `cuentas.xlsx` (concepto → cuenta del neto).
    pub plantillas_nuevas: usize,
    /// Conceptos that already had a template here (left as they are).
    pub plantillas_existentes: usize,
    /// Centro → unidad de negocio entries from `UN.xlsx`.
    pub unidades: usize,
    /// Invoices the predecessor had sent to Kame (`subidas.csv`), now marked posted.
    pub contabilizadas_antes: usize,
    /// Upload-log entries whose invoice is not here.
    pub subidas_sin_factura: usize,
    /// Rows not used, with why.
    pub omitidas: Vec<String>,
}

/// Progress of a posting run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PostProgress {
    /// Invoices done.
    pub hechas: usize,
    /// Invoices in the run.
    pub total: usize,
}

impl App {
    /// The Kame settings.
    ///
    /// # Errors
    /// Store or keyring errors.
    pub async fn kame_settings(&self) -> Result<KameSettings> {
        let env = std::env::var(URL_ENV).ok().filter(|v| !v.trim().is_empty());
        let url = match &env {
            Some(u) => u.trim().to_owned(),
            None => self
                .store
                .setting(URL_SETTING)
                .await?
                .unwrap_or_else(|| icc_kame::DEFAULT_BASE_URL.to_owned()),
        };
        Ok(KameSettings {
            url,
            url_de_entorno: env.is_some(),
            client_id: self.store.setting(CLIENT_ID_SETTING).await?,
            usuario: self.store.setting(USUARIO_SETTING).await?,
            secreto_guardado: self.credential(SECRET_CREDENTIAL).await?.is_some(),
        })
    }

    /// Sets the client id, the Kame user and, optionally, the address (none: the stored one
    /// stays, the public API when none was stored). The secret goes to the keyring with
    /// `credentials set kame`.
    ///
    /// # Errors
    /// Forbidden, an empty client id or user, an address that is not http(s), store errors.
    pub async fn set_kame_settings(
        &self,
        s: &Session,
        client_id: &str,
        usuario: &str,
        url: Option<&str>,
    ) -> Result<()> {
        s.require(Permission::Accounting)?;
        let (client_id, usuario) = (client_id.trim(), usuario.trim());
        if client_id.is_empty() || usuario.is_empty() {
            return Err(AppError::Invalid(
                "Kame: el client_id y el usuario no pueden estar vacíos".into(),
            ));
        }
        let url = url.map(str::trim).filter(|u| !u.is_empty());
        if let Some(u) = url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            return Err(AppError::Invalid(format!(
                "la dirección de Kame «{u}» no es válida: use por ejemplo {}",
                icc_kame::DEFAULT_BASE_URL
            )));
        }
        let mut tx = self.store.write(&s.username).await?;
        let mut values = vec![(CLIENT_ID_SETTING, client_id), (USUARIO_SETTING, usuario)];
        // no address: the stored one (or the public API) stays
        if let Some(u) = url {
            values.push((URL_SETTING, u));
        }
        for (key, value) in values {
            tx.set_setting(key, value).await?;
            tx.audit(
                "setting",
                key,
                "update",
                Some("valor"),
                None,
                Some(value.to_owned()),
            );
        }
        tx.commit().await?;
        Ok(())
    }

    async fn kame_client(&self) -> Result<Client> {
        let settings = self.kame_settings().await?;
        let secret = self
            .credential(SECRET_CREDENTIAL)
            .await?
            .unwrap_or_else(|| Secret::new(""));
        let mut cfg = ClientConfig::new(
            settings.client_id.as_deref().unwrap_or(""),
            secret,
            settings.usuario.as_deref().unwrap_or(""),
        );
        cfg.base_url = settings.url;
        let interval = match std::env::var(INTERVAL_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            Some(ms) => Some(ms),
            None => self
                .store
                .setting(INTERVAL_SETTING)
                .await?
                .and_then(|v| v.parse().ok()),
        };
        if let Some(ms) = interval {
            // the client keeps Kame's published limit except against a local server
            cfg.min_interval = Duration::from_millis(ms);
            cfg.backoff_base = Duration::from_millis(ms.clamp(10, 500));
        }
        Ok(Client::new(cfg)?)
    }

    /// Pulls every supplier ficha from Kame (page by page) and stores them; fichas edited
    /// here are kept.
    ///
    /// # Errors
    /// Forbidden, Kame errors (nothing is stored then), store errors.
    pub async fn kame_pull_fichas(&self, s: &Session) -> Result<FichasReport> {
        s.require(Permission::Accounting)?;
        let client = self.kame_client().await?;
        let mut fichas = Vec::new();
        let mut rechazadas = Vec::new();
        let mut paginas = 0u32;
        let mut seen = 0usize;
        loop {
            let page = client.fichas_page(paginas + 1).await?;
            paginas += 1;
            seen += page.items;
            fichas.extend(page.fichas);
            rechazadas.extend(page.rejected);
            // the last page is short or empty; `total` guards against a server that never
            // sends an empty page, the page cap against one whose total is wrong
            if page.items == 0
                || page.items < page.per_page
                || seen >= page.total
                || paginas >= 10_000
            {
                break;
            }
        }
        let recibidas = fichas.len();
        let new: Vec<NewFicha> = fichas
            .into_iter()
            .map(|f| NewFicha {
                rut: f.rut,
                nombre: f.nombre,
                concepto: f.concepto,
                proveedor: f.proveedor,
                honorario: f.honorario,
            })
            .collect();
        let mut tx = self.store.write(&s.username).await?;
        let guardadas = tx.store_kame_fichas(&new, false).await?;
        tx.commit().await?;
        Ok(FichasReport {
            paginas,
            recibidas,
            rechazadas,
            guardadas,
        })
    }

    /// Sets a supplier's concepto de compra here (kept when Kame's fichas are pulled again).
    ///
    /// # Errors
    /// Forbidden, a malformed RUT, an empty concepto, store errors.
    pub async fn kame_set_concepto(&self, s: &Session, rut: &str, concepto: &str) -> Result<()> {
        self.kame_edit_ficha(
            s,
            rut,
            &FichaEdit {
                concepto: Some(concepto.to_owned()),
                ..FichaEdit::default()
            },
        )
        .await
    }

    /// A supplier's ficha as kept here, if it has one.
    ///
    /// # Errors
    /// Forbidden, a malformed RUT, store errors.
    pub async fn kame_ficha(&self, s: &Session, rut: &str) -> Result<Option<Ficha>> {
        s.require(Permission::Accounting)?;
        let rut: Rut = rut
            .parse()
            .map_err(|e| AppError::Invalid(format!("RUT «{}»: {e}", rut.trim())))?;
        Ok(self.store.kame_ficha(&rut).await?)
    }

    /// Edits a supplier's ficha here: what `edit` names changes, the rest stays (a supplier
    /// without a ficha gets one, a provider without the honorario flag unless told). The
    /// ficha is then kept as edited when Kame's fichas are pulled again; every field
    /// changed is audited.
    ///
    /// # Errors
    /// Forbidden, a malformed RUT, an empty concepto, store errors.
    pub async fn kame_edit_ficha(&self, s: &Session, rut: &str, edit: &FichaEdit) -> Result<()> {
        s.require(Permission::Accounting)?;
        let rut: Rut = rut
            .parse()
            .map_err(|e| AppError::Invalid(format!("RUT «{}»: {e}", rut.trim())))?;
        let concepto = match edit.concepto.as_deref().map(str::trim) {
            Some("") => {
                return Err(AppError::Invalid(format!(
                    "el concepto de compra de {} no puede quedar vacío",
                    rut.display()
                )));
            }
            other => other.map(str::to_owned),
        };
        let old = self.store.kame_ficha(&rut).await?;
        let old = old.as_ref();
        let mut tx = self.store.write(&s.username).await?;
        tx.store_kame_fichas(
            &[NewFicha {
                rut,
                nombre: old.and_then(|f| f.nombre.clone()),
                concepto: concepto.or_else(|| old.and_then(|f| f.concepto.clone())),
                proveedor: edit
                    .proveedor
                    .unwrap_or_else(|| old.is_none_or(|f| f.proveedor)),
                honorario: edit
                    .honorario
                    .unwrap_or_else(|| old.is_some_and(|f| f.honorario)),
            }],
            true,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives the suppliers of the invoices `ids` the concepto de compra `concepto`, so a
    /// template reaches every one of those invoices (the list's bulk «Asignar concepto»):
    /// the concepto must have a template, or the invoices would stay «sin cuenta». One
    /// transaction; each ficha changed is audited and kept when Kame's fichas are pulled
    /// again.
    ///
    /// # Errors
    /// Forbidden, no invoice or an unknown one, a concepto without a template, store errors.
    pub async fn kame_assign_concepto(
        &self,
        s: &Session,
        ids: &[String],
        concepto: &str,
    ) -> Result<ConceptoAsignado> {
        s.require(Permission::Accounting)?;
        let concepto = concepto.trim();
        if concepto.is_empty() {
            return Err(AppError::Invalid(
                "indique el concepto de compra que se asigna".into(),
            ));
        }
        let Some(plantilla) = self.store.kame_plantilla(concepto).await? else {
            return Err(AppError::Invalid(format!(
                "el concepto «{concepto}» no tiene plantilla contable: créela en Contabilidad (o con `icc kame plantilla set`) y vuelva a asignarlo"
            )));
        };
        if ids.is_empty() {
            return Err(AppError::Invalid(
                "no hay facturas seleccionadas a las que asignar el concepto".into(),
            ));
        }
        let ids = self
            .kame_selection(s, ids, icc_store::InvoiceFilter::default())
            .await?;
        let (suppliers, facturas) = self.store.suppliers_of_invoices(&ids).await?;
        let mut fichas = Vec::with_capacity(suppliers.len());
        let mut sin_cambio = 0;
        for (rut, name) in &suppliers {
            let rut: Rut = rut
                .parse()
                .map_err(|e| AppError::Invalid(format!("RUT «{rut}» guardado: {e}")))?;
            let old = self.store.kame_ficha(&rut).await?;
            // compared as the template lookup does (SQLite's NOCASE folds ASCII only)
            if old.as_ref().is_some_and(|f| {
                f.concepto
                    .as_deref()
                    .is_some_and(|c| c.trim().eq_ignore_ascii_case(&plantilla.concepto))
            }) {
                sin_cambio += 1;
                continue;
            }
            fichas.push(NewFicha {
                rut,
                nombre: old
                    .as_ref()
                    .and_then(|f| f.nombre.clone())
                    .or_else(|| Some(name.clone())),
                concepto: Some(plantilla.concepto.clone()),
                proveedor: old.as_ref().is_none_or(|f| f.proveedor),
                honorario: old.as_ref().is_some_and(|f| f.honorario),
            });
        }
        if !fichas.is_empty() {
            let mut tx = self.store.write(&s.username).await?;
            tx.store_kame_fichas(&fichas, true).await?;
            tx.commit().await?;
        }
        Ok(ConceptoAsignado {
            concepto: plantilla.concepto,
            facturas,
            proveedores: fichas.len() as u64,
            sin_cambio,
        })
    }

    /// Brings across what the predecessor kept for Kame, archived by `migrate-legacy`:
    /// `cuentas.xlsx` (concepto → expense account) as templates with the given IVA and
    /// payable accounts (a concepto that has a template keeps it), `UN.xlsx` (centro de
    /// costo → unidad de negocio), and its upload log `subidas.csv`: those invoices are
    /// recorded as posted, so no run sends them again. A second run adds nothing.
    ///
    /// # Errors
    /// Forbidden, empty accounts, store errors.
    pub async fn kame_import_legacy(
        &self,
        s: &Session,
        cuenta_iva: &str,
        cuenta_proveedor: &str,
    ) -> Result<LegacyKameReport> {
        s.require(Permission::Accounting)?;
        let mut r = LegacyKameReport::default();
        let value = |data: &serde_json::Value, name: &str| -> Option<String> {
            let m = data.as_object()?;
            m.iter()
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let parse = |raw: &str| serde_json::from_str::<serde_json::Value>(raw).unwrap_or_default();
        let existing: std::collections::HashSet<String> = self
            .store
            .kame_plantillas()
            .await?
            .into_iter()
            .map(|p| p.concepto.to_lowercase())
            .collect();
        let mut plantillas = Vec::new();
        for (id, raw) in self.store.legacy_records("cuentas.xlsx").await? {
            let data = parse(&raw);
            match (value(&data, "Concepto"), value(&data, "Cuenta")) {
                (Some(concepto), Some(cuenta)) => {
                    if existing.contains(&concepto.to_lowercase()) {
                        r.plantillas_existentes += 1;
                        continue;
                    }
                    plantillas.push(Plantilla {
                        concepto,
                        cuenta_neto: cuenta,
                        cuenta_exento: None,
                        cuenta_iva: cuenta_iva.trim().to_owned(),
                        cuenta_otros: None,
                        cuenta_proveedor: cuenta_proveedor.trim().to_owned(),
                        tipo: icc_core::kame::TipoComprobante::Traspaso,
                        misma_cuenta: false,
                    });
                }
                _ => r
                    .omitidas
                    .push(format!("cuentas.xlsx {id}: sin concepto o sin cuenta")),
            }
        }
        let mut unidades = Vec::new();
        for (id, raw) in self.store.legacy_records("UN.xlsx").await? {
            let data = parse(&raw);
            match (
                value(&data, "Centro de Costo Previred")
                    .map(|c| icc_iconstruye::mapping::folio_text(&c)),
                value(&data, "Unidad de Negocio"),
            ) {
                (Some(centro), Some(unidad)) => unidades.push((centro, unidad)),
                _ => r
                    .omitidas
                    .push(format!("UN.xlsx {id}: sin centro o sin unidad de negocio")),
            }
        }
        let subidas: Vec<String> = self
            .store
            .legacy_records("subidas.csv")
            .await?
            .into_iter()
            .filter_map(|(_, raw)| value(&parse(&raw), "idDocumento"))
            .map(|d| icc_iconstruye::mapping::folio_text(&d))
            .collect();
        let known = self.store.invoices_by_external_id(&subidas).await?;
        let mut tx = self.store.write(&s.username).await?;
        for p in &plantillas {
            tx.set_kame_plantilla(p).await?;
            r.plantillas_nuevas += 1;
        }
        for (centro, unidad) in &unidades {
            tx.set_kame_unidad(centro, unidad).await?;
            r.unidades += 1;
        }
        for d in &subidas {
            match known.get(d) {
                Some(invoice) => {
                    if tx.kame_posted_before(invoice).await? {
                        r.contabilizadas_antes += 1;
                    }
                }
                None => r.subidas_sin_factura += 1,
            }
        }
        tx.commit().await?;
        Ok(r)
    }

    /// The templates.
    ///
    /// # Errors
    /// Forbidden, store errors.
    pub async fn kame_plantillas(&self, s: &Session) -> Result<Vec<Plantilla>> {
        s.require(Permission::Accounting)?;
        Ok(self.store.kame_plantillas().await?)
    }

    /// Every voucher record, newest first.
    ///
    /// # Errors
    /// Forbidden, store errors.
    pub async fn kame_envios(&self, s: &Session) -> Result<Vec<Envio>> {
        s.require(Permission::Accounting)?;
        Ok(self.store.kame_envios(None).await?)
    }

    /// Creates or replaces a template.
    ///
    /// # Errors
    /// Forbidden, an empty account, store errors.
    pub async fn kame_set_plantilla(&self, s: &Session, p: &Plantilla) -> Result<()> {
        s.require(Permission::Accounting)?;
        let mut tx = self.store.write(&s.username).await?;
        tx.set_kame_plantilla(p).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Maps a centro de costo (its first 4 characters) to a unidad de negocio. Returns the
    /// entry as stored.
    ///
    /// # Errors
    /// Forbidden, empty values, store errors.
    pub async fn kame_set_unidad(&self, s: &Session, centro: &str, unidad: &str) -> Result<Unidad> {
        s.require(Permission::Accounting)?;
        let mut tx = self.store.write(&s.username).await?;
        let (centro, unidad) = tx.set_kame_unidad(centro, unidad).await?;
        tx.commit().await?;
        Ok(Unidad { centro, unidad })
    }

    /// The centro de gestión → unidad de negocio map, by centro.
    ///
    /// # Errors
    /// Forbidden, store errors.
    pub async fn kame_unidades(&self, s: &Session) -> Result<Vec<Unidad>> {
        s.require(Permission::Accounting)?;
        Ok(self
            .store
            .kame_unidades()
            .await?
            .into_iter()
            .map(|(centro, unidad)| Unidad { centro, unidad })
            .collect())
    }

    /// The invoices a posting run covers: `refs` (ids or `RUT:TIPO:FOLIO`) when given, else
    /// every invoice `filter` shows this user (at most [`MAX_RUN`]).
    ///
    /// # Errors
    /// Forbidden, an unknown reference, a selection larger than [`MAX_RUN`], store errors.
    pub async fn kame_selection(
        &self,
        s: &Session,
        refs: &[String],
        filter: icc_store::InvoiceFilter,
    ) -> Result<Vec<String>> {
        s.require(Permission::Accounting)?;
        if !refs.is_empty() {
            let mut ids = Vec::with_capacity(refs.len());
            for r in refs {
                ids.push(self.resolve_invoice(s, r).await?.row.id);
            }
            return Ok(ids);
        }
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .list_invoices(s, filter.clone(), 1000, cursor.as_deref())
                .await?;
            ids.extend(page.items.into_iter().map(|r| r.id));
            if ids.len() > MAX_RUN {
                return Err(AppError::Invalid(format!(
                    "el filtro abarca más de {MAX_RUN} facturas: acótelo (por fechas u obra) y contabilice por partes"
                )));
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(ids),
            }
        }
    }

    /// Posts the invoices `ids` to Kame, one voucher each, never twice (module docs).
    /// `progress` is told after each invoice; setting `cancel` stops before the next one
    /// (the rest are `no_enviado`). Stops sending at the first failure that will
    /// repeat for every invoice (credentials, no connection); the rest are `no_enviado`.
    ///
    /// # Errors
    /// Forbidden, no Kame settings or secret, store errors. Per-invoice failures are in the
    /// report, not errors.
    pub async fn kame_post(
        &self,
        s: &Session,
        ids: &[String],
        cancel: &std::sync::atomic::AtomicBool,
        progress: &mut (dyn FnMut(PostProgress) + Send),
    ) -> Result<PostReport> {
        s.require(Permission::Accounting)?;
        let client = self.kame_client().await?;
        let Some(_run) = crate::try_lock_file(&self.data_dir, LOCK_FILE)? else {
            return Err(AppError::Conflict(
                "otra contabilización en Kame está en curso en esta carpeta de datos; espere a que termine".into(),
            ));
        };
        // the same invoice twice in one run (an id and its RUT:TIPO:FOLIO) is posted once
        let mut seen = std::collections::HashSet::new();
        let ids: Vec<&String> = ids.iter().filter(|id| seen.insert(id.as_str())).collect();
        let mut resultados = Vec::with_capacity(ids.len());
        let mut stop: Option<String> = None;
        for (i, id) in ids.iter().enumerate() {
            if stop.is_none() && cancel.load(std::sync::atomic::Ordering::Relaxed) {
                stop = Some("no se envió: contabilización cancelada".into());
            }
            let r = match &stop {
                Some(why) => PostResult {
                    id: (*id).clone(),
                    documento: None,
                    resultado: Resultado::NoEnviado,
                    kame_id: None,
                    mensaje: Some(why.clone()),
                },
                None => {
                    let (r, fatal) = self.post_one(s, &client, id).await;
                    if let Some(why) = fatal {
                        stop = Some(format!("no se envió: {why}"));
                    }
                    r
                }
            };
            resultados.push(r);
            progress(PostProgress {
                hechas: i + 1,
                total: ids.len(),
            });
        }
        let count =
            |f: &dyn Fn(Resultado) -> bool| resultados.iter().filter(|r| f(r.resultado)).count();
        Ok(PostReport {
            publicadas: count(&|r| r == Resultado::Publicado),
            ya_publicadas: count(&|r| matches!(r, Resultado::YaPublicado | Resultado::Recuperado)),
            rechazadas: count(&|r| r == Resultado::Rechazado),
            pendientes: count(&|r| matches!(r, Resultado::Incierto | Resultado::NoEnviado)),
            resultados,
        })
    }

    /// Posts one invoice. The second value, when set, is a failure every later invoice
    /// would meet too (the run stops sending). Never fails: what went wrong is the result.
    async fn post_one(
        &self,
        s: &Session,
        client: &Client,
        id: &str,
    ) -> (PostResult, Option<String>) {
        let mut out = PostResult {
            id: id.to_owned(),
            documento: None,
            resultado: Resultado::Rechazado,
            kame_id: None,
            mensaje: None,
        };
        match self.try_post_one(s, client, id, &mut out).await {
            Ok(fatal) => (out, fatal),
            Err(e) => {
                // a local failure (the database busy or full): whatever was recorded stays,
                // and an `enviando` left behind is looked up before anything is sent again
                if out.resultado == Resultado::Rechazado {
                    out.resultado = Resultado::NoEnviado;
                }
                out.mensaje = Some(match out.mensaje.take() {
                    Some(m) => format!("{m}; además no se pudo registrar: {e}"),
                    None => e.to_string(),
                });
                (out, Some(e.to_string()))
            }
        }
    }

    async fn try_post_one(
        &self,
        s: &Session,
        client: &Client,
        id: &str,
        out: &mut PostResult,
    ) -> Result<Option<String>> {
        let Some(k) = self.store.kame_invoice(id).await? else {
            out.mensaje = Some(format!("la factura «{id}» no existe"));
            return Ok(None);
        };
        out.documento = Some(k.invoice.key.to_string());
        if let Some(e) = &k.envio
            && e.estado == "publicado"
        {
            out.resultado = Resultado::YaPublicado;
            out.kame_id = e.kame_id.clone();
            return Ok(None);
        }
        // an earlier request whose answer never came: does Kame have it?
        let mut checked_attempts = None;
        if let Some(e) = k.envio.as_ref().filter(|e| e.estado == "enviando") {
            let wait = std::env::var(VERIFY_AFTER_ENV)
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or(VERIFY_AFTER_SECS);
            let age = chrono::DateTime::parse_from_rfc3339(&e.updated_at)
                .map(|t| (chrono::Utc::now() - t.to_utc()).num_seconds())
                .unwrap_or(i64::MAX);
            if age < wait {
                out.resultado = Resultado::Incierto;
                out.mensaje = Some(format!(
                    "se envió hace {age} s y Kame aún no responde; se verificará en Kame pasados {wait} s"
                ));
                return Ok(None);
            }
            match self.kame_has(client, &k, &e.comprobante).await {
                Ok(true) => {
                    let mut tx = self.store.write(&s.username).await?;
                    tx.kame_sent(id, "publicado", None, None, true).await?;
                    tx.commit().await?;
                    out.resultado = Resultado::Recuperado;
                    out.mensaje = Some(
                        "la respuesta anterior de Kame se perdió; el comprobante ya estaba en Kame"
                            .into(),
                    );
                    return Ok(None);
                }
                Ok(false) => checked_attempts = Some(e.intentos),
                Err(e) => {
                    // cannot tell: never send blind
                    let fatal = e.is_credentials() || matches!(e, KameError::Network { .. });
                    out.resultado = Resultado::Incierto;
                    out.mensaje = Some(format!("no se pudo verificar en Kame: {e}"));
                    return Ok(fatal.then(|| e.to_string()));
                }
            }
        }
        let plantilla = match &k.concepto {
            Some(c) => self.store.kame_plantilla(c).await?,
            None => None,
        };
        let Some(mut plantilla) = plantilla else {
            out.mensaje = Some(match &k.concepto {
                None => format!(
                    "sin cuenta: el proveedor {} no tiene concepto de compra (traiga las fichas de Kame o asígnelo)",
                    k.invoice.key.rut_emisor.display()
                ),
                Some(c) => format!("sin cuenta: el concepto «{c}» no tiene plantilla contable"),
            });
            return Ok(None);
        };
        // an account assigned to the invoice itself takes the template's expense account
        if let Some(c) = k
            .invoice
            .cuenta
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            plantilla.cuenta_neto = c.to_owned();
        }
        let unidad = match k.invoice.centro_costo.as_deref() {
            Some(c) => self.store.kame_unidad(c).await?,
            None => None,
        };
        let voucher = match comprobante(&k.invoice, &plantilla, unidad.as_deref(), k.vence) {
            Ok(v) => v,
            Err(e) => {
                out.mensaje = Some(e.to_string());
                return Ok(None);
            }
        };
        let json = serde_json::to_string(&voucher).map_err(|e| {
            AppError::Io(format!("no se pudo preparar el comprobante de {id}: {e}"))
        })?;
        {
            let mut tx = self.store.write(&s.username).await?;
            tx.kame_sending(id, &json, checked_attempts).await?;
            tx.commit().await?;
            // on disk before the request leaves, even if the machine loses power next
            self.store.make_durable().await?;
        }
        let (estado, fatal) = match client.add_comprobante(&voucher).await {
            Ok(p) => {
                out.resultado = Resultado::Publicado;
                out.kame_id = p.id;
                ("publicado", None)
            }
            Err(e @ KameError::Uncertain { .. }) => {
                out.resultado = Resultado::Incierto;
                out.mensaje = Some(e.to_string());
                ("enviando", None)
            }
            Err(e @ KameError::Refused { .. }) => {
                out.mensaje = Some(e.to_string());
                ("rechazado", None)
            }
            Err(e) => {
                // Kame never took it: credentials, no connection, 429 to the end
                out.resultado = Resultado::NoEnviado;
                out.mensaje = Some(e.to_string());
                ("no_enviado", Some(e.to_string()))
            }
        };
        // Kame's answer is recorded with a few tries: a busy database must not lose it
        let mut tries = 0u32;
        loop {
            let r = async {
                let mut tx = self.store.write(&s.username).await?;
                tx.kame_sent(
                    id,
                    estado,
                    out.kame_id.as_deref(),
                    out.mensaje.as_deref(),
                    false,
                )
                .await?;
                tx.commit().await?;
                Ok::<(), AppError>(())
            }
            .await;
            match r {
                Ok(()) => return Ok(fatal),
                Err(e) if tries < 3 => {
                    tries += 1;
                    tracing::warn!(invoice = id, error = %e, "kame: recording the answer, retrying");
                    tokio::time::sleep(Duration::from_millis(500 << tries)).await;
                }
                Err(e) => {
                    if out.resultado == Resultado::Publicado {
                        // posted, and the record says `enviando`: the next run finds it in
                        // Kame's payables instead of sending it again
                        out.resultado = Resultado::Incierto;
                        out.mensaje = Some(format!(
                            "Kame registró el comprobante {} pero no se pudo anotar aquí ({e}); la próxima contabilización lo reconocerá",
                            out.kame_id.as_deref().unwrap_or("")
                        ));
                        return Ok(Some(e.to_string()));
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Whether Kame's payables hold the document of the voucher `sent` (JSON) for `k`,
    /// looked up over its emission date to 60 days after its due date (Kame may compute
    /// the due date from the ficha's terms). Every page is read and every line must be
    /// understood, or this fails: absence is only trusted from a whole answer.
    async fn kame_has(
        &self,
        client: &Client,
        k: &KameInvoice,
        sent: &str,
    ) -> std::result::Result<bool, KameError> {
        let voucher: Option<icc_core::kame::Comprobante> = serde_json::from_str(sent).ok();
        let due = voucher
            .as_ref()
            .and_then(|v| v.lineas.iter().find_map(|l| l.fecha_vencimiento))
            .unwrap_or(k.vence);
        let desde = due.min(k.invoice.fecha_emision).min(k.vence);
        let hasta = due.max(k.vence) + chrono::Days::new(60);
        let key = &k.invoice.key;
        let found = client.cuentas_por_pagar(desde, hasta).await?;
        Ok(found
            .iter()
            .any(|c| c.is(&key.rut_emisor, key.tipo_dte.code(), key.folio.get())))
    }
}
