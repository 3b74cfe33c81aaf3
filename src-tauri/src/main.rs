//! The ICC Facturas desktop app.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    icc_desktop::run();
}
