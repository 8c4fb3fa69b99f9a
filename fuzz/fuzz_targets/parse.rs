//! `cargo +nightly fuzz run parse`: arbitrary bytes through parse_bytes, print and flatten.
//! Includes are served from the input itself (a few fixed names), so cycles, depth and
//! missing files are exercised too.

#![no_main]

use kickstand_grammar::{LoadError, Loaded, Loader, flatten, parse, parse_bytes, print};
use libfuzzer_sys::fuzz_target;

struct SelfLoader<'a>(&'a [u8]);

impl Loader for SelfLoader<'_> {
    fn load(&self, target: &str, _from: &str) -> Result<Loaded, LoadError> {
        match target {
            "a.ks" | "b.ks" => Ok(Loaded {
                name: target.to_string(),
                bytes: self.0.to_vec(),
            }),
            "half.ks" => Ok(Loaded {
                name: target.to_string(),
                bytes: self.0[..self.0.len() / 2].to_vec(),
            }),
            _ => Err(LoadError::NotFound(target.to_string())),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let loader = SelfLoader(data);
    let parsed = parse_bytes("fuzz.ks", data, &loader);
    for d in &parsed.diagnostics {
        let _ = d.render();
    }
    if !parsed.has_errors() {
        // What parses cleanly must print to text that parses to the same AST.
        let text = print(&parsed.kickstart);
        let again = parse("printed.ks", &text, &loader);
        assert_eq!(again.kickstart, parsed.kickstart, "printed as:\n{text}");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = flatten("fuzz.ks", text, &loader);
    }
});
