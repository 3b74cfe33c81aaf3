//! `icc migrate-legacy`: brings the predecessor app's data across (DOMAIN.md §5,
//! docs/migration.md).
//!
//! * Users keep their unsalted SHA-256 hash, marked legacy; the first good login replaces it
//!   with argon2id. The accounts the predecessor created at every start with published
//!   passwords, and any account still using one of those passwords (a renamed default
//!   account), come across disabled and must be given a new password by an administrator.
//! * Obras take their centro de costo as code; an `admin_obra` keeps the obras they ran.
//! * Invoices (`facturas.csv`, and `facturas_subidas_datos.csv` for the ones deleted from
//!   it) are read as the iConstruye documents they were, with real neto and dates; they are
//!   deduplicated by natural key with the folio read as text (`123` and `123.0` are one
//!   invoice); their cuenta comes from the row and their obra from the first four characters
//!   of the centro de gestión.
//! * What this version has no screen for (budget items, weekly cash flow, bank balances,
//!   loans, the supplier bank-account master, the account and business-unit maps, the ERP
//!   upload log) is archived verbatim in `legacy_records`.
//!
//! Everything is written in one transaction: a failure leaves the database as it was. A
//! second run changes nothing and says so.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use icc_core::{Invoice, NaturalKey, Role};
use icc_io::legacy::{Record, Records, read_records};
use icc_store::legacy::{LegacyDb, LegacyRow, read_legacy_db};
use icc_store::{ImportBatch, NewUser};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::App;
use crate::auth::{Permission, Session};
use crate::error::{AppError, Result};

/// The accounts the predecessor re-created at every start with passwords published in its
/// README and source.
pub const SEEDED_ACCOUNTS: [&str; 3] = [
    "ccarreno@constructoraicc.cl",
    "gerente@constructoraicc.cl",
    "adminobra@constructoraicc.cl",
];

/// The predecessor's published default passwords. Not credentials of this program: a
/// deny-list, so an account that still uses one (wherever its email went) is disabled.
const PUBLISHED_DEFAULT_PASSWORDS: [&str; 3] = ["password123", "manager123", "obra123"];

/// Files read from `--files`, in the order they are read.
pub const LEGACY_FILES: [&str; 6] = [
    "facturas.csv",
    "facturas_subidas_datos.csv",
    "subidas.csv",
    "cuentas.xlsx",
    "UN.xlsx",
    "Santander.xlsx",
];

/// Tables of the predecessor that are archived (verbatim) rather than mapped.
const ARCHIVED_TABLES: [&str; 7] = [
    "items",
    "obra_flujo_config",
    "flujo_cajas_items",
    "flujo_cajas_semanal",
    "saldos_previos_bancos",
    "flujo_cajas_editable_ingresos",
    "creditos",
];

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `password` matches a predecessor hash (unsalted SHA-256, hex). Compared in
/// constant time.
pub fn verify_legacy_hash(password: &str, stored: &str) -> bool {
    let got = sha256_hex(password.as_bytes());
    let want = stored.trim().to_ascii_lowercase();
    got.len() == want.len()
        && got
            .bytes()
            .zip(want.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationEntry {
    /// Table or file of the predecessor.
    pub source: String,
    /// What: an email, an obra, `fila 12`, a natural key.
    pub item: String,
    /// `migrado`, `deshabilitado`, `fusionado`, `omitido` or `rechazado`.
    pub action: &'static str,
    /// Why, in Spanish.
    pub reason: String,
}

/// What a migration did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MigrationReport {
    /// Users created (including the disabled ones).
    pub users: usize,
    /// Of those, disabled (seeded or known-password accounts, unreadable hashes).
    pub users_disabled: usize,
    /// Obras created.
    pub obras: usize,
    /// Invoices read from the files (valid ones).
    pub invoices_read: usize,
    /// Invoices stored.
    pub invoices: usize,
    /// Rows folded into another: invoices with the same natural key, accounts with the same
    /// email in other casing.
    pub merged: usize,
    /// Invoices this database already had.
    pub existing: usize,
    /// Invoice rows that could not be used (see `entries`).
    pub rejected: usize,
    /// Records archived in `legacy_records`.
    pub archived: usize,
    /// Records and rows skipped (orphans, sessions, accounts already present …).
    pub skipped: usize,
    /// Every user and obra, and every row merged, skipped or rejected, with the reason.
    pub entries: Vec<MigrationEntry>,
}

impl MigrationReport {
    fn note(
        &mut self,
        source: &str,
        item: impl Into<String>,
        action: &'static str,
        reason: impl Into<String>,
    ) {
        self.entries.push(MigrationEntry {
            source: source.to_owned(),
            item: item.into(),
            action,
            reason: reason.into(),
        });
    }
}

fn field<'a>(row: &'a LegacyRow, name: &str) -> Option<&'a str> {
    row.get(name)
        .and_then(|v| v.as_deref())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn flag(row: &LegacyRow, name: &str) -> bool {
    matches!(
        field(row, name).map(str::to_ascii_lowercase).as_deref(),
        Some("1" | "true" | "1.0" | "t" | "yes" | "si" | "sí")
    )
}

/// A planned user.
#[derive(Debug, Clone)]
struct PlannedUser {
    user: NewUser,
    disabled: bool,
}

/// A planned obra: (code, name, centro de costo as the predecessor wrote it).
#[derive(Debug, Clone)]
struct PlannedObra {
    codigo: String,
    nombre: String,
    centro: String,
}

/// The obras, keyed by the predecessor's id.
fn plan_obras(db: &LegacyDb, report: &mut MigrationReport) -> BTreeMap<String, PlannedObra> {
    let mut out = BTreeMap::new();
    let mut codes: HashSet<String> = HashSet::new();
    for row in db.rows("obras") {
        let Some(id) = field(row, "id") else {
            report.skipped += 1;
            report.note("obras", "(sin id)", "omitido", "la fila no tiene id");
            continue;
        };
        let nombre = field(row, "nombre_obra")
            .unwrap_or("(sin nombre)")
            .to_owned();
        let centro = field(row, "centro_costo")
            .map(icc_iconstruye::mapping::folio_text)
            .unwrap_or_default();
        let mut codigo = if centro.is_empty() {
            format!("OBRA-{id}")
        } else {
            centro.clone()
        };
        if !codes.insert(codigo.to_lowercase()) {
            let again = format!("{codigo}-{id}");
            report.note(
                "obras",
                &nombre,
                "migrado",
                format!(
                    "el centro de costo {codigo} ya lo usa otra obra; queda con el código {again}"
                ),
            );
            codigo = again;
            codes.insert(codigo.to_lowercase());
        }
        out.insert(
            id.to_owned(),
            PlannedObra {
                codigo,
                nombre,
                centro,
            },
        );
    }
    out
}

fn plan_users(
    db: &LegacyDb,
    obras: &BTreeMap<String, PlannedObra>,
    report: &mut MigrationReport,
) -> Vec<PlannedUser> {
    let default_hashes: Vec<String> = PUBLISHED_DEFAULT_PASSWORDS
        .iter()
        .map(|p| sha256_hex(p.as_bytes()))
        .collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for row in db.rows("users") {
        let email = field(row, "email").unwrap_or("").to_lowercase();
        let id = field(row, "id").unwrap_or("");
        if email.is_empty() {
            report.skipped += 1;
            report.note(
                "users",
                format!("id {id}"),
                "omitido",
                "la cuenta no tiene email",
            );
            continue;
        }
        let valid = (2..=64).contains(&email.chars().count())
            && email
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
        if !valid {
            report.skipped += 1;
            report.note(
                "users",
                &email,
                "omitido",
                "el email no sirve como nombre de usuario (2 a 64 letras, números, punto, guion, guion bajo o @); créela a mano",
            );
            continue;
        }
        if !seen.insert(email.clone()) {
            report.merged += 1;
            report.note(
                "users",
                &email,
                "fusionado",
                "el mismo email aparece dos veces (distinto uso de mayúsculas); se conserva la primera cuenta",
            );
            continue;
        }
        let role = if flag(row, "is_admin") {
            Role::Admin
        } else if flag(row, "is_manager") {
            Role::Gerente
        } else if flag(row, "is_admin_obra") {
            Role::AdminObra
        } else {
            Role::Contabilidad
        };
        let user_obras: Vec<String> = obras
            .iter()
            .filter(|(_, o)| !o.codigo.is_empty())
            .filter(|(oid, _)| {
                db.rows("obras").iter().any(|r| {
                    field(r, "id") == Some(oid.as_str())
                        && field(r, "administrador_obra_id") == Some(id)
                })
            })
            .map(|(_, o)| o.codigo.clone())
            .collect();
        let hash = field(row, "password_hash")
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut reasons = Vec::new();
        let mut disabled = false;
        if SEEDED_ACCOUNTS.contains(&email.as_str()) {
            disabled = true;
            reasons.push(
                "cuenta creada por la aplicación anterior con una contraseña publicada: queda deshabilitada hasta que un administrador le asigne otra"
                    .to_owned(),
            );
        } else if default_hashes.contains(&hash) {
            disabled = true;
            reasons.push(
                "usa una de las contraseñas publicadas de la aplicación anterior (cuenta por defecto renombrada): queda deshabilitada hasta que un administrador le asigne otra"
                    .to_owned(),
            );
        }
        let legacy = is_sha256_hex(&hash);
        if !legacy {
            disabled = true;
            reasons.push(
                "su contraseña no tiene el formato de la aplicación anterior (SHA-256): queda deshabilitada hasta que un administrador le asigne otra"
                    .to_owned(),
            );
        }
        if role == Role::Contabilidad {
            reasons.push("no tenía rol en la aplicación anterior: queda como contabilidad".into());
        }
        if role == Role::AdminObra && user_obras.is_empty() {
            reasons.push("administrador de obra sin obras asignadas".into());
        }
        let action = if disabled { "deshabilitado" } else { "migrado" };
        let reason = if reasons.is_empty() {
            format!(
                "rol {}; entra con su contraseña de siempre, que se re-cifra (argon2id) al primer ingreso",
                role.as_str()
            )
        } else {
            format!("rol {}; {}", role.as_str(), reasons.join("; "))
        };
        report.note("users", &email, action, reason);
        out.push(PlannedUser {
            user: NewUser {
                username: email,
                // An unusable value ("!" never verifies) when the hash cannot be checked, or
                // when it is a published default password: re-enabling such an account
                // must not bring the published password back; it needs a new one.
                password_hash: if legacy && !disabled {
                    hash
                } else {
                    "!".into()
                },
                password_legacy: legacy && !disabled,
                must_change_password: disabled,
                role,
                obras: user_obras,
            },
            disabled,
        });
    }
    out
}

/// An invoice read from a predecessor file, with where it came from.
#[derive(Debug, Clone)]
pub struct LegacyInvoice {
    /// The invoice (obra and cuenta filled from the row and the obras).
    pub invoice: Invoice,
    /// The row, as stored in the `raw` column.
    pub raw: String,
    /// `facturas.csv:12`.
    pub origin: String,
}

/// Maps the invoice files' rows: every row becomes an invoice or a report line.
fn plan_invoices(
    files: &[(&str, Records)],
    obras: &BTreeMap<String, PlannedObra>,
    report: &mut MigrationReport,
) -> Vec<LegacyInvoice> {
    let by_centro: HashMap<&str, &str> = obras
        .values()
        .filter(|o| !o.centro.is_empty())
        .map(|o| (o.centro.as_str(), o.codigo.as_str()))
        .collect();
    let mut seen: HashMap<NaturalKey, String> = HashMap::new();
    let mut out = Vec::new();
    for (file, records) in files {
        for r in &records.rows {
            let origin = format!("{file}:{}", r.row);
            let mut m = match icc_iconstruye::mapping::map_flat(&r.fields) {
                Ok(m) => m,
                Err(e) => {
                    report.rejected += 1;
                    report.note(file, format!("fila {}", r.row), "rechazado", e);
                    continue;
                }
            };
            report.invoices_read += 1;
            let key = m.invoice.key;
            if let Some(first) = seen.get(&key) {
                report.merged += 1;
                report.note(
                    file,
                    format!("fila {} ({})", r.row, key),
                    "fusionado",
                    format!("es la misma factura que {first} (RUT, tipo y folio leído como texto)"),
                );
                continue;
            }
            seen.insert(key, origin.clone());
            m.invoice.cuenta = cuenta_of(r);
            m.invoice.obra = m
                .invoice
                .centro_costo
                .as_deref()
                .map(|c| c.chars().take(4).collect::<String>())
                .and_then(|c| by_centro.get(c.as_str()).map(|s| (*s).to_owned()));
            out.push(LegacyInvoice {
                invoice: m.invoice,
                raw: m.raw,
                origin,
            });
        }
    }
    out
}

fn cuenta_of(r: &Record) -> Option<String> {
    r.get(&["Cuenta"])
        .filter(|c| !c.eq_ignore_ascii_case("sin cuenta"))
        .map(|c| c.chars().take(64).collect())
}

/// A record to archive: (source, id, data).
type Archived = (String, String, serde_json::Value);

fn plan_archive(
    db: &LegacyDb,
    files: &[(&str, Records)],
    report: &mut MigrationReport,
) -> Vec<Archived> {
    let mut out = Vec::new();
    let ids = |table: &str| -> HashSet<String> {
        db.rows(table)
            .iter()
            .filter_map(|r| field(r, "id").map(str::to_owned))
            .collect()
    };
    let obra_ids = ids("obras");
    // items whose obra still exists (deletes never cascaded in the predecessor)
    let live_items: HashSet<String> = db
        .rows("flujo_cajas_items")
        .iter()
        .filter(|r| field(r, "obra_id").is_some_and(|o| obra_ids.contains(o)))
        .filter_map(|r| field(r, "id").map(str::to_owned))
        .collect();
    let mut tables: Vec<&str> = ARCHIVED_TABLES.to_vec();
    // tables this version does not know (a later predecessor version): kept too
    let extra: Vec<&String> = db
        .tables
        .keys()
        .filter(|t| !["users", "obras", "sessions"].contains(&t.as_str()))
        .filter(|t| !ARCHIVED_TABLES.contains(&t.as_str()))
        .collect();
    tables.extend(extra.iter().map(|s| s.as_str()));
    for table in tables {
        for (i, row) in db.rows(table).iter().enumerate() {
            let id = field(row, "id").map_or_else(|| format!("fila {}", i + 1), str::to_owned);
            let orphan = match table {
                "flujo_cajas_items" | "obra_flujo_config" => {
                    !field(row, "obra_id").is_some_and(|o| obra_ids.contains(o))
                }
                "flujo_cajas_semanal" => {
                    !field(row, "item_id").is_some_and(|o| live_items.contains(o))
                }
                _ => false,
            };
            if orphan {
                report.skipped += 1;
                report.note(
                    table,
                    format!("id {id}"),
                    "omitido",
                    "huérfano: su obra o ítem fue borrado en la aplicación anterior (que no borraba en cascada)",
                );
                continue;
            }
            let data: serde_json::Map<String, serde_json::Value> = row
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.clone()
                            .map_or(serde_json::Value::Null, serde_json::Value::String),
                    )
                })
                .collect();
            out.push((table.to_owned(), id, serde_json::Value::Object(data)));
        }
    }
    let sessions = db.rows("sessions").len();
    if sessions > 0 {
        report.skipped += sessions;
        report.note(
            "sessions",
            format!("{sessions} sesiones"),
            "omitido",
            "las sesiones de la aplicación anterior no se migran: cada usuario vuelve a iniciar sesión",
        );
    }
    for (file, records) in files {
        for r in &records.rows {
            let id = match *file {
                "subidas.csv" => r
                    .get(&["idDocumento"])
                    .map(icc_iconstruye::mapping::folio_text),
                "cuentas.xlsx" => r.get(&["Concepto"]).map(str::to_owned),
                "UN.xlsx" => r
                    .get(&["Centro de Costo Previred"])
                    .map(icc_iconstruye::mapping::folio_text),
                _ => None,
            }
            .unwrap_or_else(|| format!("fila {}", r.row));
            let data: serde_json::Map<String, serde_json::Value> = r
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            out.push(((*file).to_owned(), id, serde_json::Value::Object(data)));
        }
    }
    out
}

fn read_file(
    dir: &Path,
    name: &str,
    report: &mut MigrationReport,
) -> Result<Option<(Records, String)>> {
    let path = dir.join(name);
    if !path.is_file() {
        report.note(
            name,
            "(archivo)",
            "omitido",
            format!("no está en {}", dir.display()),
        );
        return Ok(None);
    }
    let bytes = std::fs::read(&path).map_err(|e| {
        AppError::Io(format!(
            "no se pudo leer {}: {e}; revise los permisos del archivo",
            path.display()
        ))
    })?;
    let sha = sha256_hex(&bytes);
    let records = read_records(name, bytes, None).map_err(|e| {
        AppError::Invalid(format!(
            "{e} (archivo de la aplicación anterior en {}); corríjalo o quítelo de la carpeta y repita la migración",
            dir.display()
        ))
    })?;
    if records.rows.is_empty() {
        report.note(name, "(archivo)", "omitido", "está vacío");
    }
    Ok(Some((records, sha)))
}

impl App {
    /// Migrates the predecessor's database `db` and the files in `files` (see the module
    /// docs). On a database that already has users, an administrator must run it; on a new
    /// one it may run before any user exists (then the migrated administrators sign in with
    /// their old passwords).
    ///
    /// # Errors
    /// Forbidden; an unreadable database or file (nothing is written); store errors (the
    /// transaction is rolled back).
    pub async fn migrate_legacy(
        &self,
        s: Option<&Session>,
        db: &Path,
        files: &Path,
    ) -> Result<MigrationReport> {
        let actor = match s {
            Some(s) => {
                s.require(Permission::ManageUsers)?;
                s.username.clone()
            }
            None if self.is_initialized().await? => {
                return Err(AppError::Forbidden(
                    "esta base ya tiene usuarios: migre como administrador (--user NOMBRE)".into(),
                ));
            }
            None => "migración".to_owned(),
        };
        if !files.is_dir() {
            return Err(AppError::Invalid(format!(
                "--files: {} no es una carpeta; indique la carpeta de datos de la aplicación anterior (donde están facturas.csv y cuentas.xlsx)",
                files.display()
            )));
        }
        let legacy = read_legacy_db(db).await?;
        if !legacy.tables.contains_key("users") && !legacy.tables.contains_key("obras") {
            return Err(AppError::Invalid(format!(
                "{} no parece la base de la aplicación anterior (no tiene las tablas users ni obras); indique constructora_icc.db",
                db.display()
            )));
        }
        let mut report = MigrationReport::default();
        let mut read = Vec::new();
        let mut shas = Vec::new();
        for name in LEGACY_FILES {
            if let Some((records, sha)) = read_file(files, name, &mut report)? {
                shas.push(sha);
                read.push((name, records));
            }
        }
        let obras = plan_obras(&legacy, &mut report);
        let users = plan_users(&legacy, &obras, &mut report);
        let (invoice_files, other_files): (Vec<_>, Vec<_>) = read
            .into_iter()
            .partition(|(n, _)| n.starts_with("facturas"));
        let invoices = plan_invoices(&invoice_files, &obras, &mut report);
        let archive = plan_archive(&legacy, &other_files, &mut report);

        let existing_obras: HashSet<String> = self
            .store
            .obras()
            .await?
            .into_iter()
            .map(|o| o.codigo.to_lowercase())
            .collect();
        let mut tx = self.store.write(&actor).await?;
        for o in obras.values() {
            if existing_obras.contains(&o.codigo.to_lowercase()) {
                report.note(
                    "obras",
                    &o.nombre,
                    "fusionado",
                    format!("la obra {} ya existía", o.codigo),
                );
                continue;
            }
            tx.create_obra(&o.codigo, &o.nombre).await?;
            report.obras += 1;
            report.note(
                "obras",
                &o.nombre,
                "migrado",
                format!("código {}", o.codigo),
            );
        }
        for u in &users {
            if self.store.user(&u.user.username).await?.is_some() {
                report.skipped += 1;
                report.note(
                    "users",
                    &u.user.username,
                    "omitido",
                    "ya existe en ICC Facturas; se conserva la cuenta actual",
                );
                continue;
            }
            tx.create_user(&u.user).await?;
            if u.disabled {
                tx.set_disabled(&u.user.username, true).await?;
                report.users_disabled += 1;
            }
            report.users += 1;
        }
        let rows: Vec<(Invoice, Option<String>)> = invoices
            .iter()
            .map(|i| (i.invoice.clone(), Some(i.raw.clone())))
            .collect();
        tx.historical_import();
        let inserted = tx.insert_invoices(&rows, &mut |_| true).await?;
        report.invoices = inserted.inserted.len();
        report.existing = inserted.duplicates;
        for (source, id, data) in &archive {
            if tx.archive_legacy(source, id, data).await? {
                report.archived += 1;
            }
        }
        let mut hasher = Sha256::new();
        for s in &shas {
            hasher.update(s.as_bytes());
        }
        hasher.update(db.display().to_string().as_bytes());
        tx.record_import_batch(&ImportBatch {
            file_name: format!("{} + {}", db.display(), files.display()),
            sha256: hex::encode(hasher.finalize()),
            format: "legado".into(),
            documents: i64::try_from(report.invoices_read).unwrap_or(i64::MAX),
            inserted: i64::try_from(report.invoices).unwrap_or(i64::MAX),
            updated: 0,
            duplicates: i64::try_from(report.existing + report.merged).unwrap_or(i64::MAX),
            rejected: i64::try_from(report.rejected).unwrap_or(i64::MAX),
        })
        .await?;
        tx.commit().await?;
        tracing::info!(
            users = report.users,
            obras = report.obras,
            invoices = report.invoices,
            merged = report.merged,
            rejected = report.rejected,
            archived = report.archived,
            "predecessor data migrated"
        );
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_hashes_are_checked_in_constant_time_and_case_blind() {
        let h = sha256_hex(b"clave-antigua");
        assert!(verify_legacy_hash("clave-antigua", &h));
        assert!(verify_legacy_hash("clave-antigua", &h.to_uppercase()));
        assert!(!verify_legacy_hash("clave-antigu", &h));
        assert!(!verify_legacy_hash("clave-antigua", "abc"));
        assert!(is_sha256_hex(&h));
        assert!(!is_sha256_hex("$argon2id$v=19$m=19456"));
    }
}
