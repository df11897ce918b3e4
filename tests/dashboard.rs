//! The dashboard in a real headless Chromium (through chromedriver), against the real
//! `metrics watch --replay FIXTURE --port 0`: what a person would see.

mod common;

use common::webdriver::Browser;
use common::{Phase, Watch, host_csv};

/// A CSV whose one flagged row carries markup in a text column.
fn hostile_upload(dir: &std::path::Path) -> std::path::PathBuf {
    let mut csv = String::from("timestamp,cpu_percent,memory_percent,note\n");
    for i in 0..120 {
        let cpu = 20.0 + (i * 37 % 11) as f64;
        let (cpu, note) = if i == 100 {
            (99.0, "<img src=x onerror=alert(1)>")
        } else {
            (cpu, "ok")
        };
        csv.push_str(&format!(
            "2025-01-01T00:{:02}:{:02}Z,{cpu},{},{note}\n",
            i / 60,
            i % 60,
            40 + i % 3
        ));
    }
    let path = dir.join("hostile.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

#[test]
fn the_page_shows_the_session_its_anomalies_and_uploads_without_running_what_data_contains() {
    // The browser starts first: its start takes seconds on a fresh machine, and
    // the page must open while the baseline is collected. 200 baseline rows at 1 s
    // replayed 8x: 25 s of collecting, for a page that loads in about one; then
    // the planted spike and its incident arrive live. With a receiver, each
    // incident shows its alert state.
    let browser = Browser::start();
    let watch = Watch::replay("8", &["--window-size", "200", "--alert-exec", "true"]);
    let origin = format!("http://{}", watch.address);
    browser.goto(&format!("{origin}/"));

    browser.wait_for(
        "const s = document.getElementById('state');
         const p = document.getElementById('baseline-progress');
         return s.dataset.state === 'collecting' && /collecting baseline \\d+\\/200/.test(s.textContent)
             && !p.hidden && p.value > 0;",
        "the collecting state with its progress",
    );
    browser.wait_for(
        "const s = document.getElementById('state').dataset.state;
         return s === 'monitoring' || s === 'finished';",
        "the monitoring state",
    );
    browser.wait_for(
        "return window.metricsDashboard.pointCount() > 100;",
        "points on the charts",
    );
    browser.wait_for(
        "return [...document.querySelectorAll('#feed > li')].some(li =>
             li.querySelector('.badge').textContent === 'critical'
             && li.querySelector('.reasons').textContent.includes('cpu_percent 9'));",
        "the planted anomaly in the feed",
    );
    browser.wait_for(
        "return [...document.querySelectorAll('#feed > li')].some(li =>
             li.querySelector('.badge').textContent === 'critical'
             && li.querySelector('.alert-cancelled')?.textContent.includes('ended within the pending time'));",
        "the 7-second incident marked as not alerted",
    );
    // The feed lists incidents, one entry each, summed up in one line.
    let entries = browser.eval(
        "const ids = [...document.querySelectorAll('#feed > li')].map(li => li.dataset.id);
         const critical = [...document.querySelectorAll('#feed > li')].find(li =>
             li.querySelector('.badge').textContent === 'critical');
         return [ids.length, new Set(ids).size, critical.querySelector('.reasons').textContent];",
    );
    assert_eq!(entries[0], entries[1], "one entry per incident: {entries}");
    assert!(
        entries[2]
            .as_str()
            .unwrap()
            .starts_with("critical anomaly on cpu_percent"),
        "{entries}"
    );
    let first_card = browser.eval(
        "return document.querySelector('.card[data-metric=cpu_percent] .value').textContent;",
    );
    assert_ne!(first_card, "–", "the CPU card shows a value");

    // Clicking the anomaly marks its moment on the charts.
    browser.eval(
        "[...document.querySelectorAll('#feed > li')].find(li =>
             li.querySelector('.badge').textContent === 'critical').click(); return true;",
    );
    let highlighted = browser.eval("return window.metricsDashboard.highlight;");
    assert!(highlighted.as_i64().unwrap() >= 1_736_157_800_000);

    // An upload whose flagged row carries markup: shown as text, run never.
    let dir = tempfile::tempdir().unwrap();
    let upload = hostile_upload(dir.path());
    browser.type_into("#upload-file", upload.to_str().unwrap());
    browser.click("#upload-button");
    browser.wait_for(
        "return !document.getElementById('upload-result').hidden;",
        "the results table",
    );
    assert_eq!(browser.alert_text(), None, "no alert ran");
    let cells = browser.eval(
        "return [...document.querySelectorAll('#upload-table td')].map(td => td.textContent);",
    );
    assert!(
        cells
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "<img src=x onerror=alert(1)>"),
        "the markup shows as text: {cells}"
    );
    let images = browser.eval("return document.querySelectorAll('img').length;");
    assert_eq!(images, 0, "no element was made from the upload");
    let summary = browser.eval("return document.getElementById('upload-summary').textContent;");
    assert!(
        summary.as_str().unwrap().contains("hostile.csv: 120 rows"),
        "{summary}"
    );

    // A bad upload: the server's words, as the command line gives them.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "timestamp,cpu_percent\n2024-01-01T00:00:00Z,1\n2024-01-01T00:00:01Z,abc\n",
    )
    .unwrap();
    browser.type_into("#upload-file", bad.to_str().unwrap());
    browser.click("#upload-button");
    browser.wait_for(
        "const e = document.getElementById('upload-error');
         return !e.hidden && e.textContent.startsWith('bad.csv:3:2:');",
        "the upload error",
    );

    // Nothing was fetched from any other host.
    let foreign = browser.eval(&format!(
        "return performance.getEntriesByType('resource').map(e => e.name)
             .filter(n => !n.startsWith('{origin}/'));"
    ));
    assert_eq!(foreign, serde_json::json!([]));

    browser.eval("window.scrollTo(0, 0); document.getElementById('upload-result').hidden = true; return true;");
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    browser.screenshot(&shot);
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);

    // At phone width nothing sticks out sideways.
    browser.resize(390, 844);
    browser.wait_for(
        "return window.innerWidth <= 400
             && document.documentElement.scrollWidth <= window.innerWidth;",
        "a page that fits a phone's width",
    );
    browser.screenshot(&shot.with_file_name("dashboard-phone.png"));
}

#[test]
fn after_the_server_restarts_the_page_reconnects_by_itself() {
    let mut first = Watch::replay("max", &[]);
    let port = first.address.rsplit(':').next().unwrap().to_string();
    let browser = Browser::start();
    browser.goto(&format!("http://{}/", first.address));
    browser.wait_for(
        "return document.getElementById('state').dataset.state === 'finished';",
        "the first session",
    );
    assert!(first.interrupt().0.success());
    browser.wait_for(
        "const s = document.getElementById('state');
         return s.dataset.state === 'disconnected' && s.textContent.includes('reconnecting');",
        "the page to show it is disconnected",
    );
    let _second = Watch::replay("max", &["--port", &port]);
    browser.wait_for(
        "return window.metricsDashboard.connected
             && document.getElementById('state').dataset.state === 'finished';",
        "the page to reconnect to the new session",
    );
}

#[test]
fn no_line_is_drawn_across_a_pause_in_the_samples() {
    // Five minutes of a host, then two minutes without a sample (a restart, a
    // machine asleep), then 100 s more: each chart's line stops at the pause and
    // starts again after it, instead of joining the two sides.
    let dir = tempfile::tempdir().unwrap();
    let csv = host_csv(&[(400, Phase::Busy)]);
    let mut text = String::new();
    for (i, line) in csv.lines().enumerate() {
        if i <= 300 {
            text += line;
        } else {
            let (time, rest) = line.split_once(',').unwrap();
            let t = metrics::timestamp::parse(time).unwrap() + 120_000;
            text += &format!("{},{rest}", metrics::timestamp::to_iso(t));
        }
        text.push('\n');
    }
    let file = dir.path().join("paused.csv");
    std::fs::write(&file, text).unwrap();
    let watch = Watch::start(&["--replay", file.to_str().unwrap(), "--speed", "max"]);
    let browser = Browser::start();
    browser.goto(&format!("http://{}/", watch.address));
    browser.wait_for(
        "return document.getElementById('state').dataset.state === 'finished'
             && window.metricsDashboard.lineBreaks() > 0;",
        "the rows after the pause on the charts",
    );
    let breaks = browser.eval("return window.metricsDashboard.lineBreaks();");
    assert_eq!(breaks, 4, "one break in each of the four charts");
}
