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
            Hlc {
                wall_ms: self.wall_ms,
                counter: self.counter.saturating_add(1),
                device: self.device.clone(),
            }
        }
    }

    /// The local clock after seeing `remote` at wall time `now_ms`: never behind either.
    pub fn observe(&self, remote: &Hlc, now_ms: i64) -> Hlc {
        let wall = now_ms.max(self.wall_ms).max(remote.wall_ms);
        let counter = if wall == self.wall_ms && wall == remote.wall_ms {
            self.counter.max(remote.counter).saturating_add(1)
        } else if wall == self.wall_ms {
            self.counter.saturating_add(1)
        } else if wall == remote.wall_ms {
            remote.counter.saturating_add(1)
        } else {
            0
        };
        Hlc {
            wall_ms: wall,
            counter,
            device: self.device.clone(),
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
}

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
        })
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

/// An op as the server stores and serves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerOp {
    /// Server sequence number (the pull cursor).
    pub seq: i64,
    /// The op.
    #[serde(flatten)]
    pub op: Op,
    /// Who made it.
    pub user: String,
    /// From which device.
    pub device_id: String,
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

/// A page of a pull.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PullResponse {
    /// Ops after the cursor, in sequence order.
    pub ops: Vec<ServerOp>,
    /// Conflicts created or resolved after the cursor.
    pub conflicts: Vec<Conflict>,
    /// Cursor for the next page.
    pub next_cursor: i64,
    /// More pages follow.
    pub more: bool,
    /// The server's clock.
    pub server_ms: i64,
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
}
