//! Importing invoice files: parse (icc-io), check against the database, preview or write
//! everything in one transaction with its import batch, keep the original file.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use icc_core::{Invoice, NaturalKey};
use icc_io::{Detected, Format, MappingSpec, ParseError, ParseOptions, ParsedFile, RowIssue};
use icc_store::ImportBatch;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::App;
use crate::auth::{Permission, Session};
use crate::error::{AppError, Result};

/// What to do with a document that is already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum OnDuplicate {
    /// Leave the stored one as it is.
    #[default]
    Skip,
    /// Update its document fields (amounts, dates, name) through the audit log.
    Update,
}

/// Options of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Format hint.
    pub format: Format,
    /// Sheet name.
    pub sheet: Option<String>,
    /// Column mapping for generic sheets.
    pub mapping: Option<MappingSpec>,
    /// Only report; write nothing.
    pub dry_run: bool,
    /// Duplicates policy.
    pub on_duplicate: OnDuplicate,
    /// Create the obras the rows name and that do not exist (needs `ManageObras`), and give
    /// the invoices already stored without obra the obra their row names.
    pub crear_obras: bool,
}

/// Where an import is, for a progress bar.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ImportProgress {
    /// File being worked on.
    pub file: String,
    /// `leyendo` or `guardando`.
    pub phase: &'static str,
    /// Rows read or documents saved so far.
    pub done: u64,
    /// Total when known.
    pub total: Option<u64>,
}

/// One document of a preview.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PreviewRow {
    /// Row in the file.
    pub row: u64,
    /// `RUT:TIPO:FOLIO`.
    pub key: String,
    /// Issuer.
    pub razon_social: String,
    /// Emission date.
    pub fecha_emision: String,
    /// Total.
    pub monto_total: i64,
    /// `nuevo` or `duplicado`.
    pub estado: &'static str,
    /// Why it is a duplicate.
    pub motivo: Option<String>,
}

/// Counts and signed sums (credit notes subtract).
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Counts {
    /// Valid documents read.
    pub documents: u64,
    /// Of which credit notes.
    pub credit_notes: u64,
    /// Inserted (0 in a dry run).
    pub inserted: u64,
    /// Updated (with `--on-duplicate update`).
    pub updated: u64,
    /// Already stored, or repeated in an earlier file of this import.
    pub duplicates: u64,
    /// Rows rejected, plus files refused as a whole.
    pub rejected: u64,
    /// Σ total, credit notes negative.
    pub sum_total_signed: i64,
    /// Σ neto, credit notes negative.
    pub sum_neto_signed: i64,
    /// Σ IVA, credit notes negative.
    pub sum_iva_signed: i64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.documents += o.documents;
        self.credit_notes += o.credit_notes;
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.duplicates += o.duplicates;
        self.rejected += o.rejected;
        self.sum_total_signed += o.sum_total_signed;
        self.sum_neto_signed += o.sum_neto_signed;
        self.sum_iva_signed += o.sum_iva_signed;
    }
}

/// The report of one file.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FileReport {
    /// File as given.
    pub file: String,
    /// SHA-256 (hex), when it could be read.
    pub sha256: Option<String>,
    /// What the parser found (format, variant, sheet, header row, mapping).
    pub parsed: Option<ParsedFile>,
    /// The same file was imported before: nothing is written for it.
    pub already_imported: bool,
    /// Counts and sums.
    #[serde(flatten)]
    pub counts: Counts,
    /// Rows that could not be imported (and a file-level refusal, with `row: null`).
    pub errors: Vec<RowIssue>,
    /// Rows imported with something left out, each saying what and what to do (an obra
    /// that does not exist: the invoice is imported without obra).
    pub warnings: Vec<RowIssue>,
    /// The obra codes the rows name that do not exist here, in file order, each once.
    pub obras_nuevas: Vec<String>,
    /// Preview of every document (dry runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<Vec<PreviewRow>>,
}

/// The report of an import.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ImportReport {
    /// Nothing was written.
    pub dry_run: bool,
    /// Per file.
    pub files: Vec<FileReport>,
    /// All files together, with every error.
    pub total: TotalReport,
    /// Cesión files among the files (AEC, SII cesiones, certificates: told apart by
    /// content), imported as cesiones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cesiones: Option<crate::CesionImportReport>,
}

/// Totals of an import.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TotalReport {
    /// Counts and sums.
    #[serde(flatten)]
    pub counts: Counts,
    /// Every error of every file.
    pub errors: Vec<RowIssue>,
    /// Every warning of every file.
    pub warnings: Vec<RowIssue>,
    /// The obra codes no file's obra exists for, each once.
    pub obras_nuevas: Vec<String>,
    /// Obras this import created (`crear_obras`).
    pub obras_creadas: Vec<String>,
    /// Invoices already stored without obra that got the obra their row names
    /// (`crear_obras`).
    pub obras_asignadas: u64,
}

impl ImportReport {
    /// Whether any row or file was rejected (the CLI exits with 3).
    pub fn has_rejections(&self) -> bool {
        self.total.counts.rejected > 0
            || self
                .cesiones
                .as_ref()
                .is_some_and(crate::CesionImportReport::has_errors)
    }
}

/// Subfolder of the data directory that keeps imported originals, named by SHA-256.
pub const IMPORTS_DIR: &str = "importaciones";

fn sums(invoices: &[&Invoice]) -> Counts {
    let mut c = Counts::default();
    for i in invoices {
        c.documents += 1;
        if i.key.tipo_dte.is_credit_note() {
            c.credit_notes += 1;
        }
        c.sum_total_signed += i.signed(i.monto_total).pesos();
        c.sum_neto_signed += i.signed(i.monto_neto).pesos();
        c.sum_iva_signed += i.signed(i.monto_iva).pesos();
    }
    c
}

fn rejected_rows(errors: &[RowIssue]) -> u64 {
    let rows: HashSet<(Option<u64>, &str)> =
        errors.iter().map(|e| (e.row, e.file.as_str())).collect();
    rows.len() as u64
}

struct Loaded {
    report: FileReport,
    original: Option<(PathBuf, String)>,
    docs: Vec<(Invoice, u64)>,
    /// Every document whose row names an obra, with the code as written.
    named_obras: Vec<(NaturalKey, String)>,
}

/// Whether a file is a cesión file (AEC, SII cesiones, certificate), by its first bytes;
/// a PDF by its text, as an invoice's own PDF may be dropped here too.
fn is_cesion_file(path: &Path) -> bool {
    use std::io::Read;
    let mut head = Vec::with_capacity(4096);
    if std::fs::File::open(path)
        .and_then(|f| f.take(4096).read_to_end(&mut head))
        .is_err()
    {
        return false;
    }
    match icc_io::cesion::detect(&head) {
        Some(icc_io::cesion::CesionFileKind::Certificado) if head.starts_with(b"%PDF") => {
            std::fs::read(path).is_ok_and(|b| icc_io::cesion::pdf_is_certificate(&b))
        }
        kind => kind.is_some(),
    }
}

/// Adds `code` to `list` unless it is there already (codes compare without case).
fn push_code(list: &mut Vec<String>, code: &str) {
    if !list.iter().any(|c| c.eq_ignore_ascii_case(code)) {
        list.push(code.to_owned());
    }
}

impl App {
    /// Imports `files` as `s`. Valid rows of every file are written in one transaction with
    /// an import batch per file; rows with errors are reported and skipped; a file refused as
    /// a whole (empty, not a spreadsheet, encrypted, a sales register) changes nothing. A file
    /// imported before is recognised by its SHA-256 and skipped. `progress` returning
    /// `false` cancels, and then nothing is written.
    ///
    /// # Errors
    /// Forbidden for the role, cancellation ([`AppError::Cancelled`]), store errors.
    pub async fn import_files(
        &self,
        s: &Session,
        files: &[PathBuf],
        opts: &ImportOptions,
        progress: &mut (dyn FnMut(&ImportProgress) -> bool + Send),
    ) -> Result<ImportReport> {
        s.require(Permission::Import)?;
        // cesión files dropped with the invoices go to the cesiones (by content)
        let (cesion_files, files): (Vec<PathBuf>, Vec<PathBuf>) =
            files.iter().cloned().partition(|p| is_cesion_file(p));
        let cesiones = if cesion_files.is_empty() {
            None
        } else {
            Some(
                self.import_cesiones_or_report(s, &cesion_files, opts.dry_run)
                    .await?,
            )
        };
        let files = files.as_slice();
        let today = chrono::Local::now().date_naive();
        let known_obras = self.store.obra_codes().await?;
        let mut loaded: Vec<Loaded> = Vec::with_capacity(files.len());
        for path in files {
            loaded.push(
                self.load_file(path, opts, today, &known_obras, progress)
                    .await?,
            );
        }
        let mut obras_nuevas: Vec<String> = Vec::new();
        for l in &loaded {
            for o in &l.report.obras_nuevas {
                push_code(&mut obras_nuevas, o);
            }
        }
        if opts.crear_obras && !obras_nuevas.is_empty() {
            s.require(Permission::ManageObras)?;
            for o in &obras_nuevas {
                crate::users::check_obra_code(o)?;
            }
        }

        // what is already stored, and what an earlier file of this import already brings
        let keys: Vec<NaturalKey> = loaded
            .iter()
            .flat_map(|l| l.docs.iter().map(|(i, _)| i.key))
            .collect();
        let existing = self.store.existing_keys(&keys).await?;
        let mut taken: HashMap<NaturalKey, String> = HashMap::new();
        let mut to_insert: Vec<(Invoice, Option<String>)> = Vec::new();
        let mut to_update: Vec<(usize, Invoice)> = Vec::new();
        for (file_idx, l) in loaded.iter_mut().enumerate() {
            let mut preview = Vec::new();
            for (inv, row) in std::mem::take(&mut l.docs) {
                let dup_reason = if l.report.already_imported {
                    Some("el mismo archivo ya fue importado".to_owned())
                } else if existing.contains(&inv.key) {
                    Some(format!("{} ya está en la base de datos", inv.key))
                } else {
                    taken
                        .get(&inv.key)
                        .map(|f| format!("{} ya viene en {f}", inv.key))
                };
                if opts.dry_run {
                    preview.push(PreviewRow {
                        row,
                        key: inv.key.to_string(),
                        razon_social: inv.razon_social.clone(),
                        fecha_emision: inv.fecha_emision.to_string(),
                        monto_total: inv.monto_total.pesos(),
                        estado: if dup_reason.is_some() {
                            "duplicado"
                        } else {
                            "nuevo"
                        },
                        motivo: dup_reason.clone(),
                    });
                }
                match dup_reason {
                    Some(_) => {
                        l.report.counts.duplicates += 1;
                        if opts.on_duplicate == OnDuplicate::Update
                            && existing.contains(&inv.key)
                            && !l.report.already_imported
                        {
                            to_update.push((file_idx, inv));
                        }
                    }
                    None => {
                        taken.insert(inv.key, l.report.file.clone());
                        l.report.counts.inserted += 1;
                        to_insert.push((inv, None));
                    }
                }
            }
            if opts.dry_run {
                l.report.counts.inserted = 0;
                l.report.preview = Some(preview);
            }
        }

        // with `crear_obras`: the missing obras are created, and invoices stored earlier
        // without obra (an import before the obras existed) get the obra their row names
        let mut obras_creadas = Vec::new();
        let mut obras_asignadas = 0;
        if opts.crear_obras && !opts.dry_run {
            let named: Vec<(NaturalKey, String)> = loaded
                .iter()
                .flat_map(|l| l.named_obras.iter().cloned())
                .collect();
            let keys: Vec<NaturalKey> = named.iter().map(|(k, _)| *k).collect();
            let bare = self.store.keys_without_obra(&keys).await?;
            let assign: Vec<&(NaturalKey, String)> =
                named.iter().filter(|(k, _)| bare.contains(k)).collect();
            if !obras_nuevas.is_empty() || !assign.is_empty() {
                let mut tx = self.store.write(&s.username).await?;
                tx.mark_source("import");
                for o in &obras_nuevas {
                    tx.create_obra(o, o).await?;
                    obras_creadas.push(o.clone());
                }
                for (k, o) in assign {
                    let change = icc_store::AssignmentChange {
                        obra: Some(Some(o.clone())),
                        ..Default::default()
                    };
                    if tx.update_assignment(k.id(), &change).await? > 0 {
                        obras_asignadas += 1;
                    }
                }
                tx.commit().await?;
            }
        }

        // a file whose every row was refused still gets its batch (so it is not re-read as
        // new), except when nothing at all is to be written
        let anything = !to_insert.is_empty()
            || !to_update.is_empty()
            || loaded.iter().any(|l| l.original.is_some());
        if !opts.dry_run && anything {
            self.write_import(s, &mut loaded, &to_insert, &to_update, progress)
                .await?;
        }

        let mut total = TotalReport::default();
        let files = loaded
            .into_iter()
            .map(|l| {
                total.counts.add(&l.report.counts);
                total.errors.extend(l.report.errors.iter().cloned());
                total.warnings.extend(l.report.warnings.iter().cloned());
                l.report
            })
            .collect();
        total.obras_nuevas = obras_nuevas;
        total.obras_creadas = obras_creadas;
        total.obras_asignadas = obras_asignadas;
        Ok(ImportReport {
            dry_run: opts.dry_run,
            files,
            total,
            cesiones,
        })
    }

    async fn load_file(
        &self,
        path: &Path,
        opts: &ImportOptions,
        today: chrono::NaiveDate,
        known_obras: &HashSet<String>,
        progress: &mut (dyn FnMut(&ImportProgress) -> bool + Send),
    ) -> Result<Loaded> {
        let name = path.display().to_string();
        let refused = |message: String| Loaded {
            report: FileReport {
                file: name.clone(),
                sha256: None,
                parsed: None,
                already_imported: false,
                counts: Counts {
                    rejected: 1,
                    ..Counts::default()
                },
                errors: vec![RowIssue::file_level(&name, message)],
                warnings: vec![],
                obras_nuevas: vec![],
                preview: None,
            },
            original: None,
            docs: vec![],
            named_obras: vec![],
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => return Ok(refused(format!("{name}: no se pudo leer el archivo: {e}"))),
        };
        let sha = hex::encode(Sha256::digest(&bytes));
        let parse_opts = ParseOptions {
            format: opts.format,
            sheet: opts.sheet.clone(),
            mapping: opts.mapping.clone(),
            today: Some(today),
        };
        let mut cancelled = false;
        let parsed = icc_io::parse_file(&name, bytes, &parse_opts, &mut |rows| {
            let go = progress(&ImportProgress {
                file: name.clone(),
                phase: "leyendo",
                done: rows,
                total: None,
            });
            cancelled |= !go;
            go
        });
        let mut parsed = match parsed {
            Ok(p) => p,
            Err(ParseError::Cancelled) => return Err(AppError::Cancelled),
            Err(ParseError::File(e)) => {
                let mut l = refused(e.to_string());
                l.report.sha256 = Some(sha);
                return Ok(l);
            }
        };
        if cancelled {
            return Err(AppError::Cancelled);
        }
        // an obra that does not exist never costs the invoice: it is imported without obra
        // and the row is reported (or, with `crear_obras`, the obra is created)
        let mut docs = Vec::with_capacity(parsed.docs.len());
        let mut warnings = Vec::new();
        let mut obras_nuevas: Vec<String> = Vec::new();
        let mut named_obras = Vec::new();
        for d in std::mem::take(&mut parsed.docs) {
            let mut inv = d.invoice;
            if let Some(o) = inv.obra.clone() {
                named_obras.push((inv.key, o.clone()));
                if !known_obras.contains(&o.to_uppercase()) {
                    push_code(&mut obras_nuevas, &o);
                    if !opts.crear_obras {
                        warnings.push(RowIssue {
                            file: name.clone(),
                            sheet: parsed.sheet.clone(),
                            row: Some(d.row),
                            column: parsed.mapping.get(&icc_io::Field::Obra).cloned(),
                            value: Some(o.clone()),
                            message: format!(
                                "la obra «{o}» no existe: la factura {} sin obra; créela («Crear obras» en Importar, o `icc import ARCHIVO --crear-obras`) y se le asigna",
                                if opts.dry_run {
                                    "se importará"
                                } else {
                                    "se importó"
                                }
                            ),
                        });
                        inv.obra = None;
                    }
                }
            }
            docs.push((inv, d.row));
        }
        let already_imported =
            self.store.import_batch_exists(&sha).await? && opts.on_duplicate == OnDuplicate::Skip;
        let refs: Vec<&Invoice> = docs.iter().map(|(i, _)| i).collect();
        let mut counts = sums(&refs);
        counts.rejected = rejected_rows(&parsed.errors);
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_lowercase())
            .unwrap_or_else(|| "dat".into());
        Ok(Loaded {
            // a file that brings no valid document leaves no trace: a refused file changes nothing
            original: (!already_imported && !opts.dry_run && !docs.is_empty())
                .then(|| (path.to_owned(), format!("{sha}.{ext}"))),
            report: FileReport {
                file: name,
                sha256: Some(sha),
                errors: parsed.errors.clone(),
                warnings,
                obras_nuevas,
                parsed: Some(parsed),
                already_imported,
                counts,
                preview: None,
            },
            docs,
            named_obras,
        })
    }

    async fn write_import(
        &self,
        s: &Session,
        loaded: &mut [Loaded],
        to_insert: &[(Invoice, Option<String>)],
        to_update: &[(usize, Invoice)],
        progress: &mut (dyn FnMut(&ImportProgress) -> bool + Send),
    ) -> Result<()> {
        // originals first: content-addressed, so a crash before commit leaves only a file
        // that the next import of the same content reuses
        let dir = self.data_dir.join(IMPORTS_DIR);
        let key = self.key.as_ref().map(|k| k.file_key());
        for l in loaded.iter() {
            if let Some((src, name)) = &l.original {
                crate::encryption::keep_copy(src, &dir.join(name), key.as_ref()).map_err(|e| {
                    AppError::Io(format!(
                        "no se pudo guardar una copia de {} en {}: {e}",
                        src.display(),
                        dir.display()
                    ))
                })?;
            }
        }
        let total = to_insert.len() as u64;
        let label = if loaded.len() == 1 {
            loaded[0].report.file.clone()
        } else {
            format!("{} archivos", loaded.len())
        };
        let mut tx = self.store.write(&s.username).await?;
        // what the file says (updated amounts, dates) is the import's, not a person's edit
        tx.mark_source("import");
        tx.expect_bulk(to_insert.len()).await?;
        let r = tx
            .insert_invoices(to_insert, &mut |done| {
                progress(&ImportProgress {
                    file: label.clone(),
                    phase: "guardando",
                    done: done as u64,
                    total: Some(total),
                })
            })
            .await;
        match r {
            Err(icc_store::StoreError::Cancelled) => return Err(AppError::Cancelled),
            other => {
                other?;
            }
        }
        for (file_idx, inv) in to_update {
            if tx.update_document(inv).await? > 0 {
                let c = &mut loaded[*file_idx].report.counts;
                c.updated += 1;
                c.duplicates -= 1;
            }
        }
        for l in loaded.iter() {
            if l.original.is_none() {
                continue;
            }
            let c = &l.report.counts;
            tx.record_import_batch(&ImportBatch {
                file_name: l.report.file.clone(),
                sha256: l.report.sha256.clone().unwrap_or_default(),
                format: l.report.parsed.as_ref().map_or("desconocido".into(), |p| {
                    match p.detected {
                        Detected::Rcv(_) => "rcv".into(),
                        Detected::Generic => "generic".into(),
                    }
                }),
                documents: c.documents as i64,
                inserted: c.inserted as i64,
                updated: c.updated as i64,
                duplicates: c.duplicates as i64,
                rejected: c.rejected as i64,
            })
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Settings key prefix of saved column mappings.
const PROFILE_PREFIX: &str = "mapping_profile:";

impl App {
    /// Saves a column mapping under `name` for later imports.
    ///
    /// # Errors
    /// Forbidden, an empty name, store errors.
    pub async fn save_mapping_profile(
        &self,
        s: &Session,
        name: &str,
        spec: &MappingSpec,
    ) -> Result<()> {
        s.require(Permission::Import)?;
        let name = name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(AppError::Invalid(format!(
                "nombre de perfil: el valor «{name}» no es válido: use de 1 a 64 caracteres"
            )));
        }
        let json = serde_json::to_string(spec)
            .map_err(|e| AppError::Invalid(format!("perfil de columnas: {e}")))?;
        let mut tx = self.store.write(&s.username).await?;
        tx.set_setting(&format!("{PROFILE_PREFIX}{name}"), &json)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Names of the saved column mappings.
    ///
    /// # Errors
    /// Store errors.
    pub async fn mapping_profiles(&self) -> Result<Vec<String>> {
        Ok(self
            .store
            .setting_keys(PROFILE_PREFIX)
            .await?
            .into_iter()
            .filter_map(|k| k.strip_prefix(PROFILE_PREFIX).map(str::to_owned))
            .collect())
    }

    /// A saved column mapping.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for an unknown name.
    pub async fn mapping_profile(&self, name: &str) -> Result<MappingSpec> {
        let json = self
            .store
            .setting(&format!("{PROFILE_PREFIX}{}", name.trim()))
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "perfil de columnas",
                key: name.trim().into(),
            })?;
        serde_json::from_str(&json).map_err(|e| {
            AppError::Invalid(format!(
                "el perfil «{}» guardado está dañado: {e}; guárdelo de nuevo",
                name.trim()
            ))
        })
    }
}

/// Reads a mapping file: a JSON object from field (`rut`, `folio`, `fecha_emision`, `neto`,
/// `iva`, `total`, …) to the column's header or letter.
///
/// # Errors
/// A Spanish message naming the file and what is wrong.
pub fn read_mapping_file(path: &Path) -> Result<MappingSpec> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        AppError::Invalid(format!(
            "--mapping {}: no se pudo leer: {e}",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| {
        AppError::Invalid(format!(
            "--mapping {}: no es un objeto JSON de campo a columna ({e}); ejemplo: {{\"rut\": \"RUT Proveedor\", \"folio\": \"N° Doc\", \"fecha_emision\": \"Fecha\", \"total\": \"Total\"}}",
            path.display()
        ))
    })
}
