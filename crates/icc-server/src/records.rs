//! Pushed payment records (payments, supplier bank accounts, payment runs, cesiones,
//! interest rates): whole documents, the newest by clock wins. The rules are
//! `icc_core::records::check_record`; what needs the server's own data (the invoice a
//! payment belongs to and its obra, who entered a bank account, which accounts are
//! approved, run numbers) is checked here.

use icc_core::presupuesto::{
    BUDGET_LINE_ENTITY, BudgetLineDoc, LOAN_ENTITY, LoanDoc, OBRA_LINE_ENTITY, ObraLineDoc,
    TREASURY_ENTITIES,
};
use icc_core::records::{
    BANK_ACCOUNT_ENTITY, BankAccountDoc, RUN_ENTITY, RecordRefusal, check_record,
};
use icc_core::sync::{FieldValue, INVOICE_ENTITY, Op};
use sqlx::{Postgres, Transaction};

use crate::auth::Authed;
use crate::error::ApiResult;
use crate::sync::{DOC_FIELD, Refusals, Why, parse_hlc, record_move, same_obra, unstorable};

/// How a pushed record ended.
pub(crate) enum Pushed {
    /// Stored.
    Accepted,
    /// Already here, the same as here, or older than what is here (it changes nothing).
    Duplicate,
    /// Refused (recorded in the refusals).
    Refused,
}

/// The server's current document of an entity: its clock, its text, who pushed it.
async fn current_doc(
    tx: &mut Transaction<'_, Postgres>,
    entity: &str,
    id: &str,
) -> sqlx::Result<Option<(String, String, Option<String>)>> {
    sqlx::query_as(
        "SELECT e.doc_hlc, o.value::text, e.obra FROM entity_obras e JOIN ops o ON o.seq = e.doc_seq \
         WHERE e.entity = $1 AND e.entity_id = $2",
    )
    .bind(entity)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}

/// Checks and stores one pushed record document (see the module).
pub(crate) async fn push_record(
    tx: &mut Transaction<'_, Postgres>,
    user: &Authed,
    device: &str,
    op: &Op,
    refusals: &mut Refusals,
) -> ApiResult<Pushed> {
    let stored: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM ops WHERE op_id = $1)")
        .bind(op.op_id)
        .fetch_one(&mut **tx)
        .await?;
    if stored {
        return Ok(Pushed::Duplicate);
    }
    let current = current_doc(tx, &op.entity, &op.entity_id).await?;
    let hlc = op.hlc.to_string();
    // what a refusal may show of the server's document: only what the account may see
    let may_see_current = current.as_ref().is_some_and(|(_, _, obra)| {
        user.sees(obra.as_deref())
            && (!TREASURY_ENTITIES.contains(&op.entity.as_str())
                || user.role.may(icc_core::Permission::Treasury))
    });
    if let Some((cur_hlc, cur_text, _)) = &current {
        let same = serde_json::from_str::<serde_json::Value>(cur_text).is_ok_and(|c| c == op.value);
        // an older budget line or loan that carries a modification or a paid instalment
        // the newer one lacks (made apart, then overtaken): refused, so the laptop lists
        // it and its author adds it again, instead of losing it in silence
        if !same
            && hlc <= *cur_hlc
            && let Some(why) = overtaken(&op.entity, &op.value, cur_text)
        {
            refusals.add(op, Why::Unknown(why), None);
            return Ok(Pushed::Refused);
        }
        // the same document again (a laptop linked anew), or one a newer version already
        // replaced (last writer wins, as for a field): nothing changes
        if same || hlc <= *cur_hlc {
            if !same {
                tracing::info!(entity = %op.entity, entity_id = %op.entity_id, user = %user.username, "record superseded by a newer version");
            }
            return Ok(Pushed::Duplicate);
        }
        // an account already replaced here, replaced again by a laptop that approved another
        // one while apart (who replaced it first stays recorded): nothing changes
        if op.entity == BANK_ACCOUNT_ENTITY {
            let estado = |v: &serde_json::Value| v["estado"].as_str().map(str::to_owned);
            let cur = serde_json::from_str::<serde_json::Value>(cur_text).ok();
            if cur.as_ref().and_then(estado).as_deref() == Some("reemplazada")
                && estado(&op.value).as_deref() == Some("reemplazada")
            {
                return Ok(Pushed::Duplicate);
            }
        }
    }
    let server_value = |c: &Option<(String, String, Option<String>)>| -> Option<FieldValue> {
        if !may_see_current {
            return None;
        }
        let (h, t, _) = c.as_ref()?;
        Some(FieldValue {
            value: serde_json::from_str(t).ok()?,
            hlc: parse_hlc(h).ok()?,
            edited: false,
        })
    };
    let text = op.value.to_string();
    // what a laptop held before it was linked: taken as it stands, from administration only
    let brought = op.source.as_deref() == Some(icc_core::records::LINK_SOURCE) && current.is_none();
    if brought && user.role != icc_core::Role::Admin {
        refusals.add(
            op,
            Why::Forbidden(format!(
                "este equipo traía {} de antes de vincularse; solo una cuenta de administración puede subirlos: \
                 que TI vincule el equipo con su cuenta (no los descarte: se perderían)",
                op.entity
            )),
            None,
        );
        return Ok(Pushed::Refused);
    }
    // (as it stands: checked as a document, not as a change from a state the server never saw)
    let checked = check_record(
        &op.entity,
        &op.entity_id,
        &text,
        if brought {
            Some(text.as_str())
        } else {
            current.as_ref().map(|(_, t, _)| t.as_str())
        },
        user.role,
        &user.username,
    );
    let needs = match checked {
        Ok(n) => n,
        Err(RecordRefusal::Invalid(m)) => {
            refusals.add(op, Why::Invalid(m), server_value(&current));
            return Ok(Pushed::Refused);
        }
        Err(RecordRefusal::Forbidden(m)) => {
            refusals.add(op, Why::Forbidden(m), server_value(&current));
            return Ok(Pushed::Refused);
        }
    };
    // a site manager's new budget line copies the catalogue as the server holds it
    if let Some(line) = &needs.catalog_line {
        let catalog = current_doc(tx, BUDGET_LINE_ENTITY, line)
            .await?
            .and_then(|(_, t, _)| serde_json::from_str::<BudgetLineDoc>(&t).ok());
        let copy = serde_json::from_value::<ObraLineDoc>(op.value.clone()).ok();
        let matches = match (&catalog, &copy) {
            (Some(c), Some(l)) => {
                c.familia == l.familia
                    && c.nombre == l.nombre
                    && c.cuentas == l.cuentas
                    && c.centros == l.centros
            }
            _ => false,
        };
        if !matches {
            refusals.add(
                op,
                Why::Forbidden(format!(
                    "la partida {line} no es, tal como llega, una partida del catálogo del servidor; \
                     sincronice para recibir el catálogo y agréguela de nuevo"
                )),
                None,
            );
            return Ok(Pushed::Refused);
        }
    }
    // the record takes the obra of its invoice, which decides who may see and change it
    let obra = match &needs.invoice {
        Some(inv) => {
            let held: Option<Option<String>> = sqlx::query_scalar(
                "SELECT obra FROM entity_obras WHERE entity = $1 AND entity_id = $2 AND doc_hlc IS NOT NULL",
            )
            .bind(INVOICE_ENTITY)
            .bind(inv)
            .fetch_optional(&mut **tx)
            .await?;
            match held {
                Some(o) => o,
                None if needs.invoice_required => {
                    refusals.add(
                        op,
                        Why::Unknown(format!(
                            "el servidor no tiene la factura {inv}: el pago se acepta después de la factura"
                        )),
                        None,
                    );
                    return Ok(Pushed::Refused);
                }
                None => None,
            }
        }
        None => needs.obra.clone(),
    };
    if !user.sees(obra.as_deref()) {
        refusals.add(
            op,
            Why::Forbidden(format!(
                "«{}» no puede registrar esto: es de la obra {}, que no es una de sus obras",
                user.username,
                obra.as_deref().unwrap_or("sin asignar")
            )),
            server_value(&current),
        );
        return Ok(Pushed::Refused);
    }
    // (what a laptop brings from before it was linked is history, taken as it stands)
    if op.entity == icc_core::records::PAYMENT_ENTITY
        && !brought
        && let Some(inv) = &needs.invoice
        && let Some(why) = overpaid(tx, inv, &op.value, &hlc).await?
    {
        refusals.add(op, Why::Unknown(why), server_value(&current));
        return Ok(Pushed::Refused);
    }
    if let Some(rut) = &needs.replaced_for {
        let replacement: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM entity_obras e JOIN ops o ON o.seq = e.doc_seq \
             WHERE e.entity = $1 AND e.entity_id <> $2 AND o.value ->> 'rut' = $3 AND o.value ->> 'estado' = 'aprobada')",
        )
        .bind(BANK_ACCOUNT_ENTITY)
        .bind(&op.entity_id)
        .bind(rut)
        .fetch_one(&mut **tx)
        .await?;
        if !replacement {
            refusals.add(
                op,
                Why::Unknown(format!(
                    "la cuenta {} de {rut} solo se reemplaza cuando su reemplazo está aprobado en el servidor",
                    op.entity_id
                )),
                server_value(&current),
            );
            return Ok(Pushed::Refused);
        }
    }
    if needs.not_the_author {
        let author: Option<String> = sqlx::query_scalar(
            "SELECT user_name FROM ops WHERE entity = $1 AND entity_id = $2 AND field = $3 ORDER BY seq LIMIT 1",
        )
        .bind(&op.entity)
        .bind(&op.entity_id)
        .bind(DOC_FIELD)
        .fetch_optional(&mut **tx)
        .await?;
        if author.as_deref() == Some(user.username.as_str()) {
            refusals.add(
                op,
                Why::Forbidden(format!(
                    "«{}» ingresó esta cuenta bancaria y no puede aprobarla: la aprueba otra persona",
                    user.username
                )),
                server_value(&current),
            );
            return Ok(Pushed::Refused);
        }
    }
    for (account, payee, invoice) in &needs.accounts {
        // the payee is who the server says is owed: the last cesionario when the invoice
        // was assigned, else its issuer
        let owed: Option<String> = sqlx::query_scalar(
            "SELECT COALESCE( \
                 (SELECT o.value ->> 'cesionario_rut' FROM entity_obras e JOIN ops o ON o.seq = e.doc_seq \
                  WHERE e.entity = 'cesion' AND e.parent = $1 \
                  ORDER BY (o.value ->> 'seq')::int DESC LIMIT 1), \
                 (SELECT o.value -> 'key' ->> 'rut_emisor' FROM entity_obras e JOIN ops o ON o.seq = e.doc_seq \
                  WHERE e.entity = 'invoice' AND e.entity_id = $1))",
        )
        .bind(invoice)
        .fetch_one(&mut **tx)
        .await?;
        if owed.as_deref() != Some(payee.as_str()) {
            refusals.add(
                op,
                Why::Forbidden(format!(
                    "la nómina pagaría la factura {invoice} a {payee}, pero en el servidor se le debe a {}",
                    owed.as_deref().unwrap_or("nadie (la factura no está en el servidor)")
                )),
                server_value(&current),
            );
            return Ok(Pushed::Refused);
        }
        let approved = current_doc(tx, BANK_ACCOUNT_ENTITY, account)
            .await?
            .and_then(|(_, t, _)| serde_json::from_str::<BankAccountDoc>(&t).ok())
            .is_some_and(|a| a.estado == "aprobada" && a.rut == *payee);
        if !approved {
            refusals.add(
                op,
                Why::Forbidden(format!(
                    "la cuenta {account} con que la nómina pagaría a {payee} no es una cuenta aprobada de ese beneficiario en el servidor"
                )),
                server_value(&current),
            );
            return Ok(Pushed::Refused);
        }
    }
    if let Some(numero) = needs.run_number {
        let taken: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM entity_obras e JOIN ops o ON o.seq = e.doc_seq \
             WHERE e.entity = $1 AND e.entity_id <> $2 AND o.value ->> 'numero' = $3)",
        )
        .bind(RUN_ENTITY)
        .bind(&op.entity_id)
        .bind(numero.to_string())
        .fetch_one(&mut **tx)
        .await?;
        if taken {
            refusals.add(
                op,
                Why::Unknown(format!(
                    "otra nómina ya tiene el N° {numero} en el servidor; al recibirla, esta toma el número siguiente y se envía de nuevo"
                )),
                None,
            );
            return Ok(Pushed::Refused);
        }
    }
    store_doc(
        tx,
        &StoredDoc {
            op_id: op.op_id,
            entity: &op.entity,
            entity_id: &op.entity_id,
            value: &op.value,
            hlc: &hlc,
            obra: obra.as_deref(),
            parent: needs.invoice.as_deref(),
            device,
            user: &user.username,
        },
    )
    .await
    .map_err(|e| unstorable(e, op.op_id))?;
    if let Some((_, _, old)) = &current
        && !same_obra(old.as_deref(), obra.as_deref())
    {
        record_move(
            tx,
            &op.entity,
            &op.entity_id,
            old.as_deref(),
            obra.as_deref(),
        )
        .await?;
    }
    if op.entity == BANK_ACCOUNT_ENTITY
        && let Ok(a) = serde_json::from_value::<BankAccountDoc>(op.value.clone())
        && a.estado == "aprobada"
    {
        supersede_approved(tx, user, &a, &op.hlc).await?;
    }
    Ok(Pushed::Accepted)
}

/// Why an older document of an obra's budget line or a loan would lose something the newer
/// one lacks: a modification or a paid instalment. `None`: nothing is lost.
fn overtaken(entity: &str, pushed: &serde_json::Value, current: &str) -> Option<String> {
    match entity {
        OBRA_LINE_ENTITY => {
            let p: ObraLineDoc = serde_json::from_value(pushed.clone()).ok()?;
            let c: ObraLineDoc = serde_json::from_str(current).ok()?;
            let lost = p
                .modificaciones
                .iter()
                .find(|m| !c.modificaciones.contains(m))?;
            Some(format!(
                "la partida «{}» cambió en el servidor mientras tanto; su modificación de {} («{}») no quedó: agréguela de nuevo",
                p.nombre, lost.monto, lost.motivo
            ))
        }
        LOAN_ENTITY => {
            let p: LoanDoc = serde_json::from_value(pushed.clone()).ok()?;
            let c: LoanDoc = serde_json::from_str(current).ok()?;
            let lost = p.cuotas.iter().find(|q| {
                q.pagada.is_some() && !c.cuotas.iter().any(|x| x.n == q.n && x.pagada.is_some())
            })?;
            Some(format!(
                "el préstamo de {} cambió en el servidor mientras tanto; el pago de la cuota {} no quedó: regístrelo de nuevo",
                p.banco, lost.n
            ))
        }
        _ => None,
    }
}

/// A record document to store as the entity's current version.
struct StoredDoc<'a> {
    op_id: uuid::Uuid,
    entity: &'a str,
    entity_id: &'a str,
    value: &'a serde_json::Value,
    hlc: &'a str,
    obra: Option<&'a str>,
    parent: Option<&'a str>,
    device: &'a str,
    user: &'a str,
}

/// Appends `d` to the op log and makes it the entity's current document.
async fn store_doc(tx: &mut Transaction<'_, Postgres>, d: &StoredDoc<'_>) -> sqlx::Result<()> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO ops (op_id, entity, entity_id, field, value, hlc, base_hlc, obra, device_id, user_name, source) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8, $9, NULL) RETURNING seq",
    )
    .bind(d.op_id)
    .bind(d.entity)
    .bind(d.entity_id)
    .bind(DOC_FIELD)
    .bind(d.value)
    .bind(d.hlc)
    .bind(d.obra)
    .bind(d.device)
    .bind(d.user)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO entity_obras (entity, entity_id, obra, doc_hlc, doc_seq, parent) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (entity, entity_id) DO UPDATE SET obra = EXCLUDED.obra, doc_hlc = EXCLUDED.doc_hlc, \
             doc_seq = EXCLUDED.doc_seq, parent = EXCLUDED.parent",
    )
    .bind(d.entity)
    .bind(d.entity_id)
    .bind(d.obra)
    .bind(d.hlc)
    .bind(seq)
    .bind(d.parent)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Device id of the documents the server writes itself.
const SERVER_DEVICE: &str = "servidor";

/// Makes every other approved account of `approved`'s supplier `reemplazada`, as each laptop
/// does when it approves or receives an approval: a supplier has one account to pay into.
/// Two administrators approving different accounts of one supplier while apart would
/// otherwise leave two approved on the server, and a run could be approved paying into the
/// one every laptop shows as replaced. The documents are written as the server's own ops
/// (device `servidor`), exactly as the approving laptop writes them (decided when and by whom
/// the new account was), with a clock after both versions, so every laptop receives them.
async fn supersede_approved(
    tx: &mut Transaction<'_, Postgres>,
    user: &Authed,
    approved: &BankAccountDoc,
    hlc: &icc_core::sync::Hlc,
) -> ApiResult<()> {
    let others: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT e.entity_id, e.doc_hlc, o.value::text FROM entity_obras e JOIN ops o ON o.seq = e.doc_seq \
         WHERE e.entity = $1 AND e.entity_id <> $2 AND o.value ->> 'rut' = $3 AND o.value ->> 'estado' = 'aprobada'",
    )
    .bind(BANK_ACCOUNT_ENTITY)
    .bind(&approved.id)
    .bind(&approved.rut)
    .fetch_all(&mut **tx)
    .await?;
    for (id, doc_hlc, text) in others {
        let Ok(mut old) = serde_json::from_str::<BankAccountDoc>(&text) else {
            continue;
        };
        old.estado = "reemplazada".into();
        old.decided_at = approved
            .decided_at
            .clone()
            .or_else(|| Some(approved.created_at.clone()));
        old.decided_by = approved
            .decided_by
            .clone()
            .or_else(|| Some(approved.created_by.clone()));
        let newest = std::cmp::max(hlc.clone(), parse_hlc(&doc_hlc)?);
        let at = newest.successor(SERVER_DEVICE).to_string();
        let value = serde_json::to_value(&old)
            .map_err(|e| crate::error::ApiError::internal(format!("account {id}: {e}")))?;
        store_doc(
            tx,
            &StoredDoc {
                op_id: uuid::Uuid::new_v4(),
                entity: BANK_ACCOUNT_ENTITY,
                entity_id: &id,
                value: &value,
                hlc: &at,
                obra: None,
                parent: None,
                device: SERVER_DEVICE,
                user: &user.username,
            },
        )
        .await?;
        tracing::info!(account = %id, by = %approved.id, user = %user.username, "approved account replaced by a newer approval");
    }
    Ok(())
}

/// Why a payment would pay more than the invoice's balance on the server (two laptops paid
/// the same invoice while apart, or a laptop that does not net credit notes), if it would.
/// The balance is the laptops' own rule over what the server holds: the invoice's total,
/// less the credit notes of its issuer that are credited to it (not voided or rejected,
/// each credited to the first document it names that the server holds:
/// [`icc_core::pagos::credit_note_targets`]), less the payments it holds.
async fn overpaid(
    tx: &mut Transaction<'_, Postgres>,
    invoice: &str,
    payment: &serde_json::Value,
    at: &str,
) -> ApiResult<Option<String>> {
    let monto = payment["monto"].as_i64().unwrap_or(0);
    let paid: i64 = sqlx::query_scalar(
        "SELECT COALESCE(SUM((o.value ->> 'monto')::bigint), 0)::bigint FROM entity_obras e \
         JOIN ops o ON o.seq = e.doc_seq WHERE e.entity = $1 AND e.parent = $2",
    )
    .bind(icc_core::records::PAYMENT_ENTITY)
    .bind(invoice)
    .fetch_one(&mut **tx)
    .await?;
    // the total as the server has it now (its winning edit, else the newest document's),
    // and the issuer
    let row: Option<(Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT COALESCE( \
             (SELECT (f.value #>> '{}')::bigint FROM fields f \
              WHERE f.entity = e.entity AND f.entity_id = e.entity_id AND f.field = 'monto_total'), \
             (o.value ->> 'monto_total')::bigint), \
             o.value #>> '{key,rut_emisor}' \
         FROM entity_obras e JOIN ops o ON o.seq = e.doc_seq WHERE e.entity = $1 AND e.entity_id = $2",
    )
    .bind(INVOICE_ENTITY)
    .bind(invoice)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((Some(total), rut)) = row else {
        return Ok(None);
    };
    let notas = match rut {
        Some(rut) => credited_notes(tx, invoice, &rut, at).await?,
        None => 0,
    };
    let saldo = total.saturating_sub(notas).saturating_sub(paid);
    Ok((monto > saldo).then(|| {
        let notas_text = if notas == 0 {
            String::new()
        } else {
            format!(", menos notas de crédito por {}", icc_core::Clp::new(notas))
        };
        format!(
            "la factura {invoice} tiene en el servidor un saldo de {} (total {}{notas_text}, \
             menos pagos por {}) y este pago de {} lo superaría: otro equipo ya registró pagos \
             o notas de crédito de ella mientras estaban sin conexión; revise el saldo y, si el \
             pago se registró dos veces, descártelo",
            icc_core::Clp::new(saldo),
            icc_core::Clp::new(total),
            icc_core::Clp::new(paid),
            icc_core::Clp::new(monto)
        )
    }))
}

/// The credit notes of `rut` credited to `invoice` that the payment made at `at` (its clock)
/// could have known, in pesos (each note's total as the server has it: its winning edit,
/// else its newest document's), by the rule of [`icc_core::pagos::credit_note_targets`]. A
/// note whose document is newer than the payment does not count: the money had left when
/// it arrived (a laptop that paid, then imported the note, pushes both at once), and
/// refusing the payment would lose a fact, not prevent one.
async fn credited_notes(
    tx: &mut Transaction<'_, Postgres>,
    invoice: &str,
    rut: &str,
    at: &str,
) -> ApiResult<i64> {
    // the predicate repeats the partial index's (migration 0007) so it is used
    let notes: Vec<(String, String, Option<String>, Option<i64>)> = sqlx::query_as(
        "SELECT e.entity_id, o.value::text, \
             (SELECT f.value #>> '{}' FROM fields f \
              WHERE f.entity = e.entity AND f.entity_id = e.entity_id AND f.field = 'estado'), \
             (SELECT (f.value #>> '{}')::bigint FROM fields f \
              WHERE f.entity = e.entity AND f.entity_id = e.entity_id AND f.field = 'monto_total') \
         FROM ops o JOIN entity_obras e ON e.doc_seq = o.seq AND e.entity = o.entity AND e.entity_id = o.entity_id \
         WHERE o.entity = 'invoice' AND o.field = '_doc' AND (o.value #>> '{key,tipo_dte}') = '61' \
           AND (o.value #>> '{key,rut_emisor}') = $1 AND e.doc_hlc < $2",
    )
    .bind(rut)
    .bind(at)
    .fetch_all(&mut **tx)
    .await?;
    let mut counted: Vec<(Vec<String>, i64)> = Vec::new();
    for (id, doc, estado, total) in notes {
        let Ok(note) = serde_json::from_str::<icc_core::Invoice>(&doc) else {
            continue; // the server refuses malformed documents; an old one counts nothing
        };
        if note.id().to_string() != id {
            continue;
        }
        let estado = estado
            .and_then(|e| e.parse::<icc_core::InvoiceStatus>().ok())
            .unwrap_or(note.estado);
        if matches!(
            estado,
            icc_core::InvoiceStatus::Anulada | icc_core::InvoiceStatus::Rechazada
        ) {
            continue;
        }
        let targets: Vec<String> = icc_core::pagos::credit_note_targets(&note)
            .iter()
            .map(ToString::to_string)
            .collect();
        if targets.iter().any(|t| t == invoice) {
            let amount = total.unwrap_or_else(|| note.monto_total.pesos());
            counted.push((targets, amount.saturating_abs()));
        }
    }
    if counted.is_empty() {
        return Ok(0);
    }
    let named: Vec<String> = counted
        .iter()
        .flat_map(|(t, _)| t.iter().cloned())
        .collect();
    let held: std::collections::HashSet<String> = sqlx::query_scalar(
        "SELECT entity_id FROM entity_obras WHERE entity = $1 AND doc_seq IS NOT NULL AND entity_id = ANY($2)",
    )
    .bind(INVOICE_ENTITY)
    .bind(&named)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect();
    Ok(counted
        .into_iter()
        .filter(|(targets, _)| {
            targets
                .iter()
                .find(|t| held.contains(*t))
                .is_some_and(|t| t == invoice)
        })
        .fold(0i64, |sum, (_, amount)| sum.saturating_add(amount)))
}

/// Moves the records of an invoice (its payments and cesiones) with it to `obra`.
pub(crate) async fn move_children(
    tx: &mut Transaction<'_, Postgres>,
    invoice: &str,
    obra: Option<&str>,
) -> sqlx::Result<()> {
    let children: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT entity, entity_id, obra FROM entity_obras WHERE parent = $1")
            .bind(invoice)
            .fetch_all(&mut **tx)
            .await?;
    for (entity, id, old) in children {
        if same_obra(old.as_deref(), obra) {
            continue;
        }
        sqlx::query("UPDATE entity_obras SET obra = $3 WHERE entity = $1 AND entity_id = $2")
            .bind(&entity)
            .bind(&id)
            .bind(obra)
            .execute(&mut **tx)
            .await?;
        crate::sync::insert_move(tx, &entity, &id, old.as_deref(), obra).await?;
    }
    Ok(())
}
