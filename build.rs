//! Makes sure the dashboard's front-end dependency (Chart.js, pinned in
//! `static/package.json` and its lock file) is installed, so `src/server/assets.rs`
//! can embed it: an installed `metrics` serves its page with no repo and no internet.

use std::path::Path;
use std::process::Command;

const CHART_JS: &str = "static/node_modules/chart.js/dist/chart.umd.min.js";

fn main() {
    println!("cargo:rerun-if-changed=static/package-lock.json");
    println!("cargo:rerun-if-changed={CHART_JS}");
    if Path::new(CHART_JS).is_file() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix", "static"])
        .status();
    let ok = matches!(&status, Ok(s) if s.success());
    if !ok || !Path::new(CHART_JS).is_file() {
        let why = match status {
            Err(e) => format!("npm could not be started ({e})"),
            Ok(s) => format!("`npm ci --prefix static` failed ({s})"),
        };
        eprintln!(
            "error: the dashboard needs Chart.js from npm, and {why}.\n\
             Install Node.js and npm (e.g. `apt-get install nodejs npm`), then run \
             `npm ci --prefix static` in the repository and build again."
        );
        std::process::exit(1);
    }
}
