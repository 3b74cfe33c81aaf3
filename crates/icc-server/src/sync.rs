//! The sync endpoints: idempotent batched push with per-field last-writer-wins and conflicts
//! kept, cursor pull, both limited to the obras the user may see.
//!
//! Pushes (and conflict resolutions) take one transaction-scoped advisory lock, so sequence
//! numbers are committed in order: a pull never sees seq 11 before seq 10 is visible, and a
//! cursor never skips an op that commits later.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use std::collections::{HashMap, HashSet};

use icc_core::presupuesto::TREASURY_ENTITIES;
use icc_core::sync::{
    CONFLICT_ENTITY, Conflict, FieldValue, Hlc, INVOICE_ENTITY, MAX_CLOCK_SKEW_MS, MAX_PUSH_OPS,
    Op, PROTOCOL_HEADER, PROTOCOL_VERSION, PullResponse, PushRequest, PushResponse, RawJson,
    Refusal, Removal, SOURCES, ServerOp, check_invoice_value, invoice_doc_field,
};
use icc_core::{InvoiceStatus, Permission};
use serde::Deserialize;
use sqlx::{Postgres, Transaction};

use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::records::{Pushed, push_record};

/// Advisory lock key that serialises writers of the op sequence.
const SEQ_LOCK: i64 = 0x1CC_5E9;
/// Largest pull page.
pub const MAX_PULL: i64 = 5_000;

/// Refuses a client speaking another protocol version.
///
/// # Errors
/// 426 with a "please update" message.
pub fn check_protocol(headers: &HeaderMap) -> ApiResult<()> {
    let v = headers
        .get(PROTOCOL_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok());
    match v {
        Some(PROTOCOL_VERSION) => Ok(()),
        Some(other) if other > PROTOCOL_VERSION => Err(ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "server_outdated",
            format!(
                "esta aplicación usa el protocolo {other} y el servidor solo conoce el {PROTOCOL_VERSION}; pida a TI que actualice el servidor"
            ),
        )),
        _ => Err(ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "client_outdated",
            format!(
                "esta versión de la aplicación es antigua (protocolo {}); actualícela para sincronizar, no se envió ni recibió nada",
                v.map_or("desconocido".into(), |v| v.to_string())
            ),
        )),
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `POST /api/v1/sync/push`.
///
/// Values arrive as JSON text ([`RawJson`]): a document goes to the op log as the client
/// sent it (PostgreSQL checks it as `jsonb`). The server is the authority on every change:
/// each op is checked against the account's role, its obras and, for `estado`, the status
/// machine from the server's current value; an edit of an entity whose document the server
/// does not hold, or a value of the wrong type, is refused. A refused op refuses the whole
/// push, which stores nothing and lists every refused op with its reason.
///
/// The work runs in its own task: a client that hangs up mid-push (a killed laptop) cannot
/// cancel it halfway through a `COPY`, which left the pooled connection unusable and failed
/// the next request on it with a 500.
///
/// # Errors
/// 426 old client, 400 skewed clock, malformed ops or values of the wrong type, 413 too many
/// ops, 403 an op the account may not make or another device's id, 409 an edit of an entity
/// the server does not hold.
pub async fn push(
    State(st): State<AppState>,
    user: Authed,
    headers: HeaderMap,
    Json(req): Json<PushRequest<RawJson>>,
) -> ApiResult<Json<PushResponse>> {
    check_protocol(&headers)?;
    let now = now_ms();
    // any i64 a client sends: no overflow
    let skew = req.sent_at_ms.abs_diff(now);
    if skew > MAX_CLOCK_SKEW_MS.unsigned_abs() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "clock_skew",
            format!(
                "el reloj de este equipo difiere {} minutos del servidor; corrija la fecha y hora del sistema y vuelva a sincronizar",
                skew / 60_000
            ),
        ));
    }
    if req.ops.len() > MAX_PUSH_OPS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_ops",
            format!(
                "se enviaron {} cambios y el máximo por envío es {MAX_PUSH_OPS}",
                req.ops.len()
            ),
        ));
    }
    if !valid_name(&req.device_id) {
        return Err(ApiError::bad_request("device_id no es válido"));
    }
    for op in &req.ops {
        if !valid_name(&op.entity)
            || !valid_name(&op.field)
            || op.entity_id.is_empty()
            || op.entity_id.len() > 128
            || op.entity_id.chars().any(char::is_control)
        {
            return Err(ApiError::bad_request(format!(
                "cambio {} mal formado: entidad, id o campo no válidos",
                op.op_id
            )));
        }
        if op.hlc.wall_ms - now > MAX_CLOCK_SKEW_MS {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "clock_skew",
                "un cambio trae una hora futura; corrija la fecha y hora del sistema".to_owned(),
            ));
        }
    }
    check_devices(&st, &user, &req).await?;
    let task = tokio::spawn(push_checked(st, user, req, now));
    task.await.map_err(ApiError::internal)?.map(Json)
}

/// The device of a push must be the one the session was issued for, and every op's clock
/// must come from a device of this account: one stolen token cannot speak for another
/// laptop, nor stamp ops as another account's device.
async fn check_devices(st: &AppState, user: &Authed, req: &PushRequest<RawJson>) -> ApiResult<()> {
    let other_device = |d: &str| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "device",
            format!(
                "el dispositivo «{d}» no es el de esta sesión de «{}»; no se guardó ningún cambio del envío: vuelva a vincular el equipo con `icc login`",
                user.username
            ),
        )
    };
    match &user.device {
        Some(dev) if *dev != req.device_id => return Err(other_device(&req.device_id)),
        Some(_) => {}
        // a session from before device ids were issued: its ops must all be its own
        None => {
            if let Some(op) = req.ops.iter().find(|o| o.hlc.device != req.device_id) {
                return Err(other_device(&op.hlc.device));
            }
        }
    }
    let mut devices: Vec<String> = req.ops.iter().map(|o| o.hlc.device.clone()).collect();
    devices.push(req.device_id.clone());
    devices.sort_unstable();
    devices.dedup();
    let owned: HashSet<String> = sqlx::query_scalar(
        "SELECT d.device_id FROM devices d JOIN users u ON u.id = d.user_id \
         WHERE lower(u.username) = lower($1) AND d.device_id = ANY($2)",
    )
    .bind(&user.username)
    .bind(&devices)
    .fetch_all(&st.pool)
    .await?
    .into_iter()
    .collect();
    let foreign: Vec<&String> = devices.iter().filter(|d| !owned.contains(*d)).collect();
    if user.device.is_none() && foreign.iter().all(|d| **d == req.device_id) {
        // the legacy session's own (client-made) id: bound to no one else
        let free: bool =
            sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM devices WHERE device_id = $1)")
                .bind(&req.device_id)
                .fetch_one(&st.pool)
                .await?;
        if free {
            return Ok(());
        }
    }
    match foreign.first() {
        Some(d) => Err(other_device(d)),
        None => Ok(()),
    }
}

/// Refusals collected while checking a push, with the status they call for.
#[derive(Default)]
pub(crate) struct Refusals {
    list: Vec<Refusal>,
    /// A value of the wrong type (400).
    invalid: bool,
    /// A permission or scope (403).
    forbidden: bool,
}

/// Why an op is refused.
pub(crate) enum Why {
    /// Wrong type or shape (400).
    Invalid(String),
    /// Not allowed for this account (403).
    Forbidden(String),
    /// The server does not hold the entity (409).
    Unknown(String),
}

impl Refusals {
    pub(crate) fn add(&mut self, op: &Op<impl Sized>, why: Why, current: Option<FieldValue>) {
        let reason = match why {
            Why::Invalid(m) => {
                self.invalid = true;
                m
            }
            Why::Forbidden(m) => {
                self.forbidden = true;
                m
            }
            Why::Unknown(m) => m,
        };
        self.list.push(Refusal {
            op_id: op.op_id,
            entity: op.entity.clone(),
            entity_id: op.entity_id.clone(),
            field: op.field.clone(),
            reason,
            current,
            unknown_entity: false,
        });
    }

    /// Refuses an edit of an invoice whose document the server does not hold (409): the
    /// laptop sends the document again ahead of it.
    pub(crate) fn add_missing(&mut self, op: &Op<impl Sized>) {
        self.add(
            op,
            Why::Unknown(format!(
                "el servidor no tiene la factura {}: un cambio solo se acepta después de su documento",
                op.entity_id
            )),
            None,
        );
        if let Some(r) = self.list.last_mut() {
            r.unknown_entity = true;
        }
    }

    fn into_error(self) -> ApiError {
        let (status, code) = if self.invalid {
            (StatusCode::BAD_REQUEST, "invalid")
        } else if self.forbidden {
            (StatusCode::FORBIDDEN, "forbidden")
        } else {
            (StatusCode::CONFLICT, "unknown_entity")
        };
        let first = self
            .list
            .first()
            .map(|r| format!("cambio {}: {}", r.op_id, r.reason))
            .unwrap_or_default();
        let mut e = ApiError::new(
            status,
            code,
            format!(
                "el servidor rechazó {} cambio(s); no se guardó ningún cambio del envío. {first}",
                self.list.len()
            ),
        );
        e.refused = self.list;
        e
    }
}

/// Checks and stores a push under the sequence lock (see [`push`]).
async fn push_checked(
    st: AppState,
    user: Authed,
    req: PushRequest<RawJson>,
    now: i64,
) -> ApiResult<PushResponse> {
    let mut refusals = Refusals::default();
    // creations first, set-based (they never contest edits, so order between the two
    // kinds does not change the result); then edits one by one, in order
    // payment records are documents too, but each is checked against the server's current
    // one, in the order they were made, with the edits
    let (docs, edits): (Vec<&Op<RawJson>>, Vec<&Op<RawJson>>) = req
        .ops
        .iter()
        .partition(|o| o.field == DOC_FIELD && !icc_core::records::is_record(&o.entity));
    let mut checked_docs = Vec::with_capacity(docs.len());
    for op in docs {
        match doc_obra(op) {
            Ok(obra) => checked_docs.push((op, obra)),
            Err(m) => refusals.add(op, Why::Invalid(m), None),
        }
    }
    let mut parsed = Vec::with_capacity(edits.len());
    for op in edits {
        match op.parsed() {
            Ok(p) => parsed.push(p),
            Err(e) => refusals.add(op, Why::Invalid(format!("valor mal formado: {e}")), None),
        }
    }

    let mut tx = st.pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SEQ_LOCK)
        .execute(&mut *tx)
        .await?;
    let mut out = PushResponse {
        server_ms: now,
        ..PushResponse::default()
    };
    let (accepted, duplicates) =
        push_docs(&mut tx, &user, &req.device_id, &checked_docs, &mut refusals).await?;
    out.accepted += accepted;
    out.duplicates += duplicates;
    for op in &parsed {
        if op.field == DOC_FIELD {
            match push_record(&mut tx, &user, &req.device_id, op, &mut refusals).await? {
                Pushed::Accepted => out.accepted += 1,
                Pushed::Duplicate => out.duplicates += 1,
                Pushed::Refused => {}
            }
            continue;
        }
        if op.entity == CONFLICT_ENTITY {
            if resolve_op(&mut tx, &user, op, &mut refusals).await? {
                out.accepted += 1;
            } else {
                out.duplicates += 1;
            }
            continue;
        }
        if !check_edit(&mut tx, &user, op, &mut refusals).await? {
            continue;
        }
        let seq: Option<i64> = sqlx::query_scalar(
            "INSERT INTO ops (op_id, entity, entity_id, field, value, hlc, base_hlc, obra, device_id, user_name, source) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (op_id) DO NOTHING RETURNING seq",
        )
        .bind(op.op_id)
        .bind(&op.entity)
        .bind(&op.entity_id)
        .bind(&op.field)
        .bind(&op.value)
        .bind(op.hlc.to_string())
        .bind(op.base_hlc.as_ref().map(ToString::to_string))
        .bind(&op.obra)
        .bind(&req.device_id)
        .bind(&user.username)
        .bind(&op.source)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| unstorable(e, op.op_id))?;
        let Some(seq) = seq else {
            out.duplicates += 1;
            continue;
        };
        out.accepted += 1;
        if merge(&mut tx, op, seq, &user.username).await? {
            out.conflicts += 1;
        }
    }
    if !refusals.list.is_empty() {
        tx.rollback().await?;
        st.metrics
            .add("icc_sync_ops_refused_total", refusals.list.len() as u64);
        tracing::warn!(user = %user.username, device = %req.device_id, refused = refusals.list.len(), "push refused");
        return Err(refusals.into_error());
    }
    tx.commit().await?;
    st.metrics.add("icc_sync_ops_pushed_total", out.accepted);
    st.metrics.add("icc_sync_conflicts_total", out.conflicts);
    tracing::info!(user = %user.username, device = %req.device_id, accepted = out.accepted, duplicates = out.duplicates, conflicts = out.conflicts, "push");
    Ok(out)
}

/// The obra a document says it belongs to, after checking that it is a whole invoice of the
/// id it claims: a document is what every device applies, so one that devices could not read
/// is refused here rather than skipped on every laptop. The document's own word decides the
/// obra, not the op's `obra`.
fn doc_obra(op: &Op<RawJson>) -> Result<Option<String>, String> {
    if op.entity != INVOICE_ENTITY {
        return Err(format!("no se sincronizan documentos de «{}»", op.entity));
    }
    let inv: icc_core::Invoice = serde_json::from_str(op.value.get())
        .map_err(|e| format!("el documento no es una factura válida ({e})"))?;
    if inv.id().to_string() != op.entity_id {
        return Err(format!(
            "el documento es de la factura {} y no de {}",
            inv.key, op.entity_id
        ));
    }
    check_invoice_value(
        "razon_social",
        &serde_json::Value::from(inv.razon_social.as_str()),
    )?;
    if let Some(obra) = &inv.obra {
        check_invoice_value("obra", &serde_json::Value::from(obra.as_str()))?;
        if obra.chars().any(char::is_control) {
            return Err("la obra del documento trae caracteres de control".into());
        }
    }
    Ok(inv.obra)
}

/// A value PostgreSQL refuses to store (a data exception: text with a NUL character, a
/// JSON string with `\u0000`) is the client's mistake, answered with 400 naming the op;
/// anything else is the server's.
pub(crate) fn unstorable(e: sqlx::Error, op_id: uuid::Uuid) -> ApiError {
    if let sqlx::Error::Database(d) = &e
        && d.code().is_some_and(|c| c.starts_with("22"))
    {
        tracing::warn!(error = %d, %op_id, "push refused: unstorable value");
        return ApiError::bad_request(format!(
            "cambio {op_id} mal formado: trae texto que no se puede guardar (por ejemplo el carácter nulo); no se guardó ningún cambio del envío"
        ));
    }
    ApiError::from(e)
}

/// Appends `s` to a `COPY … FROM STDIN` text-format row, escaped.
fn copy_field(row: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut from = 0;
    for (i, b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => continue,
        };
        row.extend_from_slice(&bytes[from..i]);
        row.extend_from_slice(esc);
        from = i + 1;
    }
    row.extend_from_slice(&bytes[from..]);
}

/// Appends one `COPY … FROM STDIN` text-format row (`None` is SQL NULL).
fn copy_row(rows: &mut Vec<u8>, cols: &[Option<&str>]) {
    for (i, col) in cols.iter().enumerate() {
        if i > 0 {
            rows.push(b'\t');
        }
        match col {
            Some(v) => copy_field(rows, v),
            None => rows.extend_from_slice(b"\\N"),
        }
    }
    rows.push(b'\n');
}

/// Runs `COPY … FROM STDIN` with the rows of [`copy_row`].
async fn copy_in(
    tx: &mut Transaction<'_, Postgres>,
    statement: &str,
    rows: Vec<u8>,
) -> sqlx::Result<u64> {
    let mut copy = tx.copy_in_raw(statement).await?;
    copy.send(rows).await?;
    copy.finish().await
}

/// Stores creation ops, whatever their number, in a few round trips: which are already
/// stored (a retried push), what the server knows of their entities, a `COPY` of the new
/// ops into the op log (with sequence numbers taken beforehand, so each entity remembers its
/// newest document's), and the obras of the entities (a `COPY` for new ones). A document is
/// an import: the account must be allowed to import, and a site manager only into its obras.
/// The caller holds the sequence lock, so no other push can store the same op or entity in
/// between.
async fn push_docs(
    tx: &mut Transaction<'_, Postgres>,
    user: &Authed,
    device: &str,
    docs: &[(&Op<RawJson>, Option<String>)],
    refusals: &mut Refusals,
) -> ApiResult<(u64, u64)> {
    if docs.is_empty() {
        return Ok((0, 0));
    }
    let ids: Vec<uuid::Uuid> = docs.iter().map(|(o, _)| o.op_id).collect();
    let stored: HashSet<uuid::Uuid> =
        sqlx::query_scalar("SELECT op_id FROM ops WHERE op_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .collect();
    let mut seen = HashSet::with_capacity(docs.len());
    let fresh: Vec<&(&Op<RawJson>, Option<String>)> = docs
        .iter()
        .filter(|(o, _)| !stored.contains(&o.op_id) && seen.insert(o.op_id))
        .collect();
    if fresh.is_empty() {
        return Ok((0, docs.len() as u64));
    }
    if !user.role.may(Permission::Import) {
        for (op, _) in &fresh {
            refusals.add(
                *op,
                Why::Forbidden(format!(
                    "el rol {} de «{}» no puede {}",
                    user.role.label(),
                    user.username,
                    Permission::Import.label()
                )),
                None,
            );
        }
        return Ok((0, 0));
    }
    // the newest document of each entity in the batch, and what the server knows of them
    let mut newest: HashMap<(&str, &str), (usize, &Hlc, Option<&str>)> = HashMap::new();
    for (i, (op, obra)) in fresh.iter().enumerate() {
        let e = newest
            .entry((op.entity.as_str(), op.entity_id.as_str()))
            .or_insert((i, &op.hlc, obra.as_deref()));
        if op.hlc > *e.1 {
            *e = (i, &op.hlc, obra.as_deref());
        }
    }
    let (entities, entity_ids): (Vec<&str>, Vec<&str>) = newest.keys().copied().unzip();
    let known: HashMap<(String, String), Known> = sqlx::query_as(
        "SELECT e.entity, e.entity_id, e.obra, e.doc_hlc, e.edited FROM entity_obras e \
         JOIN UNNEST($1::text[], $2::text[]) AS k (entity, entity_id) \
           ON e.entity = k.entity AND e.entity_id = k.entity_id",
    )
    .bind(&entities)
    .bind(&entity_ids)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(
        |(e, i, obra, hlc, edited): (String, String, Option<String>, Option<String>, bool)| {
            ((e, i), (obra, hlc, edited))
        },
    )
    .collect();
    if user.scope().is_some() {
        let before = refusals.list.len();
        for (op, doc_obra) in &fresh {
            let current = known
                .get(&(op.entity.clone(), op.entity_id.clone()))
                .map(|(o, _, _)| o.as_deref());
            if !(user.sees(doc_obra.as_deref()) && current.is_none_or(|o| user.sees(o))) {
                refusals.add(
                    *op,
                    Why::Forbidden(format!(
                        "«{}» no puede crear {} {} de la obra {}: no es una de sus obras",
                        user.username,
                        op.entity,
                        op.entity_id,
                        doc_obra.as_deref().unwrap_or("sin asignar")
                    )),
                    None,
                );
            }
        }
        if refusals.list.len() > before {
            return Ok((0, 0));
        }
    }

    // sequence numbers for the new ops, in batch order: one range taken at once (every
    // caller of the sequence holds the lock, so nobody takes a number in between)
    let n = i64::try_from(fresh.len()).unwrap_or(i64::MAX);
    let last: i64 = sqlx::query_scalar(
        "SELECT setval(pg_get_serial_sequence('ops', 'seq'), nextval(pg_get_serial_sequence('ops', 'seq')) + $1 - 1)",
    )
    .bind(n)
    .fetch_one(&mut **tx)
    .await?;
    let seqs: Vec<i64> = (last - n + 1..=last).collect();
    let mut rows = Vec::with_capacity(fresh.iter().map(|(o, _)| o.value.get().len() + 220).sum());
    for ((op, _), seq) in fresh.iter().zip(&seqs) {
        copy_row(
            &mut rows,
            &[
                Some(&seq.to_string()),
                Some(&op.op_id.to_string()),
                Some(&op.entity),
                Some(&op.entity_id),
                Some(DOC_FIELD),
                Some(op.value.get()),
                Some(&op.hlc.to_string()),
                None,
                op.obra.as_deref(),
                Some(device),
                Some(&user.username),
            ],
        );
    }
    copy_in(
        tx,
        "COPY ops (seq, op_id, entity, entity_id, field, value, hlc, base_hlc, obra, device_id, user_name) FROM STDIN",
        rows,
    )
    .await
    .map_err(|e| copy_refused(e, &fresh))?;

    // entities new to the server get their obra from their newest document; a known one
    // only from a document newer than the server's newest, and never over an obra edit
    let mut rows = Vec::new();
    let (mut up_entities, mut up_ids, mut up_obras, mut up_hlcs, mut up_seqs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut moves: Vec<(&str, &str, Option<&str>, Option<&str>)> = Vec::new();
    // the entities this batch brings to the server for the first time
    let mut new_ids: Vec<&str> = Vec::new();
    for ((entity, id), (i, hlc, obra)) in &newest {
        let hlc = hlc.to_string();
        let seq = seqs.get(*i).copied().unwrap_or_default();
        match known.get(&((*entity).to_owned(), (*id).to_owned())) {
            None => {
                new_ids.push(id);
                copy_row(
                    &mut rows,
                    &[
                        Some(entity),
                        Some(id),
                        *obra,
                        Some(&hlc),
                        Some(&seq.to_string()),
                    ],
                )
            }
            // the text form of a clock sorts like the clock
            Some((old, doc_hlc, edited)) if doc_hlc.as_deref().is_none_or(|d| d < hlc.as_str()) => {
                if !*edited && !same_obra(old.as_deref(), *obra) {
                    moves.push((entity, id, old.as_deref(), *obra));
                }
                up_entities.push(*entity);
                up_ids.push(*id);
                up_obras.push(*obra);
                up_hlcs.push(hlc);
                up_seqs.push(seq);
            }
            Some(_) => {}
        }
    }
    if !rows.is_empty() {
        copy_in(
            tx,
            "COPY entity_obras (entity, entity_id, obra, doc_hlc, doc_seq) FROM STDIN",
            rows,
        )
        .await?;
        // records that came before their invoice (a cesión) take its obra now: only those
        // of invoices new here (a known invoice's records follow it only when its own obra
        // changes, through `record_move`)
        let waiting: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT parent FROM entity_obras WHERE parent = ANY($1)")
                .bind(&new_ids)
                .fetch_all(&mut **tx)
                .await?;
        for parent in waiting {
            let obra = newest
                .get(&(INVOICE_ENTITY, parent.as_str()))
                .and_then(|(_, _, o)| *o);
            crate::records::move_children(tx, &parent, obra).await?;
        }
    }
    if !up_ids.is_empty() {
        sqlx::query(
            "UPDATE entity_obras e SET doc_hlc = k.doc_hlc, doc_seq = k.doc_seq, \
                 obra = CASE WHEN e.edited THEN e.obra ELSE k.obra END \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) AS k (entity, entity_id, obra, doc_hlc, doc_seq) \
             WHERE e.entity = k.entity AND e.entity_id = k.entity_id",
        )
        .bind(&up_entities)
        .bind(&up_ids)
        .bind(&up_obras)
        .bind(&up_hlcs)
        .bind(&up_seqs)
        .execute(&mut **tx)
        .await?;
    }
    for (entity, id, old, new) in moves {
        record_move(tx, entity, id, old, new).await?;
    }
    Ok((fresh.len() as u64, (docs.len() - fresh.len()) as u64))
}

/// What the server knows of an entity a document is pushed for: its obra, the clock of its
/// newest document, whether an edit set its obra.
type Known = (Option<String>, Option<String>, bool);

/// Whether two obra codes are the same obra (codes compare without case).
pub(crate) fn same_obra(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

/// Records that an entity moved from one obra to another, in the pull stream's sequence:
/// accounts that gain it get its whole state, accounts that lose it a removal.
pub(crate) async fn record_move(
    tx: &mut Transaction<'_, Postgres>,
    entity: &str,
    id: &str,
    old: Option<&str>,
    new: Option<&str>,
) -> sqlx::Result<()> {
    insert_move(tx, entity, id, old, new).await?;
    if entity == INVOICE_ENTITY {
        // its payments and cesiones go where it goes
        crate::records::move_children(tx, id, new).await?;
    }
    // and so do its conflicts: who may see and resolve one is decided by the obra it is
    // in now; an open one is sent again (a new sequence number, after the move) so the
    // accounts that gain the entity get it
    sqlx::query(
        "UPDATE conflicts SET obra = $3, \
             seq = CASE WHEN resolved_at IS NULL THEN nextval(pg_get_serial_sequence('ops', 'seq')) ELSE seq END \
         WHERE entity = $1 AND entity_id = $2",
    )
    .bind(entity)
    .bind(id)
    .bind(new)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records one entity's move (see [`record_move`]).
pub(crate) async fn insert_move(
    tx: &mut Transaction<'_, Postgres>,
    entity: &str,
    id: &str,
    old: Option<&str>,
    new: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO scope_moves (seq, entity, entity_id, old_obra, new_obra) \
         VALUES (nextval(pg_get_serial_sequence('ops', 'seq')), $1, $2, $3, $4)",
    )
    .bind(entity)
    .bind(id)
    .bind(old)
    .bind(new)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A refused `COPY`: a data exception names the op of the line PostgreSQL reports.
fn copy_refused(e: sqlx::Error, fresh: &[&(&Op<RawJson>, Option<String>)]) -> ApiError {
    let line = match &e {
        sqlx::Error::Database(d) => d
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .and_then(|p| p.r#where())
            // "JSON data, line 1: …" may come first; the COPY's own line is the row
            .and_then(|w| w.lines().find_map(|l| l.strip_prefix("COPY ops, line ")))
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<usize>().ok()),
        _ => None,
    };
    let op_id = line
        .and_then(|n| fresh.get(n.wrapping_sub(1)))
        .map_or(uuid::Uuid::nil(), |(o, _)| o.op_id);
    unstorable(e, op_id)
}

/// The obra an entity belongs to now (server's view), if it is known.
async fn current_obra(
    tx: &mut Transaction<'_, Postgres>,
    entity: &str,
    id: &str,
) -> sqlx::Result<Option<Option<String>>> {
    sqlx::query_scalar("SELECT obra FROM entity_obras WHERE entity = $1 AND entity_id = $2")
        .bind(entity)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// Checks one edit against what the server holds: a known entity, a value of the field's
/// type, the account's role (or, for a change a source system made, the permission to run
/// that source), its obras and, for a status that would win, the status machine from the
/// server's current status. Returns whether the edit may be stored; a refusal is recorded.
async fn check_edit(
    tx: &mut Transaction<'_, Postgres>,
    user: &Authed,
    op: &Op,
    refusals: &mut Refusals,
) -> ApiResult<bool> {
    if op.entity != INVOICE_ENTITY {
        refusals.add(
            op,
            Why::Invalid(format!("no se sincronizan cambios de «{}»", op.entity)),
            None,
        );
        return Ok(false);
    }
    if let Err(m) = check_invoice_value(&op.field, &op.value) {
        refusals.add(op, Why::Invalid(m), None);
        return Ok(false);
    }
    let held: Option<(Option<String>, Option<i64>)> = sqlx::query_as(
        "SELECT obra, doc_seq FROM entity_obras WHERE entity = $1 AND entity_id = $2 AND doc_hlc IS NOT NULL",
    )
    .bind(&op.entity)
    .bind(&op.entity_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((obra, doc_seq)) = held else {
        refusals.add_missing(op);
        return Ok(false);
    };
    // the server's value of the field is read only where it is needed: for the status
    // machine, and to send back with a refusal (most edits are neither)
    let current = if op.field == "estado" {
        current_value(tx, op, doc_seq).await?
    } else {
        None
    };
    let Some(why) = edit_refusal(user, op, obra.as_deref(), current.as_ref()) else {
        return Ok(true);
    };
    // the server's value goes back only to an account that sees the invoice: a refusal
    // must not read out invoices of other obras
    let current = if !user.sees(obra.as_deref()) {
        None
    } else if current.is_some() {
        current
    } else {
        current_value(tx, op, doc_seq).await?
    };
    refusals.add(op, why, current);
    Ok(false)
}

/// Why the account may not make an edit of an entity the server holds in `obra`, whose
/// field's server value is `current` (read for `estado` only); `None` when it may.
fn edit_refusal(
    user: &Authed,
    op: &Op,
    obra: Option<&str>,
    current: Option<&FieldValue>,
) -> Option<Why> {
    let needed = match op.source.as_deref() {
        Some(src) if SOURCES.contains(&src) => Permission::Import,
        Some(src) => return Some(Why::Invalid(format!("origen desconocido «{src}»"))),
        // a checked value: a status field holds a status
        None => Permission::for_invoice_field(&op.field, &op.value).unwrap_or(Permission::Import),
    };
    if !user.role.may(needed) {
        return Some(Why::Forbidden(format!(
            "el rol {} de «{}» no puede {}",
            user.role.label(),
            user.username,
            needed.label()
        )));
    }
    if !user.sees(obra) {
        // without naming the obra: the account may not know what it holds
        return Some(Why::Forbidden(format!(
            "«{}» no puede cambiar la factura {}: no es de una de sus obras",
            user.username, op.entity_id
        )));
    }
    if op.field == "obra" && !user.sees(op.value.as_str()) {
        return Some(Why::Forbidden(format!(
            "«{}» solo puede asignar facturas a sus obras, no a {}",
            user.username,
            op.value.as_str().unwrap_or("sin obra")
        )));
    }
    let status = |v: &serde_json::Value| v.as_str().and_then(|v| v.parse::<InvoiceStatus>().ok());
    if op.field == "estado"
        && let Some(cur) = current
        && op.hlc > cur.hlc
        && let (Some(from), Some(to)) = (status(&cur.value), status(&op.value))
        && from != to
        && !from.can_become(to)
    {
        return Some(Why::Forbidden(format!(
            "en el servidor la factura está «{}» y no puede pasar a «{}»",
            from.label(),
            to.label()
        )));
    }
    None
}

/// The server's value of the op's field: its winning edit, else its newest document's.
async fn current_value(
    tx: &mut Transaction<'_, Postgres>,
    op: &Op,
    doc_seq: Option<i64>,
) -> ApiResult<Option<FieldValue>> {
    let edited: Option<(serde_json::Value, String)> = sqlx::query_as(
        "SELECT value, hlc FROM fields WHERE entity = $1 AND entity_id = $2 AND field = $3",
    )
    .bind(&op.entity)
    .bind(&op.entity_id)
    .bind(&op.field)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((value, hlc)) = edited {
        return Ok(Some(FieldValue {
            value,
            hlc: parse_hlc(&hlc)?,
            edited: true,
        }));
    }
    let Some(seq) = doc_seq else {
        return Ok(None);
    };
    let doc: Option<(serde_json::Value, String)> =
        sqlx::query_as("SELECT value, hlc FROM ops WHERE seq = $1")
            .bind(seq)
            .fetch_optional(&mut **tx)
            .await?;
    doc.map(|(doc, hlc)| {
        Ok(FieldValue {
            value: invoice_doc_field(&doc, &op.field),
            hlc: parse_hlc(&hlc)?,
            edited: false,
        })
    })
    .transpose()
}

/// A conflict resolution pushed as an op (entity `conflict`, its id): marks the conflict
/// resolved by this account, once. Returns whether it was open.
async fn resolve_op(
    tx: &mut Transaction<'_, Postgres>,
    user: &Authed,
    op: &Op,
    refusals: &mut Refusals,
) -> ApiResult<bool> {
    let Ok(id) = op.entity_id.parse::<i64>() else {
        refusals.add(
            op,
            Why::Invalid(format!("«{}» no es un conflicto", op.entity_id)),
            None,
        );
        return Ok(false);
    };
    let obra: Option<Option<String>> =
        sqlx::query_scalar("SELECT obra FROM conflicts WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    match obra {
        Some(o) if user.sees(o.as_deref()) => {}
        _ => {
            refusals.add(
                op,
                Why::Unknown(format!("el conflicto {id} no existe o no es de sus obras")),
                None,
            );
            return Ok(false);
        }
    }
    let r = sqlx::query(
        "UPDATE conflicts SET resolved_by = $2, resolved_at = now(), seq = nextval(pg_get_serial_sequence('ops', 'seq')) \
         WHERE id = $1 AND resolved_at IS NULL",
    )
    .bind(id)
    .bind(&user.username)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// The field of creation ops: the value is the whole document.
pub const DOC_FIELD: &str = "_doc";

/// Applies an op per field (last writer by HLC wins) and records a conflict when the author
/// had not seen the current value and the values differ. Returns whether a conflict was
/// recorded.
async fn merge(
    tx: &mut Transaction<'_, Postgres>,
    op: &Op,
    seq: i64,
    user: &str,
) -> sqlx::Result<bool> {
    let cur: Option<(serde_json::Value, String, String)> = sqlx::query_as(
        "SELECT f.value, f.hlc, o.user_name FROM fields f JOIN ops o ON o.seq = f.op_seq \
         WHERE f.entity = $1 AND f.entity_id = $2 AND f.field = $3 FOR UPDATE OF f",
    )
    .bind(&op.entity)
    .bind(&op.entity_id)
    .bind(&op.field)
    .fetch_optional(&mut **tx)
    .await?;
    let hlc = op.hlc.to_string();
    let wins = cur.as_ref().is_none_or(|(_, h, _)| hlc > *h);
    if wins {
        sqlx::query(
            "INSERT INTO fields (entity, entity_id, field, value, hlc, op_seq) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (entity, entity_id, field) DO UPDATE SET value = EXCLUDED.value, hlc = EXCLUDED.hlc, op_seq = EXCLUDED.op_seq",
        )
        .bind(&op.entity)
        .bind(&op.entity_id)
        .bind(&op.field)
        .bind(&op.value)
        .bind(&hlc)
        .bind(seq)
        .execute(&mut **tx)
        .await?;
        let obra = if op.field == "obra" {
            Some(op.value.as_str().map(str::to_owned))
        } else {
            None
        };
        if let Some(new) = &obra {
            let old = current_obra(tx, &op.entity, &op.entity_id).await?.flatten();
            if !same_obra(old.as_deref(), new.as_deref()) {
                record_move(
                    tx,
                    &op.entity,
                    &op.entity_id,
                    old.as_deref(),
                    new.as_deref(),
                )
                .await?;
            }
        }
        sqlx::query(
            "INSERT INTO entity_obras (entity, entity_id, obra, edited) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (entity, entity_id) DO UPDATE SET obra = CASE WHEN $4 THEN EXCLUDED.obra ELSE entity_obras.obra END, \
                 edited = entity_obras.edited OR $4",
        )
        .bind(&op.entity)
        .bind(&op.entity_id)
        .bind(obra.clone().unwrap_or_else(|| op.obra.clone()))
        .bind(obra.is_some())
        .execute(&mut **tx)
        .await?;
    }
    let Some((cur_value, cur_hlc, cur_user)) = cur else {
        return Ok(false);
    };
    let saw_current = op.base_hlc.as_ref().map(ToString::to_string) == Some(cur_hlc.clone());
    if saw_current || cur_value == op.value {
        return Ok(false);
    }
    let (winner_value, winner_hlc, loser_value, loser_hlc, loser_user) = if wins {
        (&op.value, hlc.clone(), &cur_value, cur_hlc, cur_user)
    } else {
        (&cur_value, cur_hlc, &op.value, hlc.clone(), user.to_owned())
    };
    let obra: Option<String> = current_obra(tx, &op.entity, &op.entity_id).await?.flatten();
    sqlx::query(
        "INSERT INTO conflicts (seq, entity, entity_id, field, winner_value, winner_hlc, loser_value, loser_hlc, loser_user, obra) \
         VALUES (nextval(pg_get_serial_sequence('ops', 'seq')), $1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&op.entity)
    .bind(&op.entity_id)
    .bind(&op.field)
    .bind(winner_value)
    .bind(winner_hlc)
    .bind(loser_value)
    .bind(loser_hlc)
    .bind(loser_user)
    .bind(obra)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// `GET /api/v1/sync/pull` query.
#[derive(Debug, Deserialize)]
pub struct PullQuery {
    /// Last sequence number the device has.
    #[serde(default)]
    pub cursor: i64,
    /// Page size (default 1000, at most 5000).
    pub limit: Option<i64>,
    /// The pulling device, for sessions from before the server issued device ids: its own
    /// ops are already applied there and are not sent back (the cursor still moves past
    /// them). A session's own device id takes precedence.
    pub device: Option<String>,
    /// The obras the device holds, as the last pull told it (`*`: all; comma-separated
    /// codes otherwise; absent: unknown, an older client). When the account now sees more,
    /// the pull starts again from the beginning for it.
    pub scope: Option<String>,
    /// Whether the device holds the treasury, as the last pull told it (absent: unknown).
    /// When the account now sees it and the device does not hold it, the pull starts again
    /// from the beginning for it.
    pub treasury: Option<bool>,
}

/// An op's columns; the value as PostgreSQL's text of it, sent as is (decoding each stored
/// `jsonb` into a tree and encoding it again was most of what the server spent on a page).
const OP_COLUMNS: &str = "o.seq, o.op_id, o.entity, o.entity_id, o.field, o.value::text, o.hlc, o.base_hlc, o.obra, o.device_id, o.user_name, o.source";

type OpRow = (
    i64,
    uuid::Uuid,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    Option<String>,
);
type ConflictRow = (
    i64,
    i64,
    String,
    String,
    String,
    serde_json::Value,
    String,
    serde_json::Value,
    String,
    String,
    Option<String>,
    Option<String>,
);

pub(crate) fn parse_hlc(s: &str) -> ApiResult<Hlc> {
    s.parse()
        .map_err(|e| ApiError::internal(format!("stored hlc «{s}»: {e}")))
}

/// Whether the account's scope `now` (`None`: all obras) holds an obra the device's `held`
/// scope (`None`: all) did not.
fn widened(held: Option<&[String]>, now: Option<&[String]>) -> bool {
    match (held, now) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(h), Some(n)) => n
            .iter()
            .any(|o| !h.iter().any(|x| x.eq_ignore_ascii_case(o))),
    }
}

/// `GET /api/v1/sync/pull?cursor=N&limit=M&scope=S`: ops and conflicts after the cursor, of
/// the entities the account may see. For a site manager, an entity that entered its obras
/// in the page's range comes whole (its newest document and every field's winning edit,
/// whatever their sequence), and one that left them comes as a removal; when the account
/// sees obras the device did not hold, or the treasury the device did not hold, the pull
/// starts again from the beginning.
///
/// # Errors
/// 426 old client, database errors.
pub async fn pull(
    State(st): State<AppState>,
    user: Authed,
    headers: HeaderMap,
    Query(q): Query<PullQuery>,
) -> ApiResult<Json<PullResponse<RawJson>>> {
    check_protocol(&headers)?;
    let limit = q.limit.unwrap_or(1000).clamp(1, MAX_PULL);
    let scope: Option<Vec<String>> = user
        .scope()
        .map(|s| s.iter().map(|o| o.to_uppercase()).collect());
    let held: Option<Option<Vec<String>>> = q.scope.as_deref().map(|s| {
        (s.trim() != "*").then(|| {
            s.split(',')
                .map(|o| o.trim().to_uppercase())
                .filter(|o| !o.is_empty())
                .collect()
        })
    });
    let treasury = user.role.may(icc_core::Permission::Treasury);
    let cursor = match &held {
        Some(h) if widened(h.as_deref(), scope.as_deref()) => 0,
        _ if q.treasury == Some(false) && treasury => 0,
        _ => q.cursor,
    };
    let device = user.device.clone().or(q.device);
    let mut tx = st.pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let horizon: i64 = sqlx::query_scalar(
        "SELECT GREATEST(COALESCE((SELECT MAX(seq) FROM ops), 0), COALESCE((SELECT MAX(seq) FROM conflicts), 0), \
                COALESCE((SELECT MAX(seq) FROM scope_moves), 0))",
    )
    .fetch_one(&mut *tx)
    .await?;
    // Two statements, not one with `$3 IS NULL OR …`: with the join and the optional filter
    // in one prepared statement PostgreSQL's generic plan joined and sorted every op after
    // the cursor for each page (a first pull of 100k invoices read the op log 50 times);
    // without them a page is a walk of the primary key that stops at the limit.
    // The catalogue of budget lines reaches every account (a site manager's budgets are
    // made of its lines); the treasury only accounts that may see it.
    let scope_join = if scope.is_some() {
        "JOIN entity_obras e ON e.entity = o.entity AND e.entity_id = o.entity_id \
         AND (upper(e.obra) = ANY($6) OR e.entity = 'budget_line')"
    } else {
        ""
    };
    let hidden: Vec<String> = if treasury {
        Vec::new()
    } else {
        TREASURY_ENTITIES.iter().map(|e| (*e).to_owned()).collect()
    };
    let mut q = sqlx::query_as::<_, OpRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {OP_COLUMNS} FROM ops o {scope_join} \
         WHERE o.seq > $1 AND o.seq <= $2 AND ($4::text IS NULL OR o.device_id <> $4) \
           AND o.entity <> ALL($5::text[]) \
         ORDER BY o.seq LIMIT $3"
    )))
    .bind(cursor)
    .bind(horizon)
    .bind(limit)
    .bind(device.as_deref())
    .bind(hidden);
    if let Some(scope) = &scope {
        q = q.bind(scope.clone());
    }
    // A page must be a walk of the primary key that stops at the limit. Right after a large
    // load, before autovacuum has analysed the op log, PostgreSQL guesses that few ops
    // follow the cursor and plans a bitmap scan of all of them, each value turned into text,
    // then a sort (on disk): a page cost as much as every op after it (a new laptop's first
    // pull of 30k invoices spent 190 ms on its first page instead of 5 ms). The walk is
    // the right plan whatever the statistics say, so the other plans are off for this
    // statement.
    walk_plans_only(&mut tx, true).await?;
    let rows: Vec<OpRow> = q.fetch_all(&mut *tx).await?;
    walk_plans_only(&mut tx, false).await?;
    let more = rows.len() as i64 == limit;
    let upto = if more {
        rows.last().map_or(horizon, |r| r.0)
    } else {
        horizon
    };
    let (snapshot, removed) = match &scope {
        Some(scope) => scope_changes(&mut tx, scope, cursor, upto).await?,
        None => (Vec::new(), Vec::new()),
    };
    let conflicts: Vec<ConflictRow> = sqlx::query_as(
        "SELECT id, seq, entity, entity_id, field, winner_value, winner_hlc, loser_value, loser_hlc, loser_user, resolved_by, obra \
         FROM conflicts WHERE seq > $1 AND seq <= $2 AND ($3::text[] IS NULL OR upper(obra) = ANY($3)) ORDER BY seq",
    )
    .bind(cursor)
    .bind(upto)
    .bind(scope.clone())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut ops = Vec::with_capacity(snapshot.len() + rows.len());
    for (
        seq,
        op_id,
        entity,
        entity_id,
        field,
        value,
        hlc,
        base,
        obra,
        device_id,
        user_name,
        source,
    ) in snapshot.into_iter().chain(rows)
    {
        let value = serde_json::value::RawValue::from_string(value)
            .map_err(|e| ApiError::internal(format!("stored value of op {seq}: {e}")))?;
        ops.push(ServerOp {
            seq,
            op: Op {
                op_id,
                entity,
                entity_id,
                field,
                value,
                hlc: parse_hlc(&hlc)?,
                base_hlc: base.as_deref().map(parse_hlc).transpose()?,
                obra,
                source,
            },
            user: user_name,
            device_id,
        });
    }
    let mut out_conflicts = Vec::with_capacity(conflicts.len());
    for (id, seq, entity, entity_id, field, wv, wh, lv, lh, lu, resolved_by, obra) in conflicts {
        out_conflicts.push(Conflict {
            id,
            seq,
            entity,
            entity_id,
            field,
            winner_value: wv,
            winner_hlc: parse_hlc(&wh)?,
            loser_value: lv,
            loser_hlc: parse_hlc(&lh)?,
            loser_user: lu,
            resolved_by,
            obra,
        });
    }
    st.metrics
        .add("icc_sync_ops_pulled_total", ops.len() as u64);
    Ok(Json(PullResponse {
        ops,
        conflicts: out_conflicts,
        next_cursor: upto.max(cursor),
        more,
        removed,
        scope,
        treasury: Some(treasury),
        role: Some(user.role.as_str().to_owned()),
        server_ms: now_ms(),
        remaining: Some(if more { horizon - upto } else { 0 }),
    }))
}

/// Turns bitmap scans and sorts off (`only`) or back on for the rest of the transaction,
/// in one round trip (see `pull`).
async fn walk_plans_only(tx: &mut Transaction<'_, Postgres>, only: bool) -> ApiResult<()> {
    let on = if only { "off" } else { "on" };
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET LOCAL enable_bitmapscan = {on}; SET LOCAL enable_sort = {on}"
    )))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What moved in or out of a site manager's obras in `(cursor, upto]`: the whole state of
/// each entity that entered (its newest document and its fields' winning edits up to the
/// cursor; later ones are in the page itself), and a removal for each that left.
async fn scope_changes(
    tx: &mut Transaction<'_, Postgres>,
    scope: &[String],
    cursor: i64,
    upto: i64,
) -> ApiResult<(Vec<OpRow>, Vec<Removal>)> {
    let entered: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT m.entity, m.entity_id FROM scope_moves m \
         JOIN entity_obras e ON e.entity = m.entity AND e.entity_id = m.entity_id \
         WHERE m.seq > $1 AND m.seq <= $2 AND upper(m.new_obra) = ANY($3) \
           AND (m.old_obra IS NULL OR NOT upper(m.old_obra) = ANY($3)) AND upper(e.obra) = ANY($3)",
    )
    .bind(cursor)
    .bind(upto)
    .bind(scope)
    .fetch_all(&mut **tx)
    .await?;
    let snapshot: Vec<OpRow> = if entered.is_empty() {
        Vec::new()
    } else {
        let (entities, ids): (Vec<String>, Vec<String>) = entered.into_iter().unzip();
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "WITH k AS (SELECT * FROM UNNEST($1::text[], $2::text[]) AS k (entity, entity_id)) \
             SELECT {OP_COLUMNS} FROM ops o WHERE o.seq <= $3 AND o.seq IN ( \
                 SELECT e.doc_seq FROM entity_obras e JOIN k ON e.entity = k.entity AND e.entity_id = k.entity_id \
                 UNION ALL \
                 SELECT f.op_seq FROM fields f JOIN k ON f.entity = k.entity AND f.entity_id = k.entity_id) \
             ORDER BY o.seq"
        )))
        .bind(&entities)
        .bind(&ids)
        .bind(cursor)
        .fetch_all(&mut **tx)
        .await?
    };
    let removed: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT DISTINCT m.entity, m.entity_id, e.obra FROM scope_moves m \
         JOIN entity_obras e ON e.entity = m.entity AND e.entity_id = m.entity_id \
         WHERE m.seq > $1 AND m.seq <= $2 AND upper(m.old_obra) = ANY($3) \
           AND (e.obra IS NULL OR NOT upper(e.obra) = ANY($3))",
    )
    .bind(cursor)
    .bind(upto)
    .bind(scope)
    .fetch_all(&mut **tx)
    .await?;
    Ok((
        snapshot,
        removed
            .into_iter()
            .map(|(entity, entity_id, obra)| Removal {
                entity,
                entity_id,
                obra,
            })
            .collect(),
    ))
}

/// `POST /api/v1/conflicts/{id}/resolve`: marks a conflict resolved (the client pushes the
/// value it keeps as a normal op first). Devices pull the resolution like any change.
///
/// # Errors
/// 404 unknown or not visible, 426 old client.
pub async fn resolve(
    State(st): State<AppState>,
    user: Authed,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    check_protocol(&headers)?;
    let mut tx = st.pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SEQ_LOCK)
        .execute(&mut *tx)
        .await?;
    let obra: Option<Option<String>> =
        sqlx::query_scalar("SELECT obra FROM conflicts WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    match obra {
        Some(o) if user.sees(o.as_deref()) => {}
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("el conflicto {id} no existe"),
            ));
        }
    }
    sqlx::query(
        "UPDATE conflicts SET resolved_by = $2, resolved_at = now(), seq = nextval(pg_get_serial_sequence('ops', 'seq')) \
         WHERE id = $1 AND resolved_at IS NULL",
    )
    .bind(id)
    .bind(&user.username)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
