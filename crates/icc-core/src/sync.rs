//! The sync protocol's wire types and its clock, shared by the client (icc-sync) and the
//! server (icc-server). No I/O: the caller passes the time in.
//!
//! Every change is an [`Op`]: one field of one entity set to a value, stamped with a hybrid
//! logical clock ([`Hlc`]) and the version of the field its author saw (`base_hlc`). Ops are
//! merged per field, last writer (highest HLC) wins; a losing value is kept as a conflict.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

/// Protocol version; sent by clients in the [`PROTOCOL_HEADER`] header of every request.
pub const PROTOCOL_VERSION: u32 = 1;
/// Header carrying the protocol version.
pub const PROTOCOL_HEADER: &str = "icc-protocol";
/// Largest clock difference tolerated between a device and the server, in milliseconds.
pub const MAX_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;
/// Most ops in one push.
pub const MAX_PUSH_OPS: usize = 5_000;

/// The largest counter an [`Hlc`]'s text form holds (five digits): past it, the clock moves
/// to the next millisecond instead.
pub const MAX_HLC_COUNTER: u32 = 99_999;

/// A hybrid logical clock value: wall time in milliseconds, a counter for events within one
/// millisecond (or while the wall clock lags a remote clock), and the device that made it.
/// Its text form sorts like the value: `0001764300000000-00000-DEVICE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hlc {
    /// Milliseconds since the Unix epoch.
    pub wall_ms: i64,
    /// Logical counter.
    pub counter: u32,
    /// Device id (no `-` inside, so the text form splits cleanly).
    pub device: String,
}

impl Hlc {
    /// The clock's first value on `device`.
    pub fn zero(device: &str) -> Hlc {
        Hlc {
            wall_ms: 0,
            counter: 0,
            device: device.to_owned(),
        }
    }

    /// The next value for a local event at wall time `now_ms`.
    pub fn tick(&self, now_ms: i64) -> Hlc {
        if now_ms > self.wall_ms {
            Hlc {
                wall_ms: now_ms,
                counter: 0,
                device: self.device.clone(),
            }
        } else {
            self.successor(&self.device)
        }
    }

    /// The smallest value after this one, made by `device`: the next counter, or the next
    /// millisecond once the counter is full (so the text form always parses and sorts
    /// like the value).
    pub fn successor(&self, device: &str) -> Hlc {
        Hlc::after(self.wall_ms, self.counter, device)
    }

    fn after(wall_ms: i64, counter: u32, device: &str) -> Hlc {
        if counter >= MAX_HLC_COUNTER {
            Hlc {
                wall_ms: wall_ms.saturating_add(1),
                counter: 0,
                device: device.to_owned(),
            }
        } else {
            Hlc {
                wall_ms,
                counter: counter + 1,
                device: device.to_owned(),
            }
        }
    }

    /// The local clock after seeing `remote` at wall time `now_ms`: never behind either.
    pub fn observe(&self, remote: &Hlc, now_ms: i64) -> Hlc {
        let wall = now_ms.max(self.wall_ms).max(remote.wall_ms);
        let last = if wall == self.wall_ms && wall == remote.wall_ms {
            Some(self.counter.max(remote.counter))
        } else if wall == self.wall_ms {
            Some(self.counter)
        } else if wall == remote.wall_ms {
            Some(remote.counter)
        } else {
            None
        };
        match last {
            Some(c) => Hlc::after(wall, c, &self.device),
            None => Hlc {
                wall_ms: wall,
                counter: 0,
                device: self.device.clone(),
            },
        }
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:016}-{:05}-{}",
            self.wall_ms, self.counter, self.device
        )
    }
}

impl FromStr for Hlc {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Hlc> {
        let bad = || CoreError::invalid("hlc", s, "se espera MILISEGUNDOS-CONTADOR-DISPOSITIVO");
        let mut parts = s.splitn(3, '-');
        let (Some(w), Some(c), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        if w.len() != 16 || c.len() != 5 || d.is_empty() || d.contains('-') {
            return Err(bad());
        }
        Ok(Hlc {
            wall_ms: w.parse().map_err(|_| bad())?,
            counter: c.parse().map_err(|_| bad())?,
            device: d.to_owned(),
        })
    }
}

impl Serialize for Hlc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Hlc {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Hlc, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// JSON kept as its text: a stored document travels from the laptop's outbox to the
/// server's op log without being parsed into a tree and encoded again at either end.
pub type RawJson = Box<serde_json::value::RawValue>;

/// One field of one entity set to a value. `V` is how the value is held: a parsed
/// [`serde_json::Value`] (the default) or its text ([`RawJson`]); both are the same on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op<V = serde_json::Value> {
    /// Unique id; the server stores each op once (a retried push is harmless).
    pub op_id: uuid::Uuid,
    /// `invoice`, `obra`, ...
    pub entity: String,
    /// The entity's id (for invoices the UUIDv5 of the natural key).
    pub entity_id: String,
    /// Field name.
    pub field: String,
    /// New value (`null` clears).
    pub value: V,
    /// When it was made.
    pub hlc: Hlc,
    /// The version of the field its author saw; `None` for a field the author saw empty.
    pub base_hlc: Option<Hlc>,
    /// The obra the entity belongs to, which decides who may see and change it.
    pub obra: Option<String>,
    /// The source system the change came from (one of [`SOURCES`]: an iConstruye pull or an
    /// import run on the laptop), or `None` for a person's own decision. The server checks a
    /// source change against the permission to run that source, not against approval rights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Source systems whose changes an account may push when it may run them (see [`Op::source`]).
pub const SOURCES: [&str; 2] = ["iconstruye", "import"];

impl Op<RawJson> {
    /// The op with its value parsed.
    ///
    /// # Errors
    /// The value's text is not JSON (a [`RawJson`] read from the wire is always valid).
    pub fn parsed(&self) -> serde_json::Result<Op> {
        Ok(Op {
            op_id: self.op_id,
            entity: self.entity.clone(),
            entity_id: self.entity_id.clone(),
            field: self.field.clone(),
            value: serde_json::from_str(self.value.get())?,
            hlc: self.hlc.clone(),
            base_hlc: self.base_hlc.clone(),
            obra: self.obra.clone(),
            source: self.source.clone(),
        })
    }
}

/// Entity name of invoices.
pub const INVOICE_ENTITY: &str = "invoice";
/// Entity name of a conflict resolution pushed as an op (`entity_id` is the conflict's id,
/// field [`RESOLVED_FIELD`]): it travels through the outbox like any edit.
pub const CONFLICT_ENTITY: &str = "conflict";
/// Field of a conflict resolution op.
pub const RESOLVED_FIELD: &str = "resuelto";

/// A document's value for one synced field, in the form edits carry (`monto_otros` is the
/// sum of the other taxes, the reception time has no fraction of a second, amounts are
/// numbers).
pub fn invoice_doc_field(doc: &serde_json::Value, field: &str) -> serde_json::Value {
    use serde_json::Value;
    let v = match field {
        "monto_otros" => {
            let sum: i64 = doc["otros_impuestos"]
                .as_array()
                .map(|a| a.iter().filter_map(|t| t["valor"].as_i64()).sum())
                .unwrap_or(0);
            return Value::from(sum);
        }
        "fecha_recepcion_sii" => doc[field]
            .as_str()
            .map(|s| Value::String(s.get(..19).unwrap_or(s).to_owned())),
        f => Some(doc[f].clone()),
    };
    match v {
        Some(Value::Null) | None => Value::Null,
        Some(Value::String(s)) if invoice_field_kind(field) == Some(FieldKind::Amount) => {
            s.parse::<i64>().map_or(Value::Null, Value::from)
        }
        Some(v) => v,
    }
}

/// The kind of value a synced invoice field holds on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Text that may not be empty or null (razón social).
    Text,
    /// Text or `null`.
    OptText,
    /// Whole pesos (a JSON integer).
    Amount,
    /// A date that may not be null.
    Date,
    /// A date or `null`.
    OptDate,
    /// A date and time or `null`.
    OptDateTime,
    /// One of the invoice statuses.
    Status,
}

/// Invoice fields that travel as edits, with the kind of their values.
pub const INVOICE_FIELDS: [(&str, FieldKind); 15] = [
    ("razon_social", FieldKind::Text),
    ("fecha_emision", FieldKind::Date),
    ("fecha_recepcion_sii", FieldKind::OptDateTime),
    ("fecha_vencimiento", FieldKind::OptDate),
    ("monto_neto", FieldKind::Amount),
    ("monto_exento", FieldKind::Amount),
    ("monto_iva", FieldKind::Amount),
    ("monto_otros", FieldKind::Amount),
    ("monto_total", FieldKind::Amount),
    ("obra", FieldKind::OptText),
    ("centro_costo", FieldKind::OptText),
    ("cuenta", FieldKind::OptText),
    ("glosa", FieldKind::OptText),
    ("estado", FieldKind::Status),
    ("motivo_rechazo", FieldKind::OptText),
];

/// Longest text a synced field may hold, in characters.
pub const MAX_FIELD_CHARS: usize = 4_000;

/// The kind of a synced invoice field; `None` for a field that does not sync.
pub fn invoice_field_kind(field: &str) -> Option<FieldKind> {
    INVOICE_FIELDS
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, k)| *k)
}

/// Checks that `value` is a value `field` of an invoice can hold, so a bad value is refused
/// where it enters (the server) and skipped where it still arrives (a laptop), never stored.
///
/// # Errors
/// Why not, in Spanish («se espera …»).
pub fn check_invoice_value(
    field: &str,
    value: &serde_json::Value,
) -> std::result::Result<(), String> {
    use serde_json::Value;
    let Some(kind) = invoice_field_kind(field) else {
        return Err(format!("el campo «{field}» no se sincroniza"));
    };
    let text = |nullable: bool| -> std::result::Result<Option<&str>, String> {
        match value {
            Value::Null if nullable => Ok(None),
            Value::String(s) if s.chars().count() > MAX_FIELD_CHARS => Err(format!(
                "«{field}» trae {} caracteres y el máximo es {MAX_FIELD_CHARS}",
                s.chars().count()
            )),
            Value::String(s) if s.contains('\0') => Err(format!("«{field}» trae el carácter nulo")),
            Value::String(s) if !nullable && s.trim().is_empty() => {
                Err(format!("«{field}» no puede quedar vacío"))
            }
            Value::String(s) => Ok(Some(s)),
            other => Err(format!(
                "«{field}» debe ser texto{}, no {}",
                if nullable { " o null" } else { "" },
                json_kind(other)
            )),
        }
    };
    match kind {
        FieldKind::Text => text(false).map(drop),
        FieldKind::OptText => text(true).map(drop),
        FieldKind::Amount => match value.as_i64() {
            Some(_) => Ok(()),
            None => Err(format!(
                "«{field}» debe ser un monto en pesos (número entero), no {}",
                json_kind(value)
            )),
        },
        FieldKind::Date | FieldKind::OptDate => match text(kind == FieldKind::OptDate)? {
            None => Ok(()),
            Some(s) => crate::parse_date("fecha", s)
                .map(drop)
                .map_err(|_| format!("«{field}» no es una fecha: «{s}»")),
        },
        FieldKind::OptDateTime => match text(true)? {
            None => Ok(()),
            Some(s) => crate::parse_datetime("fecha", s)
                .map(drop)
                .map_err(|_| format!("«{field}» no es una fecha y hora: «{s}»")),
        },
        FieldKind::Status => match text(false)? {
            Some(s) if s.parse::<crate::InvoiceStatus>().is_ok() => Ok(()),
            other => Err(format!(
                "«{field}» no es un estado: «{}»",
                other.unwrap_or_default()
            )),
        },
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "un valor lógico",
        serde_json::Value::Number(_) => "un número",
        serde_json::Value::String(_) => "texto",
        serde_json::Value::Array(_) => "una lista",
        serde_json::Value::Object(_) => "un objeto",
    }
}

/// A batch of ops from one device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushRequest<V = serde_json::Value> {
    /// The device pushing.
    pub device_id: String,
    /// Its wall clock when sending, to detect a badly skewed clock.
    pub sent_at_ms: i64,
    /// At most [`MAX_PUSH_OPS`] ops.
    pub ops: Vec<Op<V>>,
}

/// A change the server refused to store (403 for a permission, 409 for an entity it does not
/// hold, 400 for a value of the wrong type). The whole push is refused with the list of every
/// refused op; the laptop sets those aside and sends the rest again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// The refused op.
    pub op_id: uuid::Uuid,
    /// Its entity.
    pub entity: String,
    /// Its entity id.
    pub entity_id: String,
    /// Its field.
    pub field: String,
    /// Why, in Spanish, for the person who made the change.
    pub reason: String,
    /// The server's value of that field when it refused (to restore it on the laptop when
    /// the change is discarded); `None` when the server does not hold the entity.
    pub current: Option<FieldValue>,
    /// Refused because the server does not hold the entity (its document never arrived, or
    /// the server was restored from an older backup): a laptop that holds the invoice sends
    /// its document again ahead of the change instead of setting the change aside. Absent
    /// (false) from servers older than this field.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unknown_entity: bool,
}

/// A field's value as the server holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldValue {
    /// The value.
    pub value: serde_json::Value,
    /// The clock of the op that set it.
    pub hlc: Hlc,
    /// Whether it comes from a field edit (else from the entity's newest document).
    pub edited: bool,
}

/// The body of a refused push: the usual `{code, message}` and every refused op.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefusedPush {
    /// `refused`.
    pub code: String,
    /// A summary in Spanish.
    pub message: String,
    /// The refused ops.
    pub refused: Vec<Refusal>,
}

/// An entity that left the pulling account's scope: the laptop removes it (and tells the
/// user why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    /// Entity.
    pub entity: String,
    /// Entity id.
    pub entity_id: String,
    /// The obra it belongs to now (`None`: no obra).
    pub obra: Option<String>,
}

/// What the server did with a push.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushResponse {
    /// Ops stored now.
    pub accepted: u64,
    /// Ops stored before (a retry).
    pub duplicates: u64,
    /// Conflicts the push created.
    pub conflicts: u64,
    /// The server's clock, for the device's HLC.
    pub server_ms: i64,
}

/// An op as the server stores and serves it: the op's fields and `seq`, `user`,
/// `device_id` side by side in one JSON object. `V` as in [`Op`]: the server sends stored
/// values as their text and a laptop reads a document straight from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerOp<V = serde_json::Value> {
    /// Server sequence number (the pull cursor).
    pub seq: i64,
    /// The op.
    #[serde(flatten)]
    pub op: Op<V>,
    /// Who made it.
    pub user: String,
    /// From which device.
    pub device_id: String,
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for ServerOp<V> {
    /// Read field by field: `#[serde(flatten)]` would buffer every op into serde's generic
    /// content first, which was a good part of what a laptop spent reading a pull page.
    fn deserialize<D: serde::Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<ServerOp<V>, D::Error> {
        #[derive(Deserialize)]
        struct Wire<V> {
            seq: i64,
            op_id: uuid::Uuid,
            entity: String,
            entity_id: String,
            field: String,
            value: V,
            hlc: Hlc,
            base_hlc: Option<Hlc>,
            obra: Option<String>,
            #[serde(default)]
            source: Option<String>,
            user: String,
            device_id: String,
        }
        let w = Wire::<V>::deserialize(d)?;
        Ok(ServerOp {
            seq: w.seq,
            op: Op {
                op_id: w.op_id,
                entity: w.entity,
                entity_id: w.entity_id,
                field: w.field,
                value: w.value,
                hlc: w.hlc,
                base_hlc: w.base_hlc,
                obra: w.obra,
                source: w.source,
            },
            user: w.user,
            device_id: w.device_id,
        })
    }
}

impl ServerOp<RawJson> {
    /// The op with its value parsed.
    ///
    /// # Errors
    /// The value's text is not JSON (a [`RawJson`] read from the wire is always valid).
    pub fn parsed(&self) -> serde_json::Result<ServerOp> {
        Ok(ServerOp {
            seq: self.seq,
            op: self.op.parsed()?,
            user: self.user.clone(),
            device_id: self.device_id.clone(),
        })
    }
}

/// A conflict: a value that lost to a concurrent edit of the same field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// Server id.
    pub id: i64,
    /// Server sequence number (conflicts are pulled like ops).
    pub seq: i64,
    /// Entity.
    pub entity: String,
    /// Entity id.
    pub entity_id: String,
    /// Field.
    pub field: String,
    /// The value that won.
    pub winner_value: serde_json::Value,
    /// Its HLC.
    pub winner_hlc: Hlc,
    /// The value that lost.
    pub loser_value: serde_json::Value,
    /// Its HLC.
    pub loser_hlc: Hlc,
    /// Who wrote the loser.
    pub loser_user: String,
    /// Resolved (by whom), or open.
    pub resolved_by: Option<String>,
    /// Obra of the entity.
    pub obra: Option<String>,
}

/// A page of a pull. `V` as in [`Op`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(deserialize = "V: Deserialize<'de>", serialize = "V: Serialize"))]
pub struct PullResponse<V = serde_json::Value> {
    /// Ops after the cursor, in sequence order.
    pub ops: Vec<ServerOp<V>>,
    /// Conflicts created or resolved after the cursor.
    pub conflicts: Vec<Conflict>,
    /// Cursor for the next page.
    pub next_cursor: i64,
    /// More pages follow.
    pub more: bool,
    /// Entities that left the account's scope in this page's range.
    #[serde(default)]
    pub removed: Vec<Removal>,
    /// The obras the account may see now (`None`: all). The device stores it with the
    /// cursor and sends it back as `scope` on its next pull; a laptop removes what it holds
    /// outside it.
    #[serde(default)]
    pub scope: Option<Vec<String>>,
    /// Whether the account sees the company treasury (`Permission::Treasury`). The device
    /// stores it and sends it back as `treasury` on its next pull; a laptop that may no
    /// longer see it removes what it holds of it. Absent from older servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treasury: Option<bool>,
    /// The account's role now (its code, as `Role` spells it). A linked laptop keeps it with
    /// `scope` and applies both to its sessions, so a change IT makes reaches the laptop at
    /// its next sync. Absent from older servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The server's clock.
    pub server_ms: i64,
    /// About how many ops are left after this page (an upper bound: sequence numbers the
    /// account may not see, or that are the device's own, are counted). A laptop catching up
    /// on many prepares for a bulk load. Absent from older servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_sorts_like_the_clock() {
        let a = Hlc {
            wall_ms: 999,
            counter: 7,
            device: "b".into(),
        };
        let b = Hlc {
            wall_ms: 1000,
            counter: 0,
            device: "a".into(),
        };
        let c = Hlc {
            wall_ms: 1000,
            counter: 1,
            device: "a".into(),
        };
        assert!(a < b && b < c);
        assert!(a.to_string() < b.to_string() && b.to_string() < c.to_string());
        for h in [a, b, c] {
            assert_eq!(h.to_string().parse::<Hlc>().unwrap(), h);
        }
        for bad in [
            "",
            "1-2-x",
            "0000000000001000-00000-",
            "0000000000001000-0000a-x",
            "0000000000001000-00000-a-b",
        ] {
            assert!(bad.parse::<Hlc>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_server_op_reads_back_what_it_writes() {
        let op = ServerOp {
            seq: 7,
            op: Op {
                op_id: uuid::Uuid::nil(),
                entity: "invoice".into(),
                entity_id: "x".into(),
                field: "glosa".into(),
                value: serde_json::json!({"a": [1, "b", null]}),
                hlc: Hlc::zero("d1").tick(5),
                base_hlc: None,
                obra: Some("OB-1".into()),
                source: Some("iconstruye".into()),
            },
            user: "ana".into(),
            device_id: "d1".into(),
        };
        let text = serde_json::to_string(&op).unwrap();
        assert_eq!(serde_json::from_str::<ServerOp>(&text).unwrap(), op);
        // what an older server sends: no `source`
        let old = text.replace(",\"source\":\"iconstruye\"", "");
        assert_ne!(old, text);
        assert_eq!(
            serde_json::from_str::<ServerOp>(&old).unwrap().op.source,
            None
        );
    }

    #[test]
    fn field_values_are_checked_by_kind() {
        use serde_json::json;
        for (field, good) in [
            ("razon_social", json!("Hormigones SpA")),
            ("monto_total", json!(1_190_000)),
            ("monto_neto", json!(-5)),
            ("fecha_emision", json!("2026-03-03")),
            ("fecha_vencimiento", json!(null)),
            ("fecha_recepcion_sii", json!("2026-03-04T10:15:00")),
            ("fecha_recepcion_sii", json!("2026-03-04 10:15:00")),
            ("obra", json!(null)),
            ("glosa", json!("línea 1\nlínea 2")),
            ("estado", json!("aprobada")),
        ] {
            assert_eq!(check_invoice_value(field, &good), Ok(()), "{field} {good}");
        }
        for (field, bad, says) in [
            ("razon_social", json!(null), "texto"),
            ("razon_social", json!("  "), "vacío"),
            ("monto_total", json!("1190000"), "monto"),
            ("monto_total", json!(1.5), "monto"),
            ("monto_total", json!(null), "monto"),
            ("fecha_emision", json!(null), "texto"),
            ("fecha_emision", json!("ayer"), "fecha"),
            ("obra", json!(7), "texto"),
            ("glosa", json!("x".repeat(MAX_FIELD_CHARS + 1)), "máximo"),
            ("estado", json!("regalada"), "estado"),
            ("estado", json!(null), "texto"),
            ("clave", json!("x"), "no se sincroniza"),
        ] {
            let e = check_invoice_value(field, &bad).unwrap_err();
            assert!(e.contains(says), "{field} {bad}: {e}");
        }
    }

    #[test]
    fn the_clock_never_goes_back() {
        let h = Hlc::zero("d1").tick(1000);
        assert_eq!((h.wall_ms, h.counter), (1000, 0));
        let h2 = h.tick(900); // the wall clock stepped back
        assert!(h2 > h);
        let remote = Hlc {
            wall_ms: 5000,
            counter: 3,
            device: "d2".into(),
        };
        let h3 = h2.observe(&remote, 1200);
        assert!(h3 > remote.clone() && h3 > h2);
        assert_eq!(h3.device, "d1");
        assert!(h3.tick(1300) > h3);
    }

    #[test]
    fn a_full_counter_moves_the_clock_to_the_next_millisecond() {
        let full = Hlc {
            wall_ms: 5000,
            counter: MAX_HLC_COUNTER,
            device: "d1".into(),
        };
        let remote = Hlc {
            device: "d2".into(),
            ..full.clone()
        };
        for next in [
            full.tick(4000),
            full.observe(&remote, 4000),
            full.successor("servidor"),
        ] {
            assert_eq!((next.wall_ms, next.counter), (5001, 0), "{next}");
            assert!(next > full);
            // the text form still parses and sorts like the value
            let text = next.to_string();
            assert_eq!(text.parse::<Hlc>().unwrap(), next);
            assert!(text > full.to_string());
        }
    }
}
