//! Data-driven parser tests: every `data/NAME.ks` is parsed and compared with `NAME.expected`
//! (pykickstart's recorded verdict, then Kickstand's diagnostics) and `NAME.json` (the AST).
//!
//! The first line of `NAME.expected` is what pykickstart 3.x (RHEL 10 handler, ksvalidator
//! semantics) said about the file, recorded with `tests/pykickstart_verdict.py`:
//! `pykickstart: ok` or `pykickstart: error LINE` (`?` when it gave no line). Kickstand must
//! agree on error vs no error and on the first error's line, unless the `.ks` file starts with
//! `# diverges: REASON`. The rest (after `---`) is Kickstand's diagnostics; regenerate it and the
//! JSON with `KICKSTAND_BLESS=1 cargo test -p kickstand-grammar --test data` and review the diff.

use kickstand_grammar::{Diagnostic, LoadError, Loaded, Loader, parse_bytes};
use std::path::{Path, PathBuf};

/// Reads includes relative to the data directory and names them relative to it, so the
/// expectations do not depend on where the repository is checked out.
struct DataLoader {
    dir: PathBuf,
}

impl Loader for DataLoader {
    fn load(&self, target: &str, from: &str) -> Result<Loaded, LoadError> {
        let base = Path::new(from).parent().unwrap_or(Path::new(""));
        let rel = if Path::new(target).is_absolute() {
            PathBuf::from(target)
        } else {
            base.join(target)
        };
        let path = self.dir.join(&rel);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Loaded {
                name: rel.display().to_string(),
                bytes,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(LoadError::NotFound(rel.display().to_string()))
            }
            Err(e) => Err(LoadError::Io {
                path: rel.display().to_string(),
                source: e,
            }),
        }
    }
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| {
            format!(
                "{} {}:{}:{}: {}\n",
                d.severity, d.file, d.line, d.column, d.message
            )
        })
        .collect()
}

/// Checks one case; returns a description of every mismatch.
fn check(name: &str, bless: bool) -> Vec<String> {
    let dir = data_dir();
    let ks_file = format!("{name}.ks");
    let bytes = std::fs::read(dir.join(&ks_file)).expect("case file");
    let parsed = parse_bytes(&ks_file, &bytes, &DataLoader { dir: dir.clone() });
    let mut problems = Vec::new();

    let expected_path = dir.join(format!("{name}.expected"));
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    let (verdict, want_diags) = expected.split_once("---\n").unwrap_or((&expected, ""));
    let got_diags = render(&parsed.diagnostics);
    let json_path = dir.join(format!("{name}.json"));
    let got_json = serde_json::to_string_pretty(&parsed.kickstart).expect("serializes") + "\n";
    if bless {
        std::fs::write(&expected_path, format!("{verdict}---\n{got_diags}")).expect("bless");
        std::fs::write(&json_path, &got_json).expect("bless");
    } else {
        if want_diags != got_diags {
            problems.push(format!(
                "diagnostics differ\n--- expected\n{want_diags}--- got\n{got_diags}"
            ));
        }
        let want_json = std::fs::read_to_string(&json_path).unwrap_or_default();
        if want_json != got_json {
            problems.push(format!(
                "AST differs\n--- expected\n{want_json}--- got\n{got_json}"
            ));
        }
    }

    // Agreement with pykickstart.
    let text = String::from_utf8_lossy(&bytes);
    if text.starts_with("# diverges:") {
        return problems;
    }
    let verdict = verdict.lines().next().unwrap_or_default();
    let verdict = verdict.split('#').next().unwrap_or_default().trim();
    let first_error = parsed.errors().next();
    match verdict.strip_prefix("pykickstart: ").unwrap_or("missing") {
        "ok" => {
            if let Some(e) = first_error {
                problems.push(format!(
                    "pykickstart accepts this file, Kickstand says: {e}"
                ));
            }
        }
        v if v.starts_with("error") => {
            let line = v["error".len()..].trim();
            match first_error {
                None => problems.push(format!(
                    "pykickstart reports an error (line {line}), Kickstand none"
                )),
                Some(e) if line != "?" && line != "0" && line != e.line.to_string() => problems
                    .push(format!(
                        "pykickstart's first error is on line {line}, Kickstand's: {e}"
                    )),
                Some(_) => {}
            }
        }
        other => problems.push(format!("no pykickstart verdict recorded ({other:?})")),
    }
    problems
}

#[test]
fn data_cases() {
    let bless = std::env::var_os("KICKSTAND_BLESS").is_some();
    let mut names: Vec<String> = std::fs::read_dir(data_dir())
        .expect("data dir")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".ks").map(String::from)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 150, "only {} data cases", names.len());
    let mut failures = Vec::new();
    for name in &names {
        for problem in check(name, bless) {
            failures.push(format!("{name}: {problem}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        names.len(),
        failures.join("\n\n")
    );
}
