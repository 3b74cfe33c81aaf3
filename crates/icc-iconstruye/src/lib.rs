//! iConstruye API client for ICC Facturas (DOMAIN.md §4).
//!
//! * [`Client`]: facturas and notas de corrección (search and detail), órdenes de compra and
//!   centros de gestión; per-product subscription keys with a secondary tried on 401; a
//!   client-side pace, exponential backoff honouring `Retry-After` on 429 and 5xx,
//!   timeouts, cancellation.
//! * [`wire`]: lenient reading of the answers (key casing, spelling variants, missing fields,
//!   numbers as text), keeping the raw JSON.
//! * [`mapping`]: documents to [`icc_core::Invoice`]s.
//! * [`fetch_window`]: one ≤ 30-day window of a pull, bad rows reported, not fatal.
//! * `fake` (feature): the fake server tests run against.
//!
//! Keys are [`ApiKey`]s: they cannot be printed, and requests carry them only in a header
//! marked sensitive. Reading them from the OS keyring is icc-app's job.

mod client;
mod error;
pub mod mapping;
mod pull;
mod secret;
pub mod wire;

#[cfg(feature = "fake")]
pub mod fake;

pub use client::{
    API_VERSION, Client, ClientConfig, DEFAULT_BASE_URL, KEY_HEADER, KeyPair, Keys,
    MAX_WINDOW_DAYS, Product, windows,
};
pub use error::{IconstruyeError, Result};
pub use mapping::{DocKind, Mapped, map_document, map_estado};
pub use pull::{Rejected, WindowFetch, fetch_window};
pub use secret::ApiKey;
