//! Errors and warnings with file, line, column and the offending source line.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One finding. `line` and `column` are 1-based (column counts characters); a diagnostic about
/// a whole file (unreadable, invalid UTF-8 before any line) has line 0 or 1 and column 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The file the line is in: the top-level name, or the `%include`d file's name.
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// How many characters the offending part spans (at least 1), for the caret line.
    pub length: usize,
    pub message: String,
    /// The offending line without its newline (empty when there is none).
    pub source_line: String,
}

impl Diagnostic {
    pub(crate) fn new(
        severity: Severity,
        file: &str,
        line: usize,
        column: usize,
        length: usize,
        message: impl Into<String>,
        source_line: &str,
    ) -> Self {
        Diagnostic {
            severity,
            file: file.to_string(),
            line,
            column: column.max(1),
            length: length.max(1),
            message: message.into(),
            source_line: source_line.trim_end_matches(['\n', '\r']).to_string(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// rustc-style rendering with the source line and a caret under the offending part:
    ///
    /// ```text
    /// error: Unknown command: rebot
    ///  --> ks.cfg:2:1
    ///   |
    /// 2 | rebot
    ///   | ^^^^^
    /// ```
    pub fn render(&self) -> String {
        let mut out = format!(
            "{}: {}\n --> {}:{}:{}\n",
            self.severity, self.message, self.file, self.line, self.column
        );
        if self.line == 0 || self.source_line.is_empty() {
            return out;
        }
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        // Tabs are shown as one space so the caret lines up.
        let shown: String = self
            .source_line
            .chars()
            .take(300)
            .map(|c| if c == '\t' || c.is_control() { ' ' } else { c })
            .collect();
        let caret_len = self
            .length
            .min(shown.chars().count().saturating_sub(self.column - 1))
            .max(1);
        out.push_str(&format!("{pad} |\n{num} | {shown}\n{pad} | "));
        out.push_str(&" ".repeat(self.column - 1));
        out.push_str(&"^".repeat(caret_len));
        out.push('\n');
        out
    }
}

/// `FILE:LINE:COL: error|warning: MESSAGE` (the one-line form).
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.severity, self.message
        )
    }
}
