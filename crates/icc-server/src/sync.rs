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

use icc_core::sync::{
    Conflict, Hlc, MAX_CLOCK_SKEW_MS, MAX_PUSH_OPS, Op, PROTOCOL_HEADER, PROTOCOL_VERSION,
    PullResponse, PushRequest, PushResponse, RawJson, ServerOp,
};
use serde::Deserialize;
use sqlx::{Postgres, Transaction};

use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};

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
/// sent it, without being parsed into a tree here (PostgreSQL checks it as `jsonb`).
///
/// # Errors
/// 426 old client, 400 skewed clock or malformed ops, 413 too many ops, 403 an obra the user
/// may not touch (nothing of the batch is stored).
pub async fn push(
    State(st): State<AppState>,
    user: Authed,
    headers: HeaderMap,
    Json(req): Json<PushRequest<RawJson>>,
) -> ApiResult<Json<PushResponse>> {
    check_protocol(&headers)?;
    let now = now_ms();
    let skew = (req.sent_at_ms - now).abs();
    if skew > MAX_CLOCK_SKEW_MS {
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
        if op.hlc.device != req.device_id {
            return Err(ApiError::bad_request(format!(
                "cambio {}: su reloj es de otro dispositivo ({})",
                op.op_id, op.hlc.device
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
    // creations first, set-based (they never contest edits, so order between the two
    // kinds does not change the result); then edits one by one, in order
    let (docs, edits): (Vec<&Op<RawJson>>, Vec<&Op<RawJson>>) =
        req.ops.iter().partition(|o| o.field == DOC_FIELD);
    let docs = docs
        .into_iter()
        .map(|op| Ok((op, doc_obra(op)?)))
        .collect::<ApiResult<Vec<_>>>()?;
    let edits = edits
        .into_iter()
        .map(|op| {
            op.parsed()
                .map_err(|e| ApiError::bad_request(format!("cambio {} mal formado: {e}", op.op_id)))
        })
        .collect::<ApiResult<Vec<Op>>>()?;

    let mut tx = st.pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SEQ_LOCK)
        .execute(&mut *tx)
        .await?;
    let mut out = PushResponse {
        server_ms: now,
        ..PushResponse::default()
    };
    let (accepted, duplicates) = push_docs(&mut tx, &user, &req.device_id, &docs).await?;
    out.accepted += accepted;
    out.duplicates += duplicates;
    for op in &edits {
        authorize(&mut tx, &user, op).await?;
        let seq: Option<i64> = sqlx::query_scalar(
            "INSERT INTO ops (op_id, entity, entity_id, field, value, hlc, base_hlc, obra, device_id, user_name) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (op_id) DO NOTHING RETURNING seq",
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
    tx.commit().await?;
    st.metrics.add("icc_sync_ops_pushed_total", out.accepted);
    st.metrics.add("icc_sync_conflicts_total", out.conflicts);
    tracing::info!(user = %user.username, device = %req.device_id, accepted = out.accepted, duplicates = out.duplicates, conflicts = out.conflicts, "push");
    Ok(Json(out))
}

/// The obra a document says it belongs to (its `obra` member; `null` or absent: none). The
/// document's own word decides, not the op's `obra`, because the document is what devices
/// apply.
fn doc_obra(op: &Op<RawJson>) -> ApiResult<Option<String>> {
    #[derive(Deserialize)]
    struct Head {
        #[serde(default)]
        obra: Option<String>,
    }
    let head = serde_json::from_str::<Head>(op.value.get()).map_err(|e| {
            ApiError::bad_request(format!(
                "cambio {} mal formado: el documento debe ser un objeto JSON con «obra» texto o null ({e}); no se guardó ningún cambio del envío",
                op.op_id
            ))
    })?;
    if head
        .obra
        .as_deref()
        .is_some_and(|o| o.chars().any(char::is_control))
    {
        return Err(ApiError::bad_request(format!(
            "cambio {}: la obra del documento trae caracteres de control; no se guardó ningún cambio del envío",
            op.op_id
        )));
    }
    Ok(head.obra)
}

/// A value PostgreSQL refuses to store (a data exception: text with a NUL character, a
/// JSON string with `\u0000`) is the client's mistake, answered with 400 naming the op;
/// anything else is the server's.
fn unstorable(e: sqlx::Error, op_id: uuid::Uuid) -> ApiError {
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
/// ops into the op log, and the obras of the entities (a `COPY` for new ones). The caller
/// holds the sequence lock, so no other push can store the same op or entity in between.
async fn push_docs(
    tx: &mut Transaction<'_, Postgres>,
    user: &Authed,
    device: &str,
    docs: &[(&Op<RawJson>, Option<String>)],
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
    // the newest document of each entity in the batch, and what the server knows of them
    let mut newest: HashMap<(&str, &str), (&Hlc, Option<&str>)> = HashMap::new();
    for (op, obra) in &fresh {
        let e = newest
            .entry((op.entity.as_str(), op.entity_id.as_str()))
            .or_insert((&op.hlc, obra.as_deref()));
        if op.hlc > *e.0 {
            *e = (&op.hlc, obra.as_deref());
        }
    }
    let (entities, entity_ids): (Vec<&str>, Vec<&str>) = newest.keys().copied().unzip();
    let known: HashMap<(String, String), (Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT e.entity, e.entity_id, e.obra, e.doc_hlc FROM entity_obras e \
         JOIN UNNEST($1::text[], $2::text[]) AS k (entity, entity_id) \
           ON e.entity = k.entity AND e.entity_id = k.entity_id",
    )
    .bind(&entities)
    .bind(&entity_ids)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(
        |(e, i, obra, hlc): (String, String, Option<String>, Option<String>)| ((e, i), (obra, hlc)),
    )
    .collect();
    if user.scope().is_some() {
        for (op, doc_obra) in &fresh {
            let current = known
                .get(&(op.entity.clone(), op.entity_id.clone()))
                .map(|(o, _)| o.as_deref());
            if !(user.sees(doc_obra.as_deref()) && current.is_none_or(|o| user.sees(o))) {
                return Err(ApiError::forbidden(format!(
                    "«{}» no puede crear {} {} de la obra {}: no es una de sus obras; no se guardó ningún cambio del envío",
                    user.username,
                    op.entity,
                    op.entity_id,
                    doc_obra.as_deref().unwrap_or("sin asignar")
                )));
            }
        }
    }

    let mut rows = Vec::with_capacity(fresh.iter().map(|(o, _)| o.value.get().len() + 200).sum());
    for (op, _) in &fresh {
        copy_row(
            &mut rows,
            &[
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
        "COPY ops (op_id, entity, entity_id, field, value, hlc, base_hlc, obra, device_id, user_name) FROM STDIN",
        rows,
    )
    .await
    .map_err(|e| copy_refused(e, &fresh))?;

    // entities new to the server get their obra from their newest document; a known one
    // only from a document newer than the server's newest, and never over an obra edit
    let mut rows = Vec::new();
    let (mut up_entities, mut up_ids, mut up_obras, mut up_hlcs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((entity, id), (hlc, obra)) in &newest {
        let hlc = hlc.to_string();
        match known.get(&((*entity).to_owned(), (*id).to_owned())) {
            None => copy_row(&mut rows, &[Some(entity), Some(id), *obra, Some(&hlc)]),
            // the text form of a clock sorts like the clock
            Some((_, doc_hlc)) if doc_hlc.as_deref().is_none_or(|d| d < hlc.as_str()) => {
                up_entities.push(*entity);
                up_ids.push(*id);
                up_obras.push(*obra);
                up_hlcs.push(hlc);
            }
            Some(_) => {}
        }
    }
    if !rows.is_empty() {
        copy_in(
            tx,
            "COPY entity_obras (entity, entity_id, obra, doc_hlc) FROM STDIN",
            rows,
        )
        .await?;
    }
    if !up_ids.is_empty() {
        sqlx::query(
            "UPDATE entity_obras e SET doc_hlc = k.doc_hlc, \
                 obra = CASE WHEN e.edited THEN e.obra ELSE k.obra END \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) AS k (entity, entity_id, obra, doc_hlc) \
             WHERE e.entity = k.entity AND e.entity_id = k.entity_id",
        )
        .bind(&up_entities)
        .bind(&up_ids)
        .bind(&up_obras)
        .bind(&up_hlcs)
        .execute(&mut **tx)
        .await?;
    }
    Ok((fresh.len() as u64, (docs.len() - fresh.len()) as u64))
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

/// A site manager may only touch entities of their obras, and may only move one to
/// another of their obras.
async fn authorize(tx: &mut Transaction<'_, Postgres>, user: &Authed, op: &Op) -> ApiResult<()> {
    if user.scope().is_none() {
        return Ok(());
    }
    let known = current_obra(tx, &op.entity, &op.entity_id).await?;
    let obra = match &known {
        Some(o) => o.clone(),
        None => op.obra.clone(),
    };
    let mut allowed = user.sees(obra.as_deref());
    if op.field == "obra" {
        allowed &= user.sees(op.value.as_str());
    }

    if allowed {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "«{}» no puede cambiar {} {} de la obra {}: no es una de sus obras; no se guardó ningún cambio del envío",
            user.username,
            op.entity,
            op.entity_id,
            obra.unwrap_or_else(|| "sin asignar".into())
        )))
    }
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
    /// The pulling device: its own ops are already applied there and are not sent back
    /// (the cursor still moves past them).
    pub device: Option<String>,
}

type OpRow = (
    i64,
    uuid::Uuid,
    String,
    String,
    String,
    serde_json::Value,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
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

fn parse_hlc(s: &str) -> ApiResult<Hlc> {
    s.parse()
        .map_err(|e| ApiError::internal(format!("stored hlc «{s}»: {e}")))
}

/// `GET /api/v1/sync/pull?cursor=N&limit=M`: ops and conflicts after the cursor, of the
/// entities the user may see.
///
/// # Errors
/// 426 old client, database errors.
pub async fn pull(
    State(st): State<AppState>,
    user: Authed,
    headers: HeaderMap,
    Query(q): Query<PullQuery>,
) -> ApiResult<Json<PullResponse>> {
    check_protocol(&headers)?;
    let limit = q.limit.unwrap_or(1000).clamp(1, MAX_PULL);
    let scope: Option<Vec<String>> = user
        .scope()
        .map(|s| s.iter().map(|o| o.to_uppercase()).collect());
    let mut tx = st.pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let horizon: i64 = sqlx::query_scalar(
        "SELECT GREATEST(COALESCE((SELECT MAX(seq) FROM ops), 0), COALESCE((SELECT MAX(seq) FROM conflicts), 0))",
    )
    .fetch_one(&mut *tx)
    .await?;
    let rows: Vec<OpRow> = sqlx::query_as(
        "SELECT o.seq, o.op_id, o.entity, o.entity_id, o.field, o.value, o.hlc, o.base_hlc, o.obra, o.device_id, o.user_name \
         FROM ops o LEFT JOIN entity_obras e ON e.entity = o.entity AND e.entity_id = o.entity_id \
         WHERE o.seq > $1 AND o.seq <= $2 AND ($3::text[] IS NULL OR upper(e.obra) = ANY($3)) \
           AND ($5::text IS NULL OR o.device_id <> $5) \
         ORDER BY o.seq LIMIT $4",
    )
    .bind(q.cursor)
    .bind(horizon)
    .bind(scope.clone())
    .bind(limit)
    .bind(q.device.as_deref())
    .fetch_all(&mut *tx)
    .await?;
    let more = rows.len() as i64 == limit;
    let upto = if more {
        rows.last().map_or(horizon, |r| r.0)
    } else {
        horizon
    };
    let conflicts: Vec<ConflictRow> = sqlx::query_as(
        "SELECT id, seq, entity, entity_id, field, winner_value, winner_hlc, loser_value, loser_hlc, loser_user, resolved_by, obra \
         FROM conflicts WHERE seq > $1 AND seq <= $2 AND ($3::text[] IS NULL OR upper(obra) = ANY($3)) ORDER BY seq",
    )
    .bind(q.cursor)
    .bind(upto)
    .bind(scope)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut ops = Vec::with_capacity(rows.len());
    for (seq, op_id, entity, entity_id, field, value, hlc, base, obra, device_id, user_name) in rows
    {
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
        next_cursor: upto.max(q.cursor),
        more,
        server_ms: now_ms(),
    }))
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
