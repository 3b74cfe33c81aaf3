//! The UI's TypeScript types are generated from the Rust types the commands exchange.
//! This test fails when `ui/src/bindings/` is stale; `ICC_UPDATE_BINDINGS=1 cargo test -p
//! icc-desktop --test bindings` regenerates it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use icc_app::{
    Attachment, AuditEntry, BackupInfo, CredentialStatus, Dashboard, DoctorReport, ExportReport,
    IconstruyeSettings, ImportReport, InvoiceView, LinkReport, ListFilter, LocalConflict, Obra,
    Page, PullReport, SupplierRow, SyncReport, SyncStatus, User,
};
use icc_desktop::UiError;
use icc_desktop::desktop::{
    Assignment, AttachmentContent, BulkResult, ExportRequest, ImportRequest, JobProgress,
    SessionInfo, Status,
};
use icc_desktop::updates::{UpdateOffer, UpdateSource};
use ts_rs::{Config, TS};

fn generate(dir: &Path) {
    // JSON numbers arrive as JS numbers: pesos and counts stay far below 2^53.
    let cfg = Config::new().with_out_dir(dir).with_large_int("number");
    Status::export_all(&cfg).unwrap();
    SessionInfo::export_all(&cfg).unwrap();
    BulkResult::export_all(&cfg).unwrap();
    Assignment::export_all(&cfg).unwrap();
    ImportRequest::export_all(&cfg).unwrap();
    ExportRequest::export_all(&cfg).unwrap();
    JobProgress::export_all(&cfg).unwrap();
    UiError::export_all(&cfg).unwrap();
    Page::export_all(&cfg).unwrap();
    InvoiceView::export_all(&cfg).unwrap();
    AuditEntry::export_all(&cfg).unwrap();
    ImportReport::export_all(&cfg).unwrap();
    ExportReport::export_all(&cfg).unwrap();
    Obra::export_all(&cfg).unwrap();
    User::export_all(&cfg).unwrap();
    DoctorReport::export_all(&cfg).unwrap();
    Dashboard::export_all(&cfg).unwrap();
    Attachment::export_all(&cfg).unwrap();
    SupplierRow::export_all(&cfg).unwrap();
    BackupInfo::export_all(&cfg).unwrap();
    ListFilter::export_all(&cfg).unwrap();
    CredentialStatus::export_all(&cfg).unwrap();
    IconstruyeSettings::export_all(&cfg).unwrap();
    PullReport::export_all(&cfg).unwrap();
    SyncStatus::export_all(&cfg).unwrap();
    SyncReport::export_all(&cfg).unwrap();
    LinkReport::export_all(&cfg).unwrap();
    LocalConflict::export_all(&cfg).unwrap();
    UpdateOffer::export_all(&cfg).unwrap();
    AttachmentContent::export_all(&cfg).unwrap();
    UpdateSource::export_all(&cfg).unwrap();
    icc_app::RunView::export_all(&cfg).unwrap();
    icc_app::ObraBudgetView::export_all(&cfg).unwrap();
    icc_app::TreasuryView::export_all(&cfg).unwrap();
    icc_app::BudgetLineInput::export_all(&cfg).unwrap();
    icc_app::WeekInput::export_all(&cfg).unwrap();
    icc_app::TreasuryBankInput::export_all(&cfg).unwrap();
    icc_app::TreasuryRowInput::export_all(&cfg).unwrap();
    icc_app::LoanInput::export_all(&cfg).unwrap();
    icc_app::LoanEdit::export_all(&cfg).unwrap();
    icc_app::RunRow::export_all(&cfg).unwrap();
    icc_app::SupplierAccount::export_all(&cfg).unwrap();
    icc_app::Bank::export_all(&cfg).unwrap();
    icc_app::BankFileReport::export_all(&cfg).unwrap();
    icc_app::RunEmail::export_all(&cfg).unwrap();
    icc_app::CesionImportReport::export_all(&cfg).unwrap();
    icc_app::CesionRow::export_all(&cfg).unwrap();
    icc_app::AccountRequest::export_all(&cfg).unwrap();
    icc_app::kame::KameSettings::export_all(&cfg).unwrap();
    icc_app::kame::FichasReport::export_all(&cfg).unwrap();
    icc_app::kame::PostReport::export_all(&cfg).unwrap();
    icc_core::kame::Plantilla::export_all(&cfg).unwrap();
    icc_app::kame::Envio::export_all(&cfg).unwrap();
    icc_app::kame::Ficha::export_all(&cfg).unwrap();
    icc_app::kame::FichaEdit::export_all(&cfg).unwrap();
    icc_app::kame::ConceptoAsignado::export_all(&cfg).unwrap();
    icc_app::kame::Unidad::export_all(&cfg).unwrap();
}

fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".ts") {
                out.insert(name, std::fs::read_to_string(e.path()).unwrap());
            }
        }
    }
    out
}

#[test]
fn ui_bindings_match_the_rust_types() {
    let fresh = tempfile::tempdir().unwrap();
    generate(fresh.path());
    let want = read_dir(fresh.path());
    assert!(want.contains_key("InvoiceRow.ts"), "{:?}", want.keys());
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings");
    if std::env::var_os("ICC_UPDATE_BINDINGS").is_some() {
        let _ = std::fs::remove_dir_all(&committed);
        std::fs::create_dir_all(&committed).unwrap();
        for (name, text) in &want {
            std::fs::write(committed.join(name), text).unwrap();
        }
        return;
    }
    let have = read_dir(&committed);
    let stale: Vec<&String> = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, _)| k)
        .chain(have.keys().filter(|k| !want.contains_key(*k)))
        .collect();
    assert!(
        stale.is_empty(),
        "ui/src/bindings is stale ({stale:?}); regenerate with: ICC_UPDATE_BINDINGS=1 cargo test -p icc-desktop --test bindings"
    );
}
