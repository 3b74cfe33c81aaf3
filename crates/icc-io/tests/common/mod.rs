//! Helpers shared by the integration tests.

/// LibreOffice's `soffice`, or `None` when it is missing outside CI (CI installs it through
/// scripts/test, so there a missing one fails the test).
pub fn soffice() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("soffice"))
            .find(|p| p.exists())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "LibreOffice (soffice) is missing; scripts/test installs libreoffice-calc-nogui"
        );
        eprintln!("soffice not found: skipping a LibreOffice test");
    }
    found
}
