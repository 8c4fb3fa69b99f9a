//! Kickstart parser: the pest grammar, the typed AST, diagnostics with file:line:col, `%include`
//! resolution through a caller-supplied loader, and a serializer back to Kickstart text.
//!
//! It follows pykickstart's RHEL 10 handler (the reference parser Anaconda uses): shell-style
//! word splitting, `#` comments, abbreviated long options, last-wins for single commands, the
//! same checks and conflicts. Where Kickstand is stricter or kinder it says so in a diagnostic.
//!
//! # API
//!
//! ```
//! use kickstand_grammar::{parse, FileLoader, Severity};
//!
//! let parsed = parse("ks.cfg", "lang en_US.UTF-8\nrebot\n", &FileLoader);
//! assert!(parsed.has_errors());
//! let d = &parsed.diagnostics[0];
//! assert_eq!((d.severity, d.line, d.column), (Severity::Error, 2, 1));
//! assert_eq!(parsed.kickstart.lang.unwrap().lang, "en_US.UTF-8");
//! ```
//!
//! - [`parse`] / [`parse_bytes`]: text (or raw bytes, checked for UTF-8) to a [`Parsed`]: the
//!   [`Kickstart`] AST (as complete as the input allowed) and every [`Diagnostic`]. Parsing never
//!   stops at the first bad command; it never panics and never fails as a whole.
//! - [`Loader`]: how `%include` and `%ksappend` targets are read. [`FileLoader`] reads files
//!   relative to the including file; [`NoIncludes`] refuses every include.
//! - [`print`]: the AST back to Kickstart text; `parse(print(ast)) == ast`.
//! - [`flatten`]: the input with every `%include` replaced by the included text (ksflatten).
//! - The AST derives `serde::Serialize` (`kickstand validate --format json`).
//!
//! The grammar does no I/O of its own: everything it reads beyond the given text comes through
//! the loader.

mod ast;
mod commands;
mod diagnostic;
mod flatten;

mod lexer;
mod loader;

mod options;
mod parser;
mod printer;
mod redact;
mod sections;

pub use ast::*;
pub use diagnostic::{Diagnostic, Severity};
pub use flatten::{Flattened, flatten};
pub use loader::{FileLoader, LoadError, Loaded, Loader, NoIncludes, read_limited};
pub use printer::print;

/// Include nesting deeper than this is an error (Anaconda has no limit; a loop of includes
/// would never end).
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// Input files (and the whole kickstart with its includes) larger than this are refused.
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;

/// The result of parsing: the AST and everything worth telling the user.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// The kickstart, with every command that parsed; commands with errors are left out.
    pub kickstart: Kickstart,
    /// Errors and warnings in the order they were found.
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    /// True when any diagnostic is an error (warnings do not count).
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// The error diagnostics.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }

    /// The warning diagnostics.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }
}

/// Parses kickstart `text` named `name` (used in diagnostics and to resolve relative includes).
pub fn parse(name: &str, text: &str, loader: &dyn Loader) -> Parsed {
    parser::parse(name, text, loader)
}

/// Like [`parse`], for raw bytes: invalid UTF-8 and NUL bytes are reported with their position
/// instead of being replaced.
pub fn parse_bytes(name: &str, bytes: &[u8], loader: &dyn Loader) -> Parsed {
    parse_bytes_with(name, bytes, loader, false)
}

/// [`parse_bytes`] once the `%pre` scripts ran (the installer's second parse): an `%include`
/// that still cannot be read is an error, even though the kickstart has `%pre` scripts.
pub fn parse_bytes_after_pre(name: &str, bytes: &[u8], loader: &dyn Loader) -> Parsed {
    parse_bytes_with(name, bytes, loader, true)
}

fn parse_bytes_with(name: &str, bytes: &[u8], loader: &dyn Loader, after_pre: bool) -> Parsed {
    match loader::decode(name, bytes) {
        Ok(text) => parser::parse_with(name, &text, loader, after_pre),
        Err(diagnostic) => Parsed {
            kickstart: Kickstart::default(),
            diagnostics: vec![*diagnostic],
        },
    }
}
