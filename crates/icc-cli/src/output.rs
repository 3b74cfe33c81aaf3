//! Printing results: JSON for scripts (`--json`), Spanish tables and sentences for people.

use icc_app::{
    AuditEntry, DoctorReport, ExportReport, ImportReport, InvoiceView, Obra, Page, User,
};
use icc_core::Clp;
use serde::Serialize;

fn print_json<T: Serialize + ?Sized>(v: &T) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: no se pudo convertir el resultado a JSON: {e}"),
    }
}

/// `aaaa-mm-dd…` → `dd-mm-aaaa` (anything else unchanged).
fn fecha(iso: &str) -> String {
    let d = iso.get(..10).unwrap_or(iso);
    match (d.get(0..4), d.get(5..7), d.get(8..10)) {
        (Some(y), Some(m), Some(dd)) if d.len() == 10 => format!("{dd}-{m}-{y}"),
        _ => iso.to_owned(),
    }
}

pub fn done<T: Serialize>(json: bool, v: &T, text: &str) {
    if json {
        print_json(v);
    } else {
        println!("{text}");
    }
}

pub fn page(json: bool, p: &Page) {
    if json {
        return print_json(p);
    }
    if p.items.is_empty() {
        println!("Sin resultados.");
        return;
    }
    println!(
        "{:<10}  {:<12}  {:>4}  {:>10}  {:<32}  {:>16}  {:<19}  Obra",
        "Emisión", "RUT", "Tipo", "Folio", "Proveedor", "Total", "Estado"
    );
    for r in &p.items {
        let name: String = r.razon_social.chars().take(32).collect();
        println!(
            "{:<10}  {:>12}  {:>4}  {:>10}  {:<32}  {:>16}  {:<19}  {}",
            fecha(&r.fecha_emision),
            r.rut_emisor,
            r.tipo_dte,
            r.folio,
            name,
            Clp::new(r.monto_total).to_string(),
            r.estado,
            r.obra.as_deref().unwrap_or("—")
        );
    }
    if let Some(c) = &p.next_cursor {
        println!("\nHay más resultados: agregue --cursor '{c}'");
    }
}

pub fn invoice(json: bool, v: &InvoiceView) {
    if json {
        return print_json(v);
    }
    let r = &v.detail.row;
    let d = &v.detail;
    println!("{} N° {} — {}", v.tipo_dte_nombre, r.folio, r.razon_social);
    println!("  ID:                {}", r.id);
    println!("  RUT emisor:        {}", r.rut_emisor);
    println!("  Emisión:           {}", fecha(&r.fecha_emision));
    println!(
        "  Recepción SII:     {}",
        d.fecha_recepcion_sii
            .as_deref()
            .map_or("desconocida".into(), |f| format!(
                "{} {}",
                fecha(f),
                f.get(11..).unwrap_or("")
            ))
    );
    println!(
        "  Vence:             {} ({})",
        fecha(&r.vence),
        v.vence_fuente_nombre
    );
    println!(
        "  Plazo de reclamo:  {} ({})",
        r.plazo_reclamo.as_deref().map_or("no aplica".into(), fecha),
        r.plazo_reclamo_estado
            .as_deref()
            .unwrap_or_default()
            .replace('_', " ")
    );
    println!(
        "  Neto:              {:>16}",
        Clp::new(r.monto_neto).to_string()
    );
    println!(
        "  Exento:            {:>16}",
        Clp::new(r.monto_exento).to_string()
    );
    println!(
        "  IVA:               {:>16}",
        Clp::new(r.monto_iva).to_string()
    );
    for t in &d.otros_impuestos {
        println!("  Impuesto {:<8}   {:>16}", t.codigo, t.valor.to_string());
    }
    println!(
        "  Total:             {:>16}",
        Clp::new(r.monto_total).to_string()
    );
    println!(
        "  Estado:            {}{}",
        v.estado_nombre,
        d.motivo_rechazo
            .as_deref()
            .map_or(String::new(), |m| format!(" (motivo: {m})"))
    );
    println!("  Obra:              {}", r.obra.as_deref().unwrap_or("—"));
    println!(
        "  Centro de costo:   {}",
        d.centro_costo.as_deref().unwrap_or("—")
    );
    println!(
        "  Cuenta:            {}",
        d.cuenta.as_deref().unwrap_or("—")
    );
    println!(
        "  Orden de compra:   {}",
        d.orden_compra.as_deref().unwrap_or("—")
    );
    println!("  Glosa:             {}", d.glosa.as_deref().unwrap_or("—"));
    for rf in &d.referencias {
        println!(
            "  Referencia:        tipo {} folio {}{}",
            rf.tipo,
            rf.folio,
            rf.razon
                .as_deref()
                .map_or(String::new(), |x| format!(" ({x})"))
        );
    }
    if let Some(p) = &v.pagos {
        payments(false, p);
    }
}

pub fn history(json: bool, h: &[AuditEntry]) {
    if json {
        return print_json(h);
    }
    // Chile's time and Spanish action names, as the Historial of the desktop shows them
    for e in h {
        let when = &e.fecha_local;
        match (&e.field, &e.old_value, &e.new_value) {
            (Some(f), old, new) => println!(
                "{when}  {:<12}  {:<16}  {f}: {} → {}",
                e.user_name,
                e.accion,
                old.as_deref().unwrap_or("—"),
                new.as_deref().unwrap_or("—")
            ),
            (None, _, new) => println!(
                "{when}  {:<12}  {:<16}  {}",
                e.user_name,
                e.accion,
                new.as_deref().unwrap_or("")
            ),
        }
    }
}

pub fn users(json: bool, us: &[User]) {
    if json {
        return print_json(us);
    }
    for u in us {
        println!(
            "{:<20}  {:<22}  {:<24}  {}",
            u.username,
            u.role.label(),
            if u.obras.is_empty() {
                "—".into()
            } else {
                u.obras.join(",")
            },
            if u.disabled {
                "deshabilitado"
            } else {
                "activo"
            }
        );
    }
}

pub fn obras(json: bool, os: &[Obra]) {
    if json {
        return print_json(os);
    }
    for o in os {
        println!(
            "{:<14}  {}{}",
            o.codigo,
            o.nombre,
            if o.activa { "" } else { " (inactiva)" }
        );
    }
}

pub fn doctor(json: bool, r: &DoctorReport) {
    if json {
        return print_json(r);
    }
    println!("Carpeta de datos: {}", r.data_dir);
    for c in &r.checks {
        println!(
            "[{}] {}: {}",
            match c.level {
                icc_app::Level::Ok => "OK",
                icc_app::Level::Aviso => "AVISO",
                icc_app::Level::Falla => "FALLA",
            },
            c.name,
            c.detail
        );
        if let Some(h) = &c.hint {
            println!("      → {h}");
        }
    }
}

/// Warnings and preview rows listed in the human report before summarising the rest.
/// Errors are all listed: a rejected run reports every bad row (exit 3), as with --json.
const MAX_SHOWN: usize = 50;

pub fn import(json: bool, r: &ImportReport) {
    if json {
        return print_json(r);
    }
    for f in &r.files {
        let c = &f.counts;
        println!("{}", f.file);
        if let Some(p) = &f.parsed {
            let kind = match p.detected {
                icc_io::Detected::Rcv(v) => format!(
                    "Registro de Compras SII ({})",
                    serde_json::to_value(v)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default()
                ),
                icc_io::Detected::Generic => "planilla".to_owned(),
            };
            println!(
                "  formato: {kind}{}, encabezado en la fila {}",
                p.sheet
                    .as_deref()
                    .map(|s| format!(", hoja «{s}»"))
                    .unwrap_or_default(),
                p.header_row
            );
        }
        if f.already_imported {
            println!("  este archivo ya fue importado antes: no se escribió nada");
        }
        for w in f.warnings.iter().take(MAX_SHOWN) {
            println!(
                "  aviso, fila {}: {}",
                w.row.map_or_else(|| "—".to_owned(), |r| r.to_string()),
                w.message
            );
        }
        if f.warnings.len() > MAX_SHOWN {
            println!(
                "  … y {} avisos más (use --json para verlos todos)",
                f.warnings.len() - MAX_SHOWN
            );
        }
        println!(
            "  documentos: {} (notas de crédito: {}), nuevos: {}, actualizados: {}, ya existentes: {}, rechazados: {}",
            c.documents, c.credit_notes, c.inserted, c.updated, c.duplicates, c.rejected
        );
        println!(
            "  total: {}  neto: {}  IVA: {}  (notas de crédito restadas)",
            Clp::new(c.sum_total_signed),
            Clp::new(c.sum_neto_signed),
            Clp::new(c.sum_iva_signed)
        );
        if let Some(p) = &f.preview {
            for row in p.iter().take(MAX_SHOWN) {
                println!(
                    "    fila {:>6}  {:<24} {:>16}  {}{}",
                    row.row,
                    row.key,
                    Clp::new(row.monto_total).to_string(),
                    row.estado,
                    row.motivo
                        .as_deref()
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default()
                );
            }
            if p.len() > MAX_SHOWN {
                println!(
                    "    … y {} documentos más (use --json para verlos todos)",
                    p.len() - MAX_SHOWN
                );
            }
        }
    }
    let errors = &r.total.errors;
    if !errors.is_empty() {
        println!("\nProblemas:");
        for e in errors.iter() {
            let at = match (e.row, &e.column) {
                (Some(row), Some(col)) => format!("fila {row}, columna {col}"),
                (Some(row), None) => format!("fila {row}"),
                _ => "archivo".to_owned(),
            };
            let value = e
                .value
                .as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!(" [valor: «{v}»]"))
                .unwrap_or_default();
            if e.row.is_none() && e.column.is_none() {
                println!("  {}", e.message); // file-level messages already name the file
            } else {
                println!("  {} — {at}: {}{value}", e.file, e.message);
            }
        }
    }
    if let Some(c) = &r.cesiones {
        println!("\nArchivos de cesiones:");
        cesion_import(false, c);
    }
    let t = &r.total;
    if !t.obras_creadas.is_empty() {
        println!("\nObras creadas: {}.", t.obras_creadas.join(", "));
    } else if !t.obras_nuevas.is_empty() {
        println!(
            "\nObras que no existen: {}. Sus facturas se importaron sin obra; créelas y asígnelas con «icc import ARCHIVO --crear-obras».",
            t.obras_nuevas.join(", ")
        );
    }
    if t.obras_asignadas > 0 {
        println!("Facturas que recibieron su obra: {}.", t.obras_asignadas);
    }
    if r.dry_run {
        println!("\nVista previa: no se escribió nada.");
    }
}

pub fn export(json: bool, r: &ExportReport) {
    if json {
        return print_json(r);
    }
    let n = icc_core::group_thousands(r.documents);
    let sheets = if r.sheets.is_empty() {
        String::new()
    } else {
        format!(" (hojas: {})", r.sheets.join(", "))
    };
    println!(
        "Informe «{}» guardado en {}: {n} documento(s){sheets}.",
        r.report.title(),
        r.path.display()
    );
}

pub fn backups(json: bool, list: &[icc_app::BackupInfo], title: &str) {
    if json {
        return print_json(list);
    }
    if list.is_empty() {
        println!("No hay respaldos todavía; cree uno con `icc backup create`.");
        return;
    }
    println!("{title}");
    for b in list {
        println!(
            "  {}  {:>10} KB  {} facturas  {}",
            b.id,
            icc_core::group_thousands(b.size_bytes / 1024),
            icc_core::group_thousands(u64::try_from(b.facts.invoices).unwrap_or(0)),
            b.path
        );
    }
}

pub fn credentials(json: bool, list: &[icc_app::CredentialStatus]) {
    if json {
        return print_json(&list);
    }
    for c in list {
        println!(
            "{:<32} {:<12} {}",
            c.name,
            if c.configured {
                "guardada"
            } else {
                "sin guardar"
            },
            c.label
        );
    }
}

pub fn pull(json: bool, r: &icc_app::PullReport) {
    if json {
        return print_json(r);
    }
    println!(
        "iConstruye {} a {}: {} ventana(s), {} documentos recibidos, {} nuevos, {} actualizados, {} sin cambios, {} rechazados{}",
        fecha(&r.desde),
        fecha(&r.hasta),
        r.windows,
        r.fetched,
        r.inserted,
        r.updated,
        r.unchanged,
        r.rejected,
        if r.cancelled { " (cancelada)" } else { "" }
    );
    for e in r.errors.iter() {
        println!(
            "  rechazado ({}{}{}): {}",
            e.origen,
            e.id_documento
                .as_deref()
                .map(|i| format!(", idDocumento {i}"))
                .unwrap_or_default(),
            e.folio
                .as_deref()
                .map(|f| format!(", folio {f}"))
                .unwrap_or_default(),
            e.message
        );
    }
    for e in &r.estados_no_aplicados {
        println!("  estado no aplicado: {e}");
    }
}

pub fn conflicts(json: bool, list: &[icc_app::LocalConflict]) {
    if json {
        return print_json(&list);
    }
    if list.is_empty() {
        println!("No hay conflictos.");
        return;
    }
    for c in list {
        println!(
            "{:>6}  {:<10} {} {}: ganó {}, perdió {} (de {}){}",
            c.id,
            if c.resolved_by.is_some() {
                "resuelto"
            } else {
                "abierto"
            },
            c.entity_id,
            c.field,
            c.winner_value,
            c.loser_value,
            c.loser_user,
            c.resolved_by
                .as_deref()
                .map(|u| format!(", resuelto por {u}"))
                .unwrap_or_default()
        );
    }
}

pub fn migration(json: bool, r: &icc_app::legacy::MigrationReport) {
    if json {
        return print_json(r);
    }
    let n = |v: usize| icc_core::Clp::new(i64::try_from(v).unwrap_or(i64::MAX)).format_number();
    println!("Migración desde la aplicación anterior:");
    println!(
        "  usuarios: {} (deshabilitados: {})   obras: {}",
        n(r.users),
        n(r.users_disabled),
        n(r.obras)
    );
    println!(
        "  facturas: {} leídas, {} guardadas, {} fusionadas, {} ya estaban, {} rechazadas",
        n(r.invoices_read),
        n(r.invoices),
        n(r.merged),
        n(r.existing),
        n(r.rejected)
    );
    println!(
        "  archivados: {}   omitidos: {}",
        n(r.archived),
        n(r.skipped)
    );
    for e in &r.entries {
        println!("  [{}] {} {}: {}", e.action, e.source, e.item, e.reason);
    }
}

pub fn payments(json: bool, p: &icc_app::InvoicePayments) {
    if json {
        return print_json(p);
    }
    let b = &p.saldo;
    println!("  Total:             {:>16}", b.total.to_string());
    println!("  Notas de crédito:  {:>16}", b.notas_credito.to_string());
    println!("  Pagado:            {:>16}", b.pagado.to_string());
    println!("  Saldo:             {:>16}", b.saldo.to_string());
    for pago in &p.pagos {
        println!(
            "  Pago {}  {:>16}  {}{}",
            fecha(&pago.fecha),
            Clp::new(pago.monto).to_string(),
            pago.medio.replace('_', " "),
            pago.referencia
                .as_deref()
                .map_or(String::new(), |r| format!(" ({r})"))
        );
    }
    if let Some(m) = &p.mora
        && m.dias > 0
    {
        println!(
            "  Mora:              {} días; interés {}, cargo de cobranza {}",
            m.dias, m.interes, m.cargo_cobranza
        );
        if !m.meses_sin_tasa.is_empty() {
            println!(
                "  Faltan las tasas de {}: esos días no suman interés (icc pagos tasa MM-AAAA TASA)",
                m.meses_sin_tasa.join(", ")
            );
        }
    }
}

pub fn rates(json: bool, rates: &[icc_core::pagos::InterestRate]) {
    if json {
        return print_json(rates);
    }
    if rates.is_empty() {
        println!("No hay tasas ingresadas. Use: icc pagos tasa MM-AAAA TASA");
    }
    for r in rates {
        println!(
            "{:02}-{}  {},{:02} %",
            r.month,
            r.year,
            r.annual_bp / 100,
            r.annual_bp % 100
        );
    }
}

pub fn accounts(json: bool, accounts: &[icc_app::SupplierAccount]) {
    if json {
        return print_json(accounts);
    }
    if accounts.is_empty() {
        println!("No hay cuentas bancarias.");
    }
    for a in accounts {
        println!(
            "{}  {:<12} {:<11} {} {} {:<10} {}  titular {} {}{}",
            a.id,
            a.rut,
            a.estado,
            a.banco,
            a.banco_nombre,
            a.tipo_cuenta,
            a.numero,
            a.titular_rut,
            a.titular_nombre,
            if a.duplicada {
                "  ¡ATENCIÓN: el mismo número es cuenta de otro proveedor!"
            } else {
                ""
            }
        );
    }
}

pub fn banks(json: bool, banks: &[icc_app::Bank]) {
    if json {
        return print_json(banks);
    }
    for b in banks {
        println!(
            "{}  {}{}",
            b.code,
            b.name,
            if b.active { "" } else { " (inactivo)" }
        );
    }
}

pub fn run(json: bool, v: &icc_app::RunView) {
    if json {
        return print_json(v);
    }
    let r = &v.run;
    println!(
        "Nómina N° {} — corte {} — {} — total {} en {} líneas",
        r.numero,
        fecha(&r.corte),
        r.estado,
        Clp::new(r.total),
        r.lineas_incluidas
    );
    for l in &v.lineas {
        println!(
            "  {} {:<24} {:<28} vence {} saldo {:>14} paga {:>14}{}",
            if l.incluida { "✓" } else { "✗" },
            l.documento,
            l.beneficiario,
            fecha(&l.vence),
            Clp::new(l.saldo).to_string(),
            Clp::new(l.monto).to_string(),
            l.nota
                .as_deref()
                .map_or(String::new(), |n| format!("  ({n})"))
        );
    }
    for p in &v.beneficiarios {
        println!(
            "  → {} {}: {} en {} facturas{}",
            p.rut,
            p.nombre,
            Clp::new(p.total),
            p.lineas,
            if p.con_cuenta {
                ""
            } else {
                "  ¡sin cuenta bancaria aprobada!"
            }
        );
    }
}

pub fn runs(json: bool, runs: &[icc_app::RunRow]) {
    if json {
        return print_json(runs);
    }
    if runs.is_empty() {
        println!("No hay nóminas. Prepare una con: icc pagos nueva");
    }
    for r in runs {
        println!(
            "N° {:<4} corte {}  {:<9}  {:>16}  {} líneas  ({})",
            r.numero,
            fecha(&r.corte),
            r.estado,
            Clp::new(r.total).to_string(),
            r.lineas_incluidas,
            r.id
        );
    }
}

pub fn cesiones(json: bool, cs: &[icc_app::CesionRow]) {
    if json {
        return print_json(cs);
    }
    if cs.is_empty() {
        println!("No hay cesiones.");
    }
    for c in cs {
        println!(
            "{}  secuencia {}  {} → {} {}  {}  {}{}",
            c.documento,
            c.seq,
            c.cedente_rut,
            c.cesionario_rut,
            c.cesionario_nombre,
            Clp::new(c.monto_cedido),
            fecha(&c.fecha),
            if c.invoice_id.is_none() {
                "  (factura aún no registrada)"
            } else {
                ""
            }
        );
    }
}

pub fn cesion_import(json: bool, r: &icc_app::CesionImportReport) {
    if json {
        return print_json(r);
    }
    for f in &r.files {
        let kind = match f.kind {
            Some(icc_io::cesion::CesionFileKind::Aec) => "AEC (XML)",
            Some(icc_io::cesion::CesionFileKind::SiiTxt) => "consulta de cesiones del SII",
            Some(icc_io::cesion::CesionFileKind::Certificado) => "certificado o aviso de cesión",
            None => "no reconocido",
        };
        println!("{} — {kind}", f.file);
        println!(
            "  cesiones: {} (nuevas: {}), con su factura en el registro: {}, en revisión (la factura aún no llega): {}",
            f.cesiones, f.nuevas, f.matched, f.unmatched
        );
        for e in f.errors.iter() {
            println!("  {}", e.message);
        }
    }
}

pub fn kame_post(json: bool, r: &icc_app::kame::PostReport) {
    if json {
        return print_json(r);
    }
    for x in &r.resultados {
        let what = x.documento.as_deref().unwrap_or(&x.id);
        let how = match x.resultado {
            icc_app::kame::Resultado::Publicado => "contabilizada",
            icc_app::kame::Resultado::YaPublicado => "ya estaba contabilizada",
            icc_app::kame::Resultado::Recuperado => "ya estaba en Kame (respuesta perdida)",
            icc_app::kame::Resultado::Rechazado => "no contabilizada",
            icc_app::kame::Resultado::Incierto => "sin respuesta de Kame",
            icc_app::kame::Resultado::NoEnviado => "no enviada",
        };
        match (&x.kame_id, &x.mensaje) {
            (_, Some(m)) => println!("{what}: {how}: {m}"),
            (Some(k), None) => println!("{what}: {how} (comprobante {k})"),
            (None, None) => println!("{what}: {how}"),
        }
    }
    println!(
        "{} contabilizadas, {} ya estaban, {} rechazadas, {} pendientes.",
        r.publicadas, r.ya_publicadas, r.rechazadas, r.pendientes
    );
}
