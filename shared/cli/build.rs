//! Builds the dashboard (`dashboard/`, TypeScript) into `$OUT_DIR/dashboard`, which
//! `src/dashboard.rs` embeds in the binary: running Helios needs no Node, building it does.
//!
//! - `HELIOS_DASHBOARD_DIST=<folder>` takes the built files from there instead (a packager
//!   that built them once).
//! - Otherwise `npm ci` (when `dashboard/node_modules` is missing or older than the lock
//!   file) and `node build.mjs`, with the Node.js on `PATH`.

use std::path::{Path, PathBuf};
use std::process::Command;

const FILES: [&str; 3] = ["index.html", "app.js", "app.css"];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let dashboard = manifest.join("../../dashboard");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("dashboard");
    println!("cargo:rerun-if-env-changed=HELIOS_DASHBOARD_DIST");
    for f in [
        "src",
        "build.mjs",
        "package.json",
        "package-lock.json",
        "tsconfig.json",
    ] {
        println!("cargo:rerun-if-changed={}", dashboard.join(f).display());
    }
    if let Some(dist) = std::env::var_os("HELIOS_DASHBOARD_DIST") {
        let dist = PathBuf::from(dist);
        std::fs::create_dir_all(&out)
            .unwrap_or_else(|e| fail(&format!("cannot make {}: {e}", out.display())));
        for f in FILES {
            std::fs::copy(dist.join(f), out.join(f)).unwrap_or_else(|e| {
                fail(&format!(
                    "HELIOS_DASHBOARD_DIST={}: cannot copy {f}: {e}",
                    dist.display()
                ))
            });
        }
        return;
    }
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    if Command::new("node").arg("--version").output().is_err() {
        fail("node not found: the dashboard is built with Node.js 18 or newer (Debian: sudo apt-get install -y nodejs npm), or set HELIOS_DASHBOARD_DIST to a folder of built files");
    }
    if needs_install(&dashboard) {
        run(
            Command::new(npm)
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dashboard),
            "npm ci (in dashboard/): the dashboard's packages come from the npm registry",
        );
    }
    run(
        Command::new("node")
            .arg("build.mjs")
            .arg(&out)
            .current_dir(&dashboard),
        "node build.mjs (in dashboard/)",
    );
    for f in FILES {
        if !out.join(f).is_file() {
            fail(&format!("the dashboard build made no {f}"));
        }
    }
}

/// Whether `node_modules` is missing or older than the lock file.
fn needs_install(dashboard: &Path) -> bool {
    let modified = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (
        modified(dashboard.join("node_modules/.package-lock.json")),
        modified(dashboard.join("package-lock.json")),
    ) {
        (Some(installed), Some(lock)) => installed < lock,
        _ => true,
    }
}

fn run(cmd: &mut Command, what: &str) {
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!("{what} failed ({s})")),
        Err(e) => fail(&format!("{what} could not start: {e}")),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
