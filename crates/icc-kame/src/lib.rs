//! Kame ERP API client for ICC Facturas (DOMAIN.md §6.4).
//!
//! * [`Client`]: the OAuth client-credentials token, asked once and kept until it expires
//!   (the predecessor asked for one on every call and printed it to its logs); a pace under
//!   Kame's 180 requests a minute; 429s retried with backoff honouring `Retry-After`;
//!   supplier fichas page by page; accounting vouchers (`addComprobante`); the payables
//!   lookup that tells whether a voucher whose answer was lost did reach Kame.
//! * [`wire`]: the request and answer shapes, read leniently.
//! * `fake` (feature): a fake Kame server speaking the same HTTP, for tests and demos.
//!
//! Kame has no idempotency key, so this client never retries a voucher whose request may
//! have reached it (a 5xx, a timeout, a dropped connection): it answers
//! [`KameError::Uncertain`] and leaves the decision to the caller, which records every
//! voucher before sending it (icc-app).

mod client;
mod error;
pub mod wire;

#[cfg(feature = "fake")]
pub mod fake;

pub use client::{AUDIENCE, Client, ClientConfig, DEFAULT_BASE_URL, REQUESTS_PER_MINUTE};
pub use error::{KameError, Result};
pub use wire::{CuentaPorPagar, Ficha, FichaPage, PorPagarPage, Posted};
