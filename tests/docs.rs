//! What the documentation shows is what the binary does today: every file in
//! `samples/` is what its documented command makes, and every example output in
//! the README (a block opening with `$ metrics ...`) is what that command prints.

use std::path::PathBuf;

use assert_cmd::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn metrics() -> Command {
    let mut command = Command::cargo_bin("metrics").expect("the metrics binary is built");
    command.current_dir(root());
    command
}

/// The words of a documented command after `metrics`, split as a shell would split
/// these (no quotes in them).
fn words(line: &str) -> Vec<String> {
    let line = line.trim().trim_matches('`');
    let rest = line.strip_prefix("metrics ").expect("a metrics command");
    rest.split_whitespace().map(String::from).collect()
}

#[test]
fn every_sample_is_what_its_documented_command_makes() {
    let table = std::fs::read_to_string(root().join("samples/README.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (file, command) = (cells[1].trim_matches('`'), cells[2]);
        let mut args = words(command);
        // Written elsewhere, then compared with the file kept in the repository.
        let made = dir.path().join(file);
        let o = args
            .iter()
            .position(|a| a == "-o")
            .expect("an -o in the command");
        args[o + 1] = made.to_string_lossy().into_owned();
        metrics().args(&args).arg("--quiet").assert().success();
        let kept = std::fs::read(root().join("samples").join(file)).unwrap();
        assert!(
            std::fs::read(&made).unwrap() == kept,
            "samples/{file} is not what `{command}` makes today: run it again"
        );
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} samples found");
}

#[test]
fn every_example_output_in_the_readme_is_what_its_command_prints() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    let mut checked = 0;
    for (at, line) in lines.iter().enumerate() {
        let Some(command) = line.strip_prefix("$ ") else {
            continue;
        };
        let shown: Vec<&str> = lines[at + 1..]
            .iter()
            .take_while(|l| !l.starts_with("```"))
            .copied()
            .collect();
        let output = metrics().args(words(command)).output().unwrap();
        assert!(output.status.success(), "`{command}` failed");
        let printed = String::from_utf8_lossy(&output.stderr).into_owned();
        // Timings differ from run to run; everything else must match.
        let timeless = |l: &&str| !l.starts_with("time: ");
        assert_eq!(
            printed.lines().filter(timeless).collect::<Vec<_>>(),
            shown.into_iter().filter(timeless).collect::<Vec<_>>(),
            "README.md:{}: `{command}` prints something else today: paste its output",
            at + 1
        );
        checked += 1;
    }
    assert!(checked >= 1, "no example output found in the README");
}
