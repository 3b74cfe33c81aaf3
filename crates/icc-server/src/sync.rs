//! The sync endpoints: idempotent batched push with per-field last-writer-wins and conflicts
//! kept, cursor pull, both limited to the obras the user may see.
//!
//! Pushes (and conflict resolutions) take one transaction-scoped advisory lock, so sequence
//! numbers are committed in order: a pull never sees seq 11 before seq 10 is visible, and a
//! cursor never skips an op that commits later.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use icc_core::sync::{
    Conflict, Hlc, MAX_CLOCK_SKEW_MS, MAX_PUSH_OPS, Op, PROTOCOL_HEADER, PROTOCOL_VERSION,
    PullResponse, PushRequest, PushResponse, ServerOp,
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
/// # Errors
/// 426 old client, 400 skewed clock or malformed ops, 413 too many ops, 403 an obra the user
/// may not touch (nothing of the batch is stored).
pub async fn push(
    State(st): State<AppState>,
    user: Authed,
    headers: HeaderMap,
    Json(req): Json<PushRequest>,
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

    let mut tx = st.pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SEQ_LOCK)
        .execute(&mut *tx)
        .await?;
    let mut out = PushResponse {
        server_ms: now,
        ..PushResponse::default()
    };
    // creations first, set-based (they never contest edits, so order between the two
    // kinds does not change the result); then edits one by one, in order
    let (docs, edits): (Vec<&Op>, Vec<&Op>) = req.ops.iter().partition(|o| o.field == DOC_FIELD);
    let (accepted, duplicates) = push_docs(&mut tx, &user, &req.device_id, &docs).await?;
    out.accepted += accepted;
    out.duplicates += duplicates;
    for op in edits {
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
        .await?;
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

/// Stores creation ops in three statements whatever their number: the ops (deduplicated on
/// `op_id`), the newest document per entity, and the entities' obras.
async fn push_docs(
    tx: &mut Transaction<'_, Postgres>,
    user: &Authed,
    device: &str,
    docs: &[&Op],
) -> ApiResult<(u64, u64)> {
    if docs.is_empty() {
        return Ok((0, 0));
    }
    if user.scope().is_some() {
        let ids: Vec<String> = docs.iter().map(|o| o.entity_id.clone()).collect();
        let known: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT entity, entity_id, obra FROM entity_obras WHERE entity_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&mut **tx)
        .await?;
        for op in docs {
            let current = known
                .iter()
                .find(|(e, i, _)| *e == op.entity && *i == op.entity_id)
                .map(|(_, _, o)| o.clone());
            let doc_obra = op.value.get("obra").and_then(|v| v.as_str());
            let ok =
                user.sees(doc_obra) && current.as_ref().is_none_or(|o| user.sees(o.as_deref()));
            if !ok {
                return Err(ApiError::forbidden(format!(
                    "«{}» no puede crear {} {} de la obra {}: no es una de sus obras; no se guardó ningún cambio del envío",
                    user.username,
                    op.entity,
                    op.entity_id,
                    doc_obra.unwrap_or("sin asignar")
                )));
            }
        }
    }
    let inserted: Vec<(i64, uuid::Uuid)> = sqlx::query_as(
        "INSERT INTO ops (op_id, entity, entity_id, field, value, hlc, base_hlc, obra, device_id, user_name) \
         SELECT op_id, entity, entity_id, $9, value, hlc, NULL, obra, $7, $8 \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::text[]) \
              AS t(op_id, entity, entity_id, value, hlc, obra) \
         ON CONFLICT (op_id) DO NOTHING RETURNING seq, op_id",
    )
    .bind(docs.iter().map(|o| o.op_id).collect::<Vec<_>>())
    .bind(docs.iter().map(|o| o.entity.clone()).collect::<Vec<_>>())
    .bind(docs.iter().map(|o| o.entity_id.clone()).collect::<Vec<_>>())
    .bind(docs.iter().map(|o| o.value.clone()).collect::<Vec<_>>())
    .bind(docs.iter().map(|o| o.hlc.to_string()).collect::<Vec<_>>())
    .bind(docs.iter().map(|o| o.obra.clone()).collect::<Vec<_>>())
    .bind(device)
    .bind(&user.username)
    .bind(DOC_FIELD)
    .fetch_all(&mut **tx)
    .await?;
    let accepted = inserted.len() as u64;
    if accepted > 0 {
        let seqs: Vec<i64> = inserted.iter().map(|(s, _)| *s).collect();
        sqlx::query(
            "INSERT INTO entity_docs (entity, entity_id, value, hlc, op_seq) \
             SELECT DISTINCT ON (entity, entity_id) entity, entity_id, value, hlc, seq FROM ops \
             WHERE seq = ANY($1) ORDER BY entity, entity_id, hlc DESC \
             ON CONFLICT (entity, entity_id) DO UPDATE SET value = EXCLUDED.value, hlc = EXCLUDED.hlc, op_seq = EXCLUDED.op_seq \
             WHERE entity_docs.hlc < EXCLUDED.hlc",
        )
        .bind(&seqs)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO entity_obras (entity, entity_id, obra) \
             SELECT d.entity, d.entity_id, COALESCE( \
                 (SELECT f.value #>> '{}' FROM fields f WHERE f.entity = d.entity AND f.entity_id = d.entity_id AND f.field = 'obra'), \
                 d.value ->> 'obra') \
             FROM entity_docs d JOIN (SELECT DISTINCT entity, entity_id FROM ops WHERE seq = ANY($1)) o \
               ON o.entity = d.entity AND o.entity_id = d.entity_id \
             ON CONFLICT (entity, entity_id) DO UPDATE SET obra = EXCLUDED.obra",
        )
        .bind(&seqs)
        .execute(&mut **tx)
        .await?;
    }
    Ok((accepted, docs.len() as u64 - accepted))
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
            "INSERT INTO entity_obras (entity, entity_id, obra) VALUES ($1, $2, $3) \
             ON CONFLICT (entity, entity_id) DO UPDATE SET obra = CASE WHEN $4 THEN EXCLUDED.obra ELSE entity_obras.obra END",
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
