//! `icc dev seed`: realistic generated data for development and benchmarks: valid RUTs,
//! obras `OB-2026-001` …, statuses and dates that fit the documents' age.

use chrono::{Days, NaiveDate, NaiveTime};
use icc_core::{
    Clp, DteType, Folio, Invoice, InvoiceStatus, NaturalKey, OtroImpuesto, Referencia, Rut, Source,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use crate::App;
use crate::error::{AppError, Result};

/// The user name the audit log records for generated data.
pub const SEED_ACTOR: &str = "dev-seed";
/// Obras created by the seed.
pub const SEED_OBRAS: usize = 24;
const SUPPLIERS: usize = 1200;
const CHUNK: usize = 10_000;
/// Days of history the seed spreads documents over.
const SPAN_DAYS: u64 = 730;

const OBRA_NAMES: &[&str] = &[
    "Edificio Los Aromos",
    "Condominio Las Araucarias",
    "Hospital Regional Talca",
    "Liceo Bicentenario Maipú",
    "Puente Río Claro",
    "Centro Logístico Quilicura",
    "Torre Providencia",
    "Parque Vista Cordillera",
    "Mall Plaza Oeste Ampliación",
    "Conjunto Habitacional Lo Espejo",
    "Planta Tratamiento Biobío",
    "Oficinas Nueva Las Condes",
];
const RUBROS: &[&str] = &[
    "Ferretería",
    "Hormigones",
    "Áridos",
    "Transportes",
    "Arriendo de Maquinaria",
    "Eléctrica",
    "Sanitarios",
    "Grúas y Montajes",
    "Servicios Topográficos",
    "Maderas",
    "Aceros",
    "Pinturas",
    "Vidrios",
    "Climatización",
    "Excavaciones",
    "Moldajes",
    "Andamios",
];
const LUGARES: &[&str] = &[
    "Ñuñoa",
    "Maipú",
    "del Sur",
    "Los Andes",
    "del Pacífico",
    "Quilicura",
    "Concepción",
    "Biobío",
    "Los Lagos",
    "Atacama",
    "Aconcagua",
    "del Maule",
    "Valparaíso",
    "Peñalolén",
    "Temuco",
    "Antofagasta",
    "Ávila",
    "Chillán",
];
const FORMAS: &[&str] = &["Ltda.", "SpA", "S.A.", "E.I.R.L."];
const GLOSAS: &[&str] = &[
    "Compra de cemento",
    "Arriendo de grúa torre",
    "Hormigón H-30",
    "Fierro A630-420H",
    "Transporte de áridos",
    "Instalación eléctrica",
    "Servicio de topografía",
    "Arriendo de andamios",
    "Moldajes muro",
    "Pintura interior",
    "Excavación masiva",
    "Retiro de escombros",
    "Ventanas termopanel",
    "Cañería PPR",
    "Cables y tableros",
];
const CENTROS: &[&str] = &[
    "OBRA GRUESA",
    "TERMINACIONES",
    "INSTALACIONES",
    "GASTOS GENERALES",
    "EQUIPOS",
    "SUBCONTRATO",
];
const CUENTAS: &[&str] = &[
    "410101", "410105", "410203", "410310", "420101", "420150", "510120",
];

/// What the seed did.
#[derive(Debug, Clone, Serialize)]
pub struct SeedReport {
    /// Invoices requested.
    pub requested: u64,
    /// Invoices inserted.
    pub inserted: u64,
    /// Generated invoices that already existed (skipped).
    pub duplicates: u64,
    /// Obras created.
    pub obras_created: usize,
}

struct Supplier {
    rut: Rut,
    name: String,
    next_folio: u64,
}

fn pick<'a>(rng: &mut StdRng, xs: &[&'a str]) -> &'a str {
    xs[rng.random_range(0..xs.len())]
}

fn status_for_age(rng: &mut StdRng, age_days: u64) -> InvoiceStatus {
    use InvoiceStatus::*;
    let r = rng.random_range(0..100);
    let table: &[(u32, InvoiceStatus)] = if age_days > 90 {
        &[
            (80, Pagada),
            (85, Rechazada),
            (88, Anulada),
            (95, Aprobada),
            (100, ParcialmentePagada),
        ]
    } else if age_days > 30 {
        &[
            (40, Pagada),
            (70, Aprobada),
            (80, ParcialmentePagada),
            (90, EnRevision),
            (95, Rechazada),
            (100, Recibida),
        ]
    } else {
        &[
            (40, Recibida),
            (65, EnRevision),
            (90, Aprobada),
            (95, Rechazada),
            (100, Pagada),
        ]
    };
    table
        .iter()
        .find(|(cut, _)| r < *cut)
        .map_or(Recibida, |(_, s)| *s)
}

impl App {
    /// Generates and inserts `n` invoices in one transaction (a crash leaves none of them),
    /// creating the obras `OB-2026-001` … `OB-2026-024` when missing. `seed` makes the data
    /// reproducible. `progress(done, total)` returns `false` to cancel (nothing is kept).
    ///
    /// # Errors
    /// Store errors, cancellation.
    pub async fn seed(
        &self,
        n: u64,
        seed: u64,
        progress: &mut (dyn FnMut(u64, u64) -> bool + Send),
    ) -> Result<SeedReport> {
        let mut rng = StdRng::seed_from_u64(seed);
        let today = chrono::Local::now().date_naive();
        let existing = self.store.obra_codes().await?;
        let mut tx = self.store.write(SEED_ACTOR).await?;
        let mut obras_created = 0;
        let mut obras = Vec::with_capacity(SEED_OBRAS);
        for i in 1..=SEED_OBRAS {
            let code = format!("OB-2026-{i:03}");
            if !existing.contains(&code) {
                let name = format!(
                    "{} {}",
                    OBRA_NAMES[(i - 1) % OBRA_NAMES.len()],
                    if i > OBRA_NAMES.len() { "II" } else { "" }
                );
                tx.create_obra(&code, name.trim()).await?;
                obras_created += 1;
            }
            obras.push(code);
        }
        let mut suppliers: Vec<Supplier> = (0..SUPPLIERS)
            .filter_map(|_| {
                let rut = Rut::from_body(rng.random_range(50_000_000u32..99_999_999)).ok()?;
                Some(Supplier {
                    rut,
                    name: format!(
                        "{} {} {}",
                        pick(&mut rng, RUBROS),
                        pick(&mut rng, LUGARES),
                        pick(&mut rng, FORMAS)
                    ),
                    next_folio: rng.random_range(1..5_000_000u64),
                })
            })
            .collect();
        let mut report = SeedReport {
            requested: n,
            inserted: 0,
            duplicates: 0,
            obras_created,
        };
        tx.expect_bulk(usize::try_from(n).unwrap_or(usize::MAX))
            .await?;
        let mut done = 0u64;
        while done < n {
            let size = CHUNK.min(usize::try_from(n - done).unwrap_or(CHUNK));
            // Documents arrive over time: the first ones generated are the oldest (two years
            // back), as in a real register, with a few days of jitter.
            let batch: Vec<(Invoice, Option<String>)> = (0..size as u64)
                .filter_map(|k| {
                    let age = SPAN_DAYS.saturating_sub((done + k) * SPAN_DAYS / n.max(1))
                        + rng.random_range(0..5u64);
                    generate(&mut rng, &mut suppliers, &obras, today, age.min(SPAN_DAYS))
                })
                .map(|i| (i, None))
                .collect();
            let base = done;
            let r = tx
                .insert_invoices(&batch, &mut |k| progress(base + k as u64, n))
                .await;
            let r = match r {
                Err(icc_store::StoreError::Cancelled) => return Err(AppError::Cancelled),
                other => other?,
            };
            report.inserted += r.inserted.len() as u64;
            report.duplicates += r.duplicates as u64;
            done += size as u64;
        }
        tx.commit().await?;
        Ok(report)
    }
}

fn generate(
    rng: &mut StdRng,
    suppliers: &mut [Supplier],
    obras: &[String],
    today: NaiveDate,
    age: u64,
) -> Option<Invoice> {
    let si = rng.random_range(0..suppliers.len());
    let s = &mut suppliers[si];
    s.next_folio += rng.random_range(1..4u64);
    let folio = Folio::new(s.next_folio).ok()?;
    let r = rng.random_range(0..100);
    let tipo = match r {
        0..=84 => DteType::FACTURA,
        85..=89 => DteType::FACTURA_EXENTA,
        90..=94 => DteType::NOTA_CREDITO,
        95..=96 => DteType::NOTA_DEBITO,
        97 => DteType::FACTURA_COMPRA,
        _ => DteType::GUIA_DESPACHO,
    };
    let emision = today.checked_sub_days(Days::new(age)).unwrap_or(today);
    let recepcion = if rng.random_range(0..100) < 97 {
        emision
            .checked_add_days(Days::new(rng.random_range(0..4)))
            .map(|d| d.min(today))
            .map(|d| {
                d.and_time(
                    NaiveTime::from_hms_opt(
                        rng.random_range(8..20),
                        rng.random_range(0..60),
                        rng.random_range(0..60),
                    )
                    .unwrap_or_default(),
                )
            })
    } else {
        None
    };
    let vencimiento = (rng.random_range(0..100) < 30)
        .then(|| emision.checked_add_days(Days::new([30, 45, 60][rng.random_range(0..3)])))
        .flatten();
    // log-uniform-ish amounts: many small invoices, a few very large
    let magnitude = rng.random_range(4..8u32);
    let neto_base = rng
        .random_range(10i64.pow(magnitude)..10i64.pow(magnitude + 1))
        .min(60_000_000);
    let (neto, exento) = if tipo == DteType::FACTURA_EXENTA {
        (0, neto_base)
    } else if rng.random_range(0..100) < 5 {
        (neto_base, rng.random_range(1_000..200_000))
    } else {
        (neto_base, 0)
    };
    let iva = if tipo == DteType::FACTURA_EXENTA {
        0
    } else {
        Clp::new(neto).percent(19).pesos()
    };
    let otros = if tipo == DteType::FACTURA && rng.random_range(0..100) < 2 {
        vec![OtroImpuesto {
            codigo: 28,
            tasa: None,
            valor: Clp::new(rng.random_range(5_000..300_000)),
        }]
    } else {
        vec![]
    };
    let total = neto + exento + iva + otros.iter().map(|o| o.valor.pesos()).sum::<i64>();
    let obra =
        (rng.random_range(0..100) < 92).then(|| obras[rng.random_range(0..obras.len())].clone());
    let estado = status_for_age(rng, age);
    let oc =
        (rng.random_range(0..100) < 40).then(|| format!("OC-{}", rng.random_range(10_000..99_999)));
    let mut referencias = Vec::new();
    if let Some(oc) = &oc {
        referencias.push(Referencia {
            tipo: "801".into(),
            folio: oc.clone(),
            fecha: Some(emision),
            codigo: None,
            razon: None,
        });
    }
    if tipo == DteType::NOTA_CREDITO {
        referencias.push(Referencia {
            tipo: "33".into(),
            folio: s
                .next_folio
                .saturating_sub(rng.random_range(1..50))
                .max(1)
                .to_string(),
            fecha: Some(emision),
            codigo: Some(3),
            razon: Some("Corrige montos".into()),
        });
    }
    Some(Invoice {
        key: NaturalKey {
            rut_emisor: s.rut,
            tipo_dte: tipo,
            folio,
        },
        razon_social: s.name.clone(),
        fecha_emision: emision,
        fecha_recepcion_sii: recepcion,
        fecha_vencimiento: vencimiento,
        monto_neto: Clp::new(neto),
        monto_exento: Clp::new(exento),
        monto_iva: Clp::new(iva),
        otros_impuestos: otros,
        monto_total: Clp::new(total),
        referencias,
        centro_costo: obra.as_ref().map(|o| {
            format!(
                "{} {}",
                o.rsplit('-').next().unwrap_or(o),
                pick(rng, CENTROS)
            )
        }),
        cuenta: Some(pick(rng, CUENTAS).to_owned()),
        obra,
        orden_compra: oc,
        glosa: Some(pick(rng, GLOSAS).to_owned()),
        motivo_rechazo: (estado == InvoiceStatus::Rechazada)
            .then(|| "Precio no corresponde a la orden de compra".into()),
        estado,
        source: Source::Seed,
        external_id: None,
        fecha_importacion: None,
    })
}
