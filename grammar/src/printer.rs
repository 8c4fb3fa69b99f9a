//! The AST back to Kickstart text.
use crate::Kickstart;

/// Kickstart text for `ks`.
pub fn print(_ks: &Kickstart) -> String {
    String::new()
}
