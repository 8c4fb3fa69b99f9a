//! `kickstand flatten KICKSTART`: the kickstart with every `%include` resolved, on stdout.

use super::{EXIT_INVALID, EXIT_OK, EXIT_UNREADABLE};
use kickstand_grammar::{FileLoader, flatten, parse};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct FlattenArgs {
    /// The kickstart file (`-` reads standard input).
    #[arg(value_name = "KICKSTART")]
    pub file: PathBuf,
}

/// Prints the flattened text when the kickstart has no errors; otherwise prints the
/// diagnostics (on stderr) and nothing on stdout.
pub fn run(args: &FlattenArgs) -> i32 {
    let name = args.file.display().to_string();
    let bytes = match super::validate::read(&args.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read {name}: {e}");
            return EXIT_UNREADABLE;
        }
    };
    let parsed = kickstand_grammar::parse_bytes(&name, &bytes, &FileLoader);
    let text = String::from_utf8_lossy(&bytes);
    let flat = flatten(&name, &text, &FileLoader);
    // The flattened text must itself be a valid kickstart (it is what gets served).
    let reparsed = parse(&name, &flat.text, &FileLoader);
    let mut diagnostics: Vec<_> = parsed.diagnostics.iter().collect();
    for d in flat.diagnostics.iter().filter(|d| d.is_error()) {
        if !diagnostics.contains(&d) {
            diagnostics.push(d);
        }
    }
    for d in &diagnostics {
        eprintln!("{}", d.render());
    }
    if parsed.has_errors() || flat.has_errors() || reparsed.has_errors() {
        eprintln!("{name}: not flattened: fix the errors above");
        return EXIT_INVALID;
    }
    print!("{}", flat.text);
    EXIT_OK
}
