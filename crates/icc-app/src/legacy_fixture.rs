//! A predecessor-shaped database and data folder, with the predecessor's quirks, for the
//! migration tests and for IT's rehearsal (`icc dev legacy-fixture --out DIR`).
//!
//! Quirks built in: the seeded default accounts (one renamed by its user and re-created at
//! the next start, still on the published password), an email repeated with other casing,
//! a user without a role, an obra whose centro de costo Excel turned into `1418.0`, budget
//! rows orphaned by deletes that never cascaded, sessions, a `facturas.csv` with a BOM, an
//! extra column, folios written `1003.0`, the same invoice twice (`1000` and `1000.0`), a
//! boleta de honorarios and a row without neto, a `facturas_subidas_datos.csv` that repeats
//! one invoice and holds one deleted from `facturas.csv` (or is empty, as pandas writes an
//! empty table), a `subidas.csv` with mixed line endings, and Excel files with numbers
//! stored as floats and headers with line breaks.

use std::path::{Path, PathBuf};

use chrono::{Duration, NaiveDate};
use icc_core::Rut;
use icc_io::legacy::{XlsxValue, write_xlsx};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{AppError, Result};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct FixtureOptions {
    /// Ordinary invoices in `facturas.csv` (besides the special rows).
    pub invoices: usize,
    /// Write `facturas_subidas_datos.csv` empty, as pandas does for an empty table.
    pub empty_subidas_datos: bool,
}

impl Default for FixtureOptions {
    fn default() -> Self {
        FixtureOptions {
            invoices: 60,
            empty_subidas_datos: false,
        }
    }
}

/// What the generated data holds, for tests to compare a migration report with.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FixtureFacts {
    /// The database file.
    pub db: PathBuf,
    /// The data folder.
    pub files: PathBuf,
    /// User rows (one repeats another's email with other casing).
    pub user_rows: usize,
    /// Accounts that must come across disabled.
    pub disabled_accounts: Vec<String>,
    /// An active administrator and their predecessor password.
    pub admin: (String, String),
    /// A site manager, their password and their obras' codes.
    pub site_manager: (String, String, Vec<String>),
    /// Obras.
    pub obras: usize,
    /// Distinct valid invoices across both invoice files.
    pub distinct_invoices: usize,
    /// Rows that repeat an invoice already read.
    pub repeated_invoice_rows: usize,
    /// Rows that cannot be used (boleta de honorarios, no neto).
    pub bad_invoice_rows: usize,
    /// Records that must be archived (live budget rows, loans, balances, file rows).
    pub archivable: usize,
    /// Orphaned budget rows and sessions, to be skipped.
    pub skippable: usize,
}

fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn sha(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn rut(i: usize) -> String {
    let body = 76_000_000 + u32::try_from(i % 40).unwrap_or(0) * 1_013;
    format!("{body}-{}", Rut::check_digit(body))
}

const FACTURAS_HEADER: [&str; 35] = [
    "idDocumento",
    "numDoc",
    "folioDoc",
    "folioUnico",
    "origenFactura",
    "tipoFactura",
    "tipoDocAsociado",
    "nomProveedor",
    "rutProveedor",
    "centroGestion",
    "fechaSistema",
    "fechaEmision",
    "fechaEstimadaPago",
    "fechaRecepSII",
    "fechaRecepcion",
    "moneda",
    "montoTotal",
    "estadoDoc",
    "estadoAsociacion",
    "estadoPago",
    "estadoPagoSii",
    "FechaIngreso",
    "ConceptoCompras",
    "Cliente",
    "Proveedor",
    "Honorario",
    "Empleado",
    "Cuenta",
    "Cuenta 2",
    "Centro",
    "Unidad de Negocio",
    "Estado",
    "montoNeto",
    "montoNoAfectoOExento",
    // not the predecessor's: a column someone added by hand
    "Comentario interno",
];

/// One `facturas.csv` row for invoice `i`, by column.
fn factura_row(i: usize, id: usize, folio: &str) -> Vec<String> {
    let centros = ["1420-Edificio Norte", "1418-Condominio Sur", "9999-Bodega"];
    let centro = centros[i % 3];
    let exenta = i % 10 == 9;
    let base = 100_000 + i64::try_from(i).unwrap_or(0) * 1_000;
    let (neto, exento, iva) = if exenta {
        (0, base, 0)
    } else {
        (base, 0, (base * 19 + 50) / 100)
    };
    let total = neto + exento + iva;
    let day0 = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default();
    let emision = day0 + Duration::days(i64::try_from(i % 300).unwrap_or(0));
    let recepcion = emision + Duration::days(1);
    let pago = emision + Duration::days(30);
    let tipo = if exenta {
        "Factura No Afecta o Exenta Electrónica "
    } else {
        "Factura Electrónica "
    };
    let estado_doc = ["Aprobada", "Ingresada", "Rechazada", "Espera Aprobacion"][i % 4];
    let estado_pago = if i.is_multiple_of(5) {
        "Pagada"
    } else {
        "Sin Pagos"
    };
    let cuenta = if i.is_multiple_of(6) {
        ""
    } else {
        "4.01.02.01"
    };
    vec![
        id.to_string(),
        format!("{}-{}", &centro[..4], i + 1),
        format!("{}-{}", &centro[..4], i + 1),
        folio.to_owned(),
        "Factura Electrónica (iHub)".into(),
        tipo.into(),
        "Recepción".into(),
        format!("PROVEEDOR   {} SPA", i % 40),
        rut(i),
        centro.into(),
        format!("{}T13:20:31.06", emision),
        format!("{emision}T00:00:00"),
        format!("{pago}T00:00:00"),
        if i.is_multiple_of(4) {
            "No disponible".into()
        } else {
            recepcion.format("%d-%m-%Y").to_string()
        },
        format!("{recepcion}T00:00:00"),
        "$".into(),
        format!("{total}.0"),
        estado_doc.into(),
        "Totalmente Asociada".into(),
        estado_pago.into(),
        "Pago Crédito".into(),
        "04/18/2024 19:29:20".into(),
        if cuenta.is_empty() {
            "Proveedor no encontrado".into()
        } else {
            "Materiales".into()
        },
        "N".into(),
        "S".into(),
        "N".into(),
        "N".into(),
        cuenta.into(),
        if cuenta.is_empty() {
            String::new()
        } else {
            "4.01.02.01 Materiales".into()
        },
        centro[..4].into(),
        "Piso 8 Costanera Center".into(),
        "Activo".into(),
        format!("{neto}.0"),
        format!("{exento}.0"),
        if i.is_multiple_of(11) {
            "revisar con obra".into()
        } else {
            String::new()
        },
    ]
}

fn write_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) -> Result<()> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::from(&b"\xEF\xBB\xBF"[..]));
    let io = |e: csv::Error| AppError::Io(format!("{}: {e}", path.display()));
    w.write_record(header).map_err(io)?;
    for r in rows {
        w.write_record(r).map_err(io)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| AppError::Io(format!("{}: {e}", path.display())))?;
    std::fs::write(path, bytes).map_err(|e| AppError::Io(format!("{}: {e}", path.display())))
}

/// Writes `DIR/constructora_icc.db` and `DIR/datos/` (the predecessor's persistent folder).
///
/// # Errors
/// The folder cannot be written or already holds a database.
pub async fn write_fixture(dir: &Path, opts: FixtureOptions) -> Result<FixtureFacts> {
    let files = dir.join("datos");
    std::fs::create_dir_all(&files)
        .map_err(|e| AppError::Io(format!("no se pudo crear {}: {e}", files.display())))?;
    let db = dir.join("constructora_icc.db");
    if db.exists() {
        return Err(AppError::Invalid(format!(
            "{} ya existe; use una carpeta vacía",
            db.display()
        )));
    }

    // users: (id, name, email, password, admin, manager, admin_obra)
    let users: [(i64, &str, &str, &str, u8, u8, u8); 8] = [
        // the seeded administrator, renamed by its user (still on the published password)
        (
            1,
            "Constanza Carreño",
            "constanza.carreno@constructoraicc.cl",
            "password123",
            1,
            0,
            0,
        ),
        (
            2,
            "Gerente Test",
            "gerente@constructoraicc.cl",
            "manager123",
            0,
            1,
            0,
        ),
        (
            3,
            "Admin Obra",
            "adminobra@constructoraicc.cl",
            "obra123",
            0,
            0,
            1,
        ),
        (
            4,
            "Juan Pérez",
            "jperez@constructoraicc.cl",
            "Obra-Norte-2025",
            0,
            0,
            1,
        ),
        (
            5,
            "María López",
            "mlopez@constructoraicc.cl",
            "Contab-Sur-2024",
            1,
            0,
            0,
        ),
        (
            6,
            "Pedro Soto",
            "psoto@constructoraicc.cl",
            "Pedro-Bodega-77",
            0,
            0,
            0,
        ),
        // the same person again, other casing (the predecessor's UNIQUE is case-sensitive)
        (
            7,
            "Juan Pérez",
            "JPerez@ConstructoraICC.cl",
            "otra-clave-1",
            0,
            0,
            1,
        ),
        // re-created at the next start after the rename
        (
            8,
            "Constanza Carreño",
            "ccarreno@constructoraicc.cl",
            "password123",
            1,
            0,
            0,
        ),
    ];
    let mut sql: Vec<String> = users
        .iter()
        .map(|(id, name, email, pw, a, m, o)| {
            format!(
                "INSERT INTO users (id, name, email, password_hash, is_admin, is_manager, is_admin_obra, created_at) \
                 VALUES ({id}, {}, {}, {}, {a}, {m}, {o}, '2024-03-01 12:00:00')",
                q(name),
                q(email),
                q(&sha(pw))
            )
        })
        .collect();
    sql.push(
        "INSERT INTO sessions (user_id, session_token, expires_at) VALUES \
         (4, 'tok-a', '2025-07-17 10:00:00.000000'), (5, 'tok-b', '2025-07-18 11:00:00.000000')"
            .into(),
    );
    sql.push(
        "INSERT INTO obras (id, nombre_obra, centro_costo, administrador_obra_id, created_at) VALUES \
         (1, 'Edificio Norte', '1420', 4, '2024-04-01 09:00:00'), \
         (2, 'Condominio Sur', '1418.0', 4, '2024-05-01 09:00:00'), \
         (3, 'Oficina Central', '1000', 3, '2024-01-01 09:00:00')"
            .into(),
    );
    sql.push(
        "INSERT INTO items (codigo, nombre, tipo) VALUES ('101', 'Facturación', 'INGRESOS'), \
         ('1050', 'Cemento', 'Obras Preliminares'), ('2370', 'Subcontrato aceros inox', 'SUBCONTRATO')"
            .into(),
    );
    // obra 9 was deleted: its config, item and weeks stayed behind
    sql.push(
        "INSERT INTO obra_flujo_config (obra_id, fecha_inicio, fecha_fin) VALUES (1, '2024-04-01', '2024-09-28'), (9, '2023-01-01', '2023-06-30')"
            .into(),
    );
    sql.push(
        "INSERT INTO flujo_cajas_items (id, obra_id, codigo, nombre, presupuesto_inicial, modificaciones, gasto_real) VALUES \
         (1, 1, '1050', 'Cemento', 12500000.0, -250000.0, 3100000.0), (2, 9, '101', 'Facturación', 90000000.0, 0, 0)"
            .into(),
    );
    sql.push(
        "INSERT INTO flujo_cajas_semanal (item_id, semana, valor) VALUES \
         (1, '2024-04-01', 1500000.0), (1, '2024-04-08', 1600000.0), (2, '2023-01-02', 5000000.0), (77, '2023-01-09', 1.0)"
            .into(),
    );
    sql.push(
        "INSERT INTO saldos_previos_bancos (banco, semana, valor) VALUES ('Banco Santander', '2025-07-07', 152000000.0), ('Banco Chile', '2025-07-07', 48000000.0)"
            .into(),
    );
    sql.push(
        "INSERT INTO flujo_cajas_editable_ingresos (tipo_ingreso, semana, valor) VALUES ('Facturación Emitida', '2025-07-07', 210000000.0)"
            .into(),
    );
    sql.push(
        "INSERT INTO creditos (nombre_credito, banco, cuotas_restantes, valor_cuota, fecha_pago) VALUES \
         ('Leasing grúa', 'Banco BCI', 18, 2350000.0, '2025-08-05'), ('Capital de trabajo', 'Banco Santander', 6, 8900000.0, '2025-07-30')"
            .into(),
    );
    icc_store::legacy::write_predecessor_db(&db, &sql).await?;

    // facturas.csv
    let n = opts.invoices.max(3);
    let mut rows: Vec<Vec<String>> = (0..n)
        .map(|i| {
            let folio = 1000 + i;
            let text = if i % 7 == 3 {
                format!("{folio}.0")
            } else {
                folio.to_string()
            };
            factura_row(i, 31_000_000 + i, &text)
        })
        .collect();
    // the same invoice as row 0, its folio written as a float, another iConstruye id
    rows.push(factura_row(0, 31_900_000, "1000.0"));
    let mut boleta = factura_row(1, 31_900_001, "BH 14");
    boleta[5] = "Boleta Honorarios".into();
    rows.push(boleta);
    let mut sin_neto = factura_row(2, 31_900_002, "5555");
    sin_neto[32] = String::new();
    rows.push(sin_neto);
    write_csv(&files.join("facturas.csv"), &FACTURAS_HEADER, &rows)?;

    // facturas_subidas_datos.csv: predecessor columns only
    let datos = files.join("facturas_subidas_datos.csv");
    let mut distinct = n;
    let mut repeated = 1;
    if opts.empty_subidas_datos {
        std::fs::write(&datos, "\u{feff}\n")
            .map_err(|e| AppError::Io(format!("{}: {e}", datos.display())))?;
    } else {
        let cut = |mut r: Vec<String>| {
            r.truncate(34);
            r
        };
        // invoice 1 again, and one deleted from facturas.csv
        let rows = vec![
            cut(factura_row(1, 31_000_001, "1001")),
            cut(factura_row(5, 32_000_001, "90001")),
        ];
        write_csv(&datos, &FACTURAS_HEADER[..34], &rows)?;
        distinct += 1;
        repeated += 1;
    }

    // subidas.csv: written by pandas, then appended by the csv module (\r\n)
    let subidas = "idDocumento\n31000000\n31000001\r\n32000001\r\n";
    std::fs::write(files.join("subidas.csv"), subidas)
        .map_err(|e| AppError::Io(format!("subidas.csv: {e}")))?;

    let t = |s: &str| XlsxValue::Text(s.into());
    let io = |e: String| AppError::Io(e);
    write_xlsx(
        &files.join("cuentas.xlsx"),
        &["Concepto", "Cuenta", "Cuenta 2"],
        &[
            vec![t("Materiales"), t("4.01.02.01"), t("4.01.02.01 Materiales")],
            vec![
                t("Subcontratos"),
                t("4.01.02.02"),
                t("4.01.02.02 Subcontratos"),
            ],
            vec![t("Arriendos oficina"), t("4.01.03.11"), XlsxValue::Empty],
        ],
    )
    .map_err(io)?;
    write_xlsx(
        &files.join("UN.xlsx"),
        &[
            "Orden",
            "Unidad de Negocio ",
            "Estado",
            "Centro de Costo Previred",
        ],
        &[
            vec![
                XlsxValue::Number(1.0),
                t("Piso 8 Costanera Center"),
                t("Activo"),
                XlsxValue::Number(1420.0),
            ],
            vec![
                XlsxValue::Number(2.0),
                t("SISA MPV"),
                t("Activo"),
                XlsxValue::Number(1418.0),
            ],
            vec![
                XlsxValue::Number(3.0),
                t("Oficina Central"),
                t("Activo"),
                XlsxValue::Number(1000.0),
            ],
        ],
    )
    .map_err(io)?;
    let santander_headers = [
        "Cuenta origen\n(obligatorio)",
        "Moneda origen\n(obligatorio)",
        "Cuenta destino\n(obligatorio)",
        "Moneda destino\n(obligatorio)",
        "Código banco destino\n(obligatorio solo si banco destino no es Santander)",
        "RUT beneficiario\n(obligatorio solo si banco destino no es Santander)",
        "Nombre beneficiario\n(obligatorio solo si banco destino no es Santander)",
        "Monto transferencia\n(obligatorio)",
        "Glosa personalizada transferencia\n(opcional)",
        "Correo beneficiario\n(opcional)",
    ];
    let cuenta = |rut_digits: f64, dest: f64, banco: f64, nombre: &str, mail: &str| {
        vec![
            XlsxValue::Number(71_234_567.0),
            t("CLP"),
            XlsxValue::Number(dest),
            t("CLP"),
            XlsxValue::Number(banco),
            XlsxValue::Number(rut_digits),
            t(nombre),
            XlsxValue::Empty,
            XlsxValue::Empty,
            t(mail),
        ]
    };
    write_xlsx(
        &files.join("Santander.xlsx"),
        &santander_headers,
        &[
            cuenta(
                760_000_003.0,
                1_730_736_000.0,
                37.0,
                "PROVEEDOR 0 SPA",
                "pagos@proveedor0.cl",
            ),
            cuenta(
                760_010_138.0,
                9_876_543.0,
                1.0,
                "PROVEEDOR 1 SPA",
                "CONTACTO@GMAIL,COM",
            ),
            // the same supplier twice: the predecessor kept the first
            cuenta(760_010_138.0, 1_111_111.0, 16.0, "PROVEEDOR 1 SPA", ""),
        ],
    )
    .map_err(io)?;

    // live budget rows: 3 items, 1 config, 1 flow item, 2 weeks; 2 balances, 1 income,
    // 2 loans; file rows: 3 subidas, 3 cuentas, 3 UN, 3 Santander
    let archivable = 3 + 1 + 1 + 2 + 2 + 1 + 2 + 3 + 3 + 3 + 3;
    // orphans: 1 config, 1 flow item, 2 weeks; and 2 sessions
    let skippable = 1 + 1 + 2 + 2;
    Ok(FixtureFacts {
        db,
        files,
        user_rows: users.len(),
        disabled_accounts: vec![
            "constanza.carreno@constructoraicc.cl".into(),
            "gerente@constructoraicc.cl".into(),
            "adminobra@constructoraicc.cl".into(),
            "ccarreno@constructoraicc.cl".into(),
        ],
        admin: ("mlopez@constructoraicc.cl".into(), "Contab-Sur-2024".into()),
        site_manager: (
            "jperez@constructoraicc.cl".into(),
            "Obra-Norte-2025".into(),
            vec!["1420".into(), "1418".into()],
        ),
        obras: 3,
        distinct_invoices: distinct,
        repeated_invoice_rows: repeated,
        bad_invoice_rows: 2,
        archivable,
        skippable,
    })
}
