//! Passphrases and passwords kept out of diagnostics: the source line a diagnostic quotes has
//! the value of every `--passphrase`/`--password` option (or an abbreviation of one) replaced
//! by `*`, one per character, so the caret under the line still points at the right column.
//! Diagnostics end up in logs, install events and the provisioner's logs.

use crate::lexer;

/// Options whose values are secret.
const SECRET_OPTIONS: &[&str] = &["--passphrase", "--password"];

/// Is `name` (before any `=`) one of [`SECRET_OPTIONS`] or an abbreviation argparse could
/// expand to one (`--pa`, `--passp`)?
fn is_secret_option(name: &str) -> bool {
    name.len() >= 4 && SECRET_OPTIONS.iter().any(|o| o.starts_with(name))
}

/// `line` with secret option values masked.
pub fn redact(line: &str) -> String {
    if !line.contains("--pa") {
        return line.to_string();
    }
    let mut chars: Vec<char> = line.chars().collect();
    fn mask(chars: &mut [char], from: usize, to: usize) {
        for c in chars.iter_mut().take(to).skip(from) {
            *c = '*';
        }
    }
    let Ok(words) = lexer::split(line) else {
        // An unclosed quote: hide everything after the first secret-looking option.
        let at = line.find("--pa").unwrap_or(line.len());
        let start = line[..at].chars().count();
        mask(&mut chars, start, usize::MAX);
        return chars.into_iter().collect();
    };
    for (i, w) in words.iter().enumerate() {
        let name = w.text.split('=').next().unwrap_or_default();
        if !w.text.starts_with("--") || !is_secret_option(name) {
            continue;
        }
        let start = w.column - 1;
        if w.text.contains('=') {
            // Mask from the `=` as written (quotes may come before it) to the word's end.
            let raw: String = chars[start..start + w.len].iter().collect();
            let eq = raw.chars().position(|c| c == '=').unwrap_or(w.len - 1);
            mask(&mut chars, start + eq + 1, start + w.len);
        } else if let Some(v) = words.get(i + 1) {
            mask(&mut chars, v.column - 1, v.column - 1 + v.len);
        }
    }
    chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn secret_values_are_masked_in_place() {
        assert_eq!(
            redact("logvol / --passphrase=abc --name=x"),
            "logvol / --passphrase=*** --name=x"
        );
        assert_eq!(
            redact("part / --passp 'a b' --size=1"),
            "part / --passp ***** --size=1"
        );
        assert_eq!(
            redact("user --name=a --password=\"p w\""),
            "user --name=a --password=*****"
        );
        assert_eq!(redact("raid / --pass=\"x"), "raid / *********");
        assert_eq!(redact("part / --size=1"), "part / --size=1");
        // Not an abbreviation of a secret option.
        assert_eq!(redact("part / --pbkdf=argon2id"), "part / --pbkdf=argon2id");
    }

    #[test]
    fn diagnostics_quote_lines_without_the_passphrase() {
        let parsed = crate::parse(
            "ks.cfg",
            "logvol / --vgname=vg --name=root --size=5 --encrypted --passphrase=hunter22 --bogus\n",
            &crate::NoIncludes,
        );
        let d = &parsed.diagnostics[0];
        assert!(d.source_line.contains("--passphrase=********"), "{d:?}");
        assert!(!d.to_string().contains("hunter22"), "{d}");
    }
}
