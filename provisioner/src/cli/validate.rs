//! `kickstand validate [--format text|json] KICKSTART...`

use super::{EXIT_INVALID, EXIT_OK, EXIT_UNREADABLE};
use kickstand_grammar::{Diagnostic, FileLoader, Parsed, parse_bytes};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// rustc-like diagnostics with the source line, on stderr; a summary per file.
    Text,
    /// One JSON object per file on stdout: file, valid, diagnostics, kickstart.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Kickstart files (`-` reads standard input).
    #[arg(required = true, value_name = "KICKSTART")]
    pub files: Vec<PathBuf>,
}

/// The JSON shape of one diagnostic.
#[derive(Debug, serde::Serialize)]
struct JsonDiagnostic<'a> {
    severity: kickstand_grammar::Severity,
    file: &'a str,
    line: usize,
    column: usize,
    message: &'a str,
}

/// The JSON shape of one validated file.
#[derive(Debug, serde::Serialize)]
struct JsonReport<'a> {
    file: String,
    valid: bool,
    diagnostics: Vec<JsonDiagnostic<'a>>,
    kickstart: Option<&'a kickstand_grammar::Kickstart>,
}

pub fn run(args: &ValidateArgs) -> i32 {
    let mut status = EXIT_OK;
    let stdout = std::io::stdout();
    for file in &args.files {
        let name = file.display().to_string();
        let bytes = match read(file) {
            Ok(b) => b,
            Err(e) => {
                status = EXIT_UNREADABLE;
                let message = format!("cannot read {name}: {e}");
                match args.format {
                    Format::Text => eprintln!("error: {message}"),
                    Format::Json => {
                        let report = serde_json::json!({
                            "file": name, "valid": false,
                            "diagnostics": [{"severity": "error", "file": name, "line": 0,
                                             "column": 0, "message": message}],
                            "kickstart": null,
                        });
                        let _ = writeln!(stdout.lock(), "{report}");
                    }
                }
                continue;
            }
        };
        let parsed = parse_bytes(&name, &bytes, &FileLoader);
        if parsed.has_errors() && status == EXIT_OK {
            status = EXIT_INVALID;
        }
        match args.format {
            Format::Text => print_text(&name, &parsed),
            Format::Json => {
                let report = json_report(&name, &parsed);
                let line = serde_json::to_string(&report).expect("the report serializes");
                let _ = writeln!(stdout.lock(), "{line}");
            }
        }
    }
    status
}

fn json_report<'a>(name: &str, parsed: &'a Parsed) -> JsonReport<'a> {
    JsonReport {
        file: name.to_string(),
        valid: !parsed.has_errors(),
        diagnostics: parsed
            .diagnostics
            .iter()
            .map(|d: &'a Diagnostic| JsonDiagnostic {
                severity: d.severity,
                file: &d.file,
                line: d.line,
                column: d.column,
                message: &d.message,
            })
            .collect(),
        kickstart: Some(&parsed.kickstart),
    }
}

fn print_text(name: &str, parsed: &Parsed) {
    let mut err = std::io::stderr().lock();
    for d in &parsed.diagnostics {
        let _ = writeln!(err, "{}", d.render());
    }
    let errors = parsed.errors().count();
    let warnings = parsed.warnings().count();
    let _ = if errors == 0 {
        writeln!(
            err,
            "{name}: valid ({warnings} warning{})",
            plural(warnings)
        )
    } else {
        writeln!(
            err,
            "{name}: invalid ({errors} error{}, {warnings} warning{})",
            plural(errors),
            plural(warnings)
        )
    };
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Reads a kickstart (or stdin for `-`), refusing files over the grammar's size limit.
pub fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    if path == Path::new("-") {
        use std::io::Read;
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .take(kickstand_grammar::MAX_INPUT_BYTES as u64 + 1)
            .read_to_end(&mut bytes)?;
        return Ok(bytes);
    }
    kickstand_grammar::read_limited(path)
}
