//! Link settings for the release builds of the binaries Lambda runs (the four functions and the
//! extension), applied from each one's build script: `lambda_link::release_link_args()`.
//!
//! Release builds abort on a panic (`panic = "abort"` in the workspace's `Cargo.toml`; the panic
//! hook logs the panic's location, never a backtrace, and ends the process), so nothing unwinds
//! their stacks and their unwinding tables (`.eh_frame`) are dead weight: 0.6 MB of loadtest's
//! 7.5 MB binary, 0.20-0.22 MB of each binary's zip. The standard library comes prebuilt with
//! them, so `-C force-unwind-tables=no` leaves them in; the linker drops them instead, through a
//! script that discards the section. The same arguments work with the host's linker and with
//! zig, the arm64 bundles' cross linker (`sam build`; `tests/template/bundles.py` checks the
//! bundles have no such section).
//!
//! Other builds keep the tables: tests and debug builds unwind (the runtime answers a panic with
//! `Runtime.Panic` only there). A release build with `panic = "unwind"` put back (through
//! `CARGO_PROFILE_RELEASE_PANIC`) would abort on a panic, as the default release build does.

use std::path::Path;

/// The linker script: only the discarded section, inserted into the linker's own layout.
const DISCARD_UNWIND_TABLES: &str =
    "SECTIONS { /DISCARD/ : { *(.eh_frame) } }\nINSERT AFTER .text;\n";

/// For a build script: in release builds, link the package's binaries without unwinding tables.
pub fn release_link_args() {
    println!("cargo:rerun-if-changed=build.rs");
    // `release` for the release profile and the profiles that inherit from it (bench).
    if std::env::var("PROFILE").as_deref() != Ok("release") {
        return;
    }
    let Some(out_dir) = std::env::var_os("OUT_DIR") else {
        return;
    };
    let script = Path::new(&out_dir).join("discard-unwind-tables.ld");
    if let Err(error) = std::fs::write(&script, DISCARD_UNWIND_TABLES) {
        println!("cargo:warning=unwinding tables kept: cannot write the linker script: {error}");
        return;
    }
    // `-T <script>` to the compiler driver, as two arguments: a path may hold a comma, which
    // `-Wl,` would split on.
    println!("cargo:rustc-link-arg-bins=-T");
    println!("cargo:rustc-link-arg-bins={}", script.display());
}
