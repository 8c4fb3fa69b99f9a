//! `%include` resolved into one text, like pykickstart's ksflatten (but keeping the file's own
//! lines, comments and order instead of regenerating them).

use crate::diagnostic::{Diagnostic, Severity};
use crate::lexer;
use crate::loader::{Loader, decode};
use crate::{MAX_INCLUDE_DEPTH, MAX_INPUT_BYTES};

/// A flattened kickstart and what was found while flattening.
#[derive(Debug, Clone, Default)]
pub struct Flattened {
    pub text: String,
    /// Errors mean `text` is incomplete (an include could not be read, a cycle, a limit).
    pub diagnostics: Vec<Diagnostic>,
}

impl Flattened {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// `text` with every `%include` and `%ksappend` line replaced by the included file's text
/// (recursively); every other line is copied unchanged.
pub fn flatten(name: &str, text: &str, loader: &dyn Loader) -> Flattened {
    let mut f = Flattened::default();
    let mut stack = vec![name.to_string()];
    expand(name, text, loader, &mut stack, &mut f);
    f
}

fn expand(name: &str, text: &str, loader: &dyn Loader, stack: &mut Vec<String>, f: &mut Flattened) {
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let line = raw.trim_end_matches(['\n', '\r']);
        let trimmed = line.trim_start();
        let directive = trimmed.starts_with("%include") || trimmed.starts_with("%ksappend");
        let words = if directive {
            lexer::split(line).ok()
        } else {
            None
        };
        let target = words.as_ref().and_then(|w| {
            let first = w.first()?;
            matches!(first.text.as_str(), "%include" | "%ksappend").then(|| w.get(1).cloned())?
        });
        let Some(target) = target else {
            f.text.push_str(line);
            f.text.push('\n');
            continue;
        };
        let error = |message: String| {
            Diagnostic::new(
                Severity::Error,
                name,
                i + 1,
                target.column,
                target.len,
                message,
                line,
            )
        };
        if stack.len() > MAX_INCLUDE_DEPTH {
            f.diagnostics.push(error(format!(
                "%include nested more than {MAX_INCLUDE_DEPTH} levels deep: {}",
                stack.join(" → ")
            )));
            continue;
        }
        let loaded = match loader.load(&target.text, name) {
            Ok(l) => l,
            Err(e) => {
                f.diagnostics.push(error(format!(
                    "cannot flatten %include {}: {e} (a file written by %pre cannot be flattened)",
                    target.text
                )));
                continue;
            }
        };
        if stack.contains(&loaded.name) {
            f.diagnostics.push(error(format!(
                "%include cycle: {} includes {} again",
                stack.join(" → "),
                loaded.name
            )));
            continue;
        }
        if f.text.len() + loaded.bytes.len() > MAX_INPUT_BYTES {
            f.diagnostics.push(error(format!(
                "the flattened kickstart would be over {MAX_INPUT_BYTES} bytes"
            )));
            continue;
        }
        match decode(&loaded.name, &loaded.bytes) {
            Ok(included) => {
                stack.push(loaded.name.clone());
                expand(&loaded.name, &included, loader, stack, f);
                stack.pop();
            }
            Err(d) => f.diagnostics.push(*d),
        }
    }
}
