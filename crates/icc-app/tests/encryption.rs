//! Encryption at rest, against the real OS keyring (run under `scripts/with-keyring`): the
//! database, an attachment and a backup hold no plaintext folio or RUT; a plain folder is
//! encrypted in place with every row; a lost keyring is explained and recovered with the
//! recovery key.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::Path;

use icc_app::{App, AppError, InvoiceFilter, Session};

const ADMIN_PW: &str = "caballo correcto batería grapa";

fn has(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()) {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Distinctive plaintext of the register: a supplier name and a `RUT`+folio of one invoice.
async fn plaintext_of(app: &App, s: &Session) -> Vec<String> {
    let page = app
        .list_invoices(s, InvoiceFilter::default(), 5, None)
        .await
        .unwrap();
    let r = &page.items[0];
    vec![
        r.razon_social.clone(),
        r.rut_emisor.split('-').next().unwrap().to_owned(),
        format!("{}", r.folio),
    ]
}

/// Removes the data folder's key from the keyring, as a reinstalled laptop would lose it.
fn lose_keyring_entry(data_dir: &Path) {
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir.join("cifrado.json")).unwrap())
            .unwrap();
    let id = file["key_id"].as_str().unwrap();
    keyring::Entry::new(&format!("icc-facturas:cifrado:{id}"), "clave-de-datos")
        .unwrap()
        .delete_credential()
        .unwrap();
}

#[tokio::test]
async fn a_new_folder_is_encrypted_with_its_database_attachments_and_backups() {
    let d = tempfile::tempdir().unwrap();
    let app = App::open(d.path()).await.unwrap();
    assert!(
        app.is_encrypted(),
        "a keyring answers: the folder must be encrypted"
    );
    let admin = app.init("admin", ADMIN_PW).await.unwrap();
    let recovery = app.recovery_key(&admin).unwrap().unwrap();
    assert_eq!(recovery.len(), 69, "{recovery}");
    app.seed(400, 3, &mut |_, _| true).await.unwrap();
    let mut secrets = plaintext_of(&app, &admin).await;
    // an imported SII register: its original is kept, sealed too
    let rcv =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rcv/rcv_registro_utf8.csv");
    let text = std::fs::read_to_string(&rcv).unwrap();
    let first: Vec<&str> = text.lines().nth(1).unwrap().split(';').collect();
    secrets.extend([
        first[3].split('-').next().unwrap().to_owned(),
        first[4].to_owned(),
    ]);
    let imported = app
        .import_files(
            &admin,
            &[rcv],
            &icc_app::ImportOptions::default(),
            &mut |_| true,
        )
        .await
        .unwrap();
    assert!(imported.total.counts.inserted > 0);

    // an attachment whose content names the supplier
    let inv = app
        .list_invoices(&admin, InvoiceFilter::default(), 1, None)
        .await
        .unwrap()
        .items
        .remove(0);
    let pdf = d.path().join("..").join(format!("{}.pdf", inv.folio));
    let content = format!(
        "%PDF-1.4\n{} {} folio {}\n%%EOF\n",
        inv.razon_social, inv.rut_emisor, inv.folio
    );
    std::fs::write(&pdf, &content).unwrap();
    let list = app.add_attachment(&admin, &inv.id, &pdf).await.unwrap();
    std::fs::remove_file(&pdf).unwrap();
    let backup = app.create_backup(&admin).await.unwrap();
    app.close().await;

    // nothing under the data folder (database, WAL, attachments, backups) shows them
    let files = files_under(d.path());
    assert!(files.iter().any(|f| f.ends_with("icc.db")));
    assert!(
        files
            .iter()
            .any(|f| f.starts_with(&backup.path) && f.ends_with("icc.db"))
    );
    assert!(
        files
            .iter()
            .filter(|f| f.to_string_lossy().contains("adjuntos"))
            .count()
            >= 2
    );
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for s in &secrets {
            assert!(!has(&bytes, s), "«{s}» in plaintext in {}", f.display());
        }
        assert!(!has(&bytes, &inv.razon_social), "{}", f.display());
    }

    // reopened with the keyring's key: the attachment reads back whole, the backup verifies
    let app = App::open(d.path()).await.unwrap();
    let admin = app.login("admin", ADMIN_PW).await.unwrap();
    let opened = app.attachment_file(&admin, list[0].id).await.unwrap();
    assert_eq!(std::fs::read_to_string(&opened).unwrap(), content);
    assert!(!opened.starts_with(d.path()));
    app.verify_backup(&admin, None).await.unwrap();
    // a restored backup opens with the same key and holds the same invoices
    let before = app.store().facts().await.unwrap();
    app.restore_backup(&admin, None).await.unwrap();
    let app = App::open(d.path()).await.unwrap();
    assert!(app.is_encrypted());
    assert_eq!(app.store().facts().await.unwrap().invoices, before.invoices);
    app.close().await;
}

#[tokio::test]
async fn a_lost_keyring_is_explained_and_the_recovery_key_opens_the_folder_again() {
    let d = tempfile::tempdir().unwrap();
    let app = App::open(d.path()).await.unwrap();
    let admin = app.init("admin", ADMIN_PW).await.unwrap();
    app.seed(50, 9, &mut |_, _| true).await.unwrap();
    let recovery = app.recovery_key(&admin).unwrap().unwrap();
    app.close().await;

    lose_keyring_entry(d.path());
    let e = App::open(d.path()).await.unwrap_err();
    assert!(matches!(e, AppError::KeyMissing(_)), "{e}");
    assert!(e.to_string().contains("icc encryption recover"), "{e}");
    let report = icc_app::DoctorReport::locked(d.path(), &e);
    assert!(!report.ok);
    assert_eq!(report.checks[0].id, "encryption");

    // a typo and another installation's key are refused, naming the problem
    let mut typo: Vec<char> = recovery.chars().collect();
    typo[3] = if typo[3] == 'A' { 'B' } else { 'A' };
    let e = icc_app::encryption::recover(d.path(), &typo.into_iter().collect::<String>())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no cuadra"), "{e}");
    let other = icc_core::recovery::encode(&[5; 32]);
    let e = icc_app::encryption::recover(d.path(), &other)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no abre"), "{e}");
    assert!(App::open(d.path()).await.is_err());

    icc_app::encryption::recover(d.path(), &recovery.to_lowercase())
        .await
        .unwrap();
    let app = App::open(d.path()).await.unwrap();
    let admin = app.login("admin", ADMIN_PW).await.unwrap();
    assert_eq!(
        app.list_invoices(&admin, InvoiceFilter::default(), 100, None)
            .await
            .unwrap()
            .items
            .len(),
        50
    );
    assert!(
        app.doctor()
            .await
            .checks
            .iter()
            .any(|c| c.id == "encryption" && c.ok)
    );
    app.close().await;
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().filter_map(|e| e.ok()) {
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

#[tokio::test]
async fn a_new_installation_gets_a_stolen_laptops_backup_back_with_the_recovery_key() {
    let old = tempfile::tempdir().unwrap();
    let app = App::open(old.path()).await.unwrap();
    let admin = app.init("admin", ADMIN_PW).await.unwrap();
    app.seed(80, 11, &mut |_, _| true).await.unwrap();
    let recovery = app.recovery_key(&admin).unwrap().unwrap();
    app.create_backup(&admin).await.unwrap();
    app.close().await;
    // the laptop is gone with its keyring; IT copies its backup folder to a new one
    lose_keyring_entry(old.path());
    let new = tempfile::tempdir().unwrap();
    copy_tree(&old.path().join("respaldos"), &new.path().join("respaldos"));

    let e = icc_app::restore_without_live_db(new.path(), None, "admin", ADMIN_PW)
        .await
        .unwrap_err();
    assert!(matches!(e, AppError::KeyMissing(_)), "{e}");
    assert!(e.to_string().contains("icc encryption recover"), "{e}");
    assert!(
        !new.path().join("icc.db").exists(),
        "nothing changed on error"
    );

    // opening the new folder first makes a database with a key of its own: its backups'
    // key is another one, which is said as such, with the way out
    App::open(new.path()).await.unwrap().close().await;
    let e = icc_app::restore_without_live_db(new.path(), None, "admin", ADMIN_PW)
        .await
        .unwrap_err();
    assert!(matches!(e, AppError::KeyMissing(_)), "{e}");
    assert!(e.to_string().contains("no es la de esta carpeta"), "{e}");
    for f in ["icc.db", "icc.db-wal", "icc.db-shm", "cifrado.json"] {
        let _ = std::fs::remove_file(new.path().join(f));
    }

    icc_app::encryption::recover(new.path(), &recovery)
        .await
        .unwrap();
    icc_app::restore_without_live_db(new.path(), None, "admin", ADMIN_PW)
        .await
        .unwrap();
    let app = App::open(new.path()).await.unwrap();
    assert!(app.is_encrypted());
    let admin = app.login("admin", ADMIN_PW).await.unwrap();
    assert_eq!(
        app.list_invoices(&admin, InvoiceFilter::default(), 200, None)
            .await
            .unwrap()
            .items
            .len(),
        80
    );
    app.close().await;
}
