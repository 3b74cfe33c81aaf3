//! Importing cesiones from the SII's files (`icc cesiones import`): the AEC XML and the
//! deudor's cesiones text file, told apart by content. Each cesión is stored once (its id
//! follows the document and sequence), matched to its invoice by the natural key, and kept
//! for review when the invoice is not here yet (it matches when the invoice arrives).

use std::path::PathBuf;

use icc_core::{Clp, Permission, Rut};
use icc_io::cesion::{CesionFileKind, CesionIssue};
use icc_store::StoreError;
use icc_store::nominas::NewCesion;
use serde::Serialize;

use crate::App;
use crate::auth::Session;
use crate::error::{AppError, Result};

/// Settings key of the company's RUT: cesiones of documents received by anyone else are
/// refused.
pub const COMPANY_RUT_SETTING: &str = "empresa.rut";

/// What one file brought (CLI `icc cesiones import --json`, `files[]`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CesionFileReport {
    /// The file as given.
    pub file: String,
    /// `aec` or `sii_txt`; `null` when it is neither.
    pub kind: Option<CesionFileKind>,
    /// Cesiones read from it.
    pub cesiones: u64,
    /// Of which new here (the rest were already stored, from this or another source).
    pub nuevas: u64,
    /// Of which the invoice is in the register.
    pub matched: u64,
    /// Of which the invoice is not here yet (listed in Pagos › Cesiones; matched when it
    /// arrives).
    pub unmatched: u64,
    /// What could not be read or was refused, by line when it is about one.
    pub errors: Vec<CesionIssue>,
}

/// The report of an import of cesión files.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CesionImportReport {
    /// Per file.
    pub files: Vec<CesionFileReport>,
}

impl CesionImportReport {
    /// Whether anything was refused (the CLI exits with 3).
    pub fn has_errors(&self) -> bool {
        self.files.iter().any(|f| !f.errors.is_empty())
    }
}

fn file_error(message: String) -> CesionIssue {
    CesionIssue {
        line: None,
        page: None,
        message,
    }
}

impl App {
    /// The company's RUT, when set.
    ///
    /// # Errors
    /// A stored value that is not a RUT; store errors.
    pub async fn company_rut(&self) -> Result<Option<Rut>> {
        self.store
            .setting(COMPANY_RUT_SETTING)
            .await?
            .map(|r| r.parse::<Rut>().map_err(AppError::from))
            .transpose()
    }

    /// Sets the company's RUT (`PaymentSettings`); audited.
    ///
    /// # Errors
    /// Forbidden for the role; not a RUT.
    pub async fn set_company_rut(&self, s: &Session, rut: &str) -> Result<Rut> {
        s.require(Permission::PaymentSettings)?;
        let rut: Rut = rut.parse()?;
        let mut tx = self.store.write(&s.username).await?;
        tx.set_setting(COMPANY_RUT_SETTING, &rut.to_string())
            .await?;
        tx.audit(
            "setting",
            COMPANY_RUT_SETTING,
            "update",
            Some("valor"),
            None,
            Some(rut.to_string()),
        );
        tx.commit().await?;
        Ok(rut)
    }

    /// The SII's text file has no sequence and may cover only a later period of a chain:
    /// each row is placed among the cesiones already stored for its document (a row that is
    /// a stored cesión takes its sequence; a new one follows every earlier cesión, stored or
    /// in the file), so a re-cesión is never taken for the first cesión. A row is a stored
    /// cesión when it has the same cesionario on the same day: sources disagree on the time
    /// (a cesión entered by hand with its date only, an AEC's signature time against the
    /// registry's), and a cesionario is never assigned the same invoice twice in a day, so
    /// a second cesión is not invented (one that would break the chain and keep the invoice
    /// out of every payment run).
    async fn place_in_stored_chains(
        &self,
        cesiones: &mut [icc_io::cesion::ParsedCesion],
    ) -> Result<()> {
        let minute = |t: &str| t.get(..16).unwrap_or(t).replace(' ', "T");
        let mut stored: std::collections::HashMap<
            icc_core::NaturalKey,
            Vec<icc_store::nominas::CesionRow>,
        > = std::collections::HashMap::new();
        let mut new_before: std::collections::HashMap<icc_core::NaturalKey, u32> =
            std::collections::HashMap::new();
        for c in cesiones.iter_mut() {
            if let std::collections::hash_map::Entry::Vacant(v) = stored.entry(c.documento) {
                v.insert(self.store.cesiones(Some(&c.documento)).await?);
            }
            let chain = stored
                .get(&c.documento)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let at = minute(&c.fecha.format("%Y-%m-%dT%H:%M:%S").to_string());
            let day = |t: &str| t.get(..10).unwrap_or(t).to_owned();
            let rut = c.cesionario_rut.to_string();
            if let Some(same) = chain
                .iter()
                .find(|x| x.cesionario_rut == rut && day(&x.fecha) == day(&at))
            {
                c.seq = u32::try_from(same.seq).unwrap_or(c.seq);
                continue;
            }
            let earlier = chain.iter().filter(|x| minute(&x.fecha) < at).count();
            let n = new_before.entry(c.documento).or_insert(0);
            c.seq = u32::try_from(earlier)
                .unwrap_or(u32::MAX)
                .saturating_add(*n + 1);
            *n += 1;
        }
        Ok(())
    }

    /// The cesión files of an invoice import: imported (or, in a preview, only read), and a
    /// refusal of the whole lot (the role, no company RUT) reported on each file instead of
    /// failing the invoices beside them.
    ///
    /// # Errors
    /// Store errors.
    pub(crate) async fn import_cesiones_or_report(
        &self,
        s: &Session,
        files: &[PathBuf],
        dry_run: bool,
    ) -> Result<CesionImportReport> {
        match self.cesion_files(s, files, dry_run).await {
            Ok(r) => Ok(r),
            Err(e @ (AppError::Forbidden(_) | AppError::Invalid(_))) => Ok(CesionImportReport {
                files: files
                    .iter()
                    .map(|p| CesionFileReport {
                        file: p.display().to_string(),
                        kind: None,
                        cesiones: 0,
                        nuevas: 0,
                        matched: 0,
                        unmatched: 0,
                        errors: vec![file_error(format!(
                            "{}: es un archivo de cesiones y no se importó: {e}",
                            p.display()
                        ))],
                    })
                    .collect(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Imports cesiones from AEC XML files and SII cesiones text files (by content). A file
    /// that cannot be read, or an AEC of a document received by another company, changes
    /// nothing; a bad line of a text file is reported and the rest kept.
    ///
    /// # Errors
    /// Forbidden for the role; the company's RUT not configured; store errors.
    pub async fn import_cesiones(
        &self,
        s: &Session,
        files: &[PathBuf],
    ) -> Result<CesionImportReport> {
        self.cesion_files(s, files, false).await
    }

    /// Every cesión, those whose invoice is not here yet first (Pagos › Cesiones, the
    /// review list).
    ///
    /// # Errors
    /// Forbidden for the role; store errors.
    pub async fn cesiones_for_review(
        &self,
        s: &Session,
    ) -> Result<Vec<icc_store::nominas::CesionRow>> {
        let mut all = self.cesiones(s, None).await?;
        all.sort_by_key(|c| c.invoice_id.is_some());
        Ok(all)
    }

    /// Reads, checks and (unless `dry_run`: the import's preview) stores cesión files; the
    /// preview reports the same checks and counts, without `nuevas`.
    async fn cesion_files(
        &self,
        s: &Session,
        files: &[PathBuf],
        dry_run: bool,
    ) -> Result<CesionImportReport> {
        s.require(Permission::PrepareRuns)?;
        let company = self.company_rut().await?.ok_or_else(|| {
            AppError::Invalid(
                "falta el RUT de la empresa, con el que se revisa que las cesiones sean de facturas recibidas por ella: configúrelo con «icc pagos configurar --rut-empresa RUT»".into(),
            )
        })?;
        let mut out = CesionImportReport { files: Vec::new() };
        for path in files {
            let name = path.display().to_string();
            let mut report = CesionFileReport {
                file: name.clone(),
                kind: None,
                cesiones: 0,
                nuevas: 0,
                matched: 0,
                unmatched: 0,
                errors: Vec::new(),
            };
            let parsed = std::fs::read(path)
                .map_err(|e| format!("{name}: no se pudo leer el archivo: {e}"))
                .and_then(|b| icc_io::cesion::parse(&b).map_err(|e| format!("{name}: {e}")));
            let mut file = match parsed {
                Ok(f) => f,
                Err(m) => {
                    report.errors.push(file_error(m));
                    out.files.push(report);
                    continue;
                }
            };
            report.kind = Some(file.kind);
            report.errors.append(&mut file.errors);
            // the debtor must be the company: an AEC of another receptor is refused whole,
            // a text line of another debtor is reported
            let foreign: Vec<usize> = file
                .cesiones
                .iter()
                .enumerate()
                .filter(|(_, c)| c.receptor.is_some_and(|r| r != company))
                .map(|(i, _)| i)
                .collect();
            if !foreign.is_empty() {
                if file.kind == CesionFileKind::Aec {
                    let other = file.cesiones[foreign[0]].receptor;
                    report.errors.push(file_error(format!(
                        "{name}: el documento cedido lo recibió {}, no la empresa ({company}); no se guardó nada del archivo",
                        other.map(|r| r.to_string()).unwrap_or_default()
                    )));
                    out.files.push(report);
                    continue;
                }
                for &i in foreign.iter().rev() {
                    let c = file.cesiones.remove(i);
                    report.errors.push(CesionIssue {
                        line: c.line,
                        page: None,
                        message: format!(
                            "línea {}: el deudor es {}, no la empresa ({company}); la cesión no se guardó",
                            c.line.unwrap_or(0),
                            c.receptor.map(|r| r.to_string()).unwrap_or_default()
                        ),
                    });
                }
            }
            if file.kind == CesionFileKind::SiiTxt {
                self.place_in_stored_chains(&mut file.cesiones).await?;
            }
            report.cesiones = file.cesiones.len() as u64;
            // a preview only reads: no write transaction at all
            if !dry_run {
                let mut tx = self.store.write(&s.username).await?;
                for c in &file.cesiones {
                    let new = NewCesion {
                        rut_emisor: c.documento.rut_emisor,
                        tipo: c.documento.tipo_dte,
                        folio: c.documento.folio.get(),
                        seq: c.seq,
                        cedente_rut: c.cedente_rut,
                        cedente_nombre: c.cedente_nombre.clone(),
                        cesionario_rut: c.cesionario_rut,
                        cesionario_nombre: c.cesionario_nombre.clone(),
                        monto_cedido: Clp::new(c.monto_cedido),
                        fecha: c.fecha,
                        ultimo_vencimiento: c.ultimo_vencimiento,
                        source: file.kind.source(),
                        identificador: c.identificador.clone(),
                    };
                    match tx.add_cesion(&new).await {
                        Ok(_) => report.nuevas += 1,
                        // the same cesión again is nothing new; another one at its
                        // sequence means the chain here and the file disagree
                        Err(StoreError::AlreadyExists { .. }) => {
                            if let Some((other_rut, other_fecha)) = tx
                                .cesion_at(&c.documento, c.seq)
                                .await?
                                .filter(|(rut, _)| *rut != c.cesionario_rut.to_string())
                            {
                                report.errors.push(CesionIssue {
                                    line: c.line,
                                    page: c.page,
                                    message: format!(
                                        "{}: la cesión {} ya está registrada a {other_rut} ({other_fecha}), y el archivo \
                                         la da a {}: revise la cadena antes de pagar la factura (¿una cesión \
                                         ingresada a mano con otra secuencia?); no se guardó la del archivo",
                                        c.documento,
                                        c.seq,
                                        c.cesionario_rut
                                    ),
                                });
                            }
                        }
                        Err(e @ StoreError::Db(_)) => return Err(e.into()),
                        // one cesión the register refuses (a sequence past 40) is reported
                        Err(e) => report.errors.push(CesionIssue {
                            line: c.line,
                            page: c.page,
                            message: format!("{}: {e}", c.documento),
                        }),
                    }
                }
                tx.commit().await?;
            }
            let keys: Vec<icc_core::NaturalKey> =
                file.cesiones.iter().map(|c| c.documento).collect();
            let here = self.store.existing_keys(&keys).await?;
            report.matched = keys.iter().filter(|k| here.contains(k)).count() as u64;
            report.unmatched = report.cesiones - report.matched;
            tracing::info!(file = %name, kind = ?file.kind, read = report.cesiones, new = report.nuevas, matched = report.matched, "cesiones imported");
            out.files.push(report);
        }
        Ok(out)
    }
}
