//! Validation of a rendered kickstart before it is served (kickstand-grammar, the same parser
//! as `kickstand validate` and the installer): errors stop it (the machine gets a 500, never a
//! broken install), warnings are logged and it is served.

use kickstand_grammar::{LoadError, Loaded, Loader};

/// `%include` files cannot be read here: they live on the machine (often written by `%pre`).
/// They are treated as empty for validation and checked again by the installer.
#[derive(Debug)]
struct OnTheMachine;

impl Loader for OnTheMachine {
    fn load(&self, target: &str, _from: &str) -> Result<Loaded, LoadError> {
        Ok(Loaded {
            name: target.to_string(),
            bytes: Vec::new(),
        })
    }
}

/// Parses `text` (named `name` in messages) as the machine will: `%include`s are left to the
/// installer, which reads them on the machine.
pub fn parse(name: &str, text: &str) -> kickstand_grammar::Parsed {
    kickstand_grammar::parse(name, text, &OnTheMachine)
}

/// Checks `text` (named `name` in messages). `Ok` carries the warnings, `Err` the errors, each
/// rendered as `NAME:LINE:COL: severity: message`.
pub fn check(name: &str, text: &str) -> Result<Vec<String>, Vec<String>> {
    let parsed = parse(name, text);
    let warnings: Vec<String> = parsed.warnings().map(ToString::to_string).collect();
    if parsed.has_errors() {
        let mut all: Vec<String> = parsed.errors().map(ToString::to_string).collect();
        all.extend(warnings);
        return Err(all);
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn errors_block_warnings_pass() {
        assert_eq!(check("ks", "reboot\n"), Ok(vec![]));
        let err = check("web.ks", "rebot\n").unwrap_err();
        assert!(
            err[0].starts_with("web.ks:1:1: error: Unknown command: rebot"),
            "{err:?}"
        );
        let ok = check("ks", "reboot\n%include /tmp/part-include\n").unwrap();
        assert!(ok.iter().all(|w| !w.contains("error")), "{ok:?}");
    }
}
