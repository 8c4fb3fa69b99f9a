//! Option parsing for one command line, the way pykickstart's argparse-based `KSOptionParser`
//! does it: `--opt=value` and `--opt value`, unambiguous prefixes of long options, the last
//! occurrence wins, flags refuse `=value`, a value may not look like an option.

use crate::lexer::Word;

/// One long option a command accepts.
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    /// All spellings (`--ondisk`, `--ondrive`), without values.
    pub names: &'static [&'static str],
    /// The key the command reads it back by (several options may share one, e.g. `--all` and
    /// `--linux` both set `type`).
    pub dest: &'static str,
    /// Takes a value (`--size=10`) or is a flag (`--grow`).
    pub value: bool,
    /// For flags sharing a dest: the value they store (`--all` stores `all`).
    pub store: &'static str,
    /// Kept for old kickstarts: accepted with this warning.
    pub deprecated: Option<&'static str>,
}

/// A flag (`--grow`): stores `"1"` under its first name without dashes.
pub const fn flag(names: &'static [&'static str], dest: &'static str) -> Opt {
    Opt {
        names,
        dest,
        value: false,
        store: "1",
        deprecated: None,
    }
}

/// A flag storing a constant under a shared dest (`--all` → type=all).
pub const fn store(names: &'static [&'static str], dest: &'static str, v: &'static str) -> Opt {
    Opt {
        names,
        dest,
        value: false,
        store: v,
        deprecated: None,
    }
}

/// An option with a value (`--size=10`).
pub const fn value(names: &'static [&'static str], dest: &'static str) -> Opt {
    Opt {
        names,
        dest,
        value: true,
        store: "",
        deprecated: None,
    }
}

/// `opt` accepted with a deprecation warning.
pub const fn deprecated(opt: Opt, message: &'static str) -> Opt {
    Opt {
        deprecated: Some(message),
        ..opt
    }
}

/// One option as given: what it set, and the word that set it (for diagnostics).
#[derive(Debug, Clone)]
pub struct Given {
    pub dest: &'static str,
    pub value: String,
    pub word: Word,
}

/// The parsed options and positional arguments of one command line.
#[derive(Debug, Clone, Default)]
pub struct Matches {
    pub given: Vec<Given>,
    pub positional: Vec<Word>,
    /// Deprecation warnings: (word, message).
    pub deprecations: Vec<(Word, String)>,
}

/// An option error, pointing at the word that caused it.
#[derive(Debug, Clone)]
pub struct OptError {
    pub word: Word,
    pub message: String,
}

impl Matches {
    /// The last value stored under `dest`.
    pub fn get(&self, dest: &str) -> Option<&Given> {
        self.given.iter().rev().find(|g| g.dest == dest)
    }

    pub fn value(&self, dest: &str) -> Option<String> {
        self.get(dest).map(|g| g.value.clone())
    }

    pub fn flag(&self, dest: &str) -> bool {
        self.get(dest).is_some()
    }

    /// `--opt=a,b,c` split on commas (pykickstart's `commaSplit`: empty items dropped).
    pub fn list(&self, dest: &str) -> Vec<String> {
        self.get(dest)
            .map(|g| comma_split(&g.value))
            .unwrap_or_default()
    }

    /// An integer value the way Python's `int()` reads it (`" 5"`, `+5`, `5_0`).
    pub fn int<T: TryFrom<i128>>(&self, dest: &str) -> Result<Option<T>, OptError> {
        let Some(g) = self.get(dest) else {
            return Ok(None);
        };
        let name = g.word.text.split('=').next().unwrap_or_default();
        match parse_int(&g.value).and_then(|n| T::try_from(n).ok()) {
            Some(n) => Ok(Some(n)),
            None => Err(OptError {
                word: g.word.clone(),
                message: format!(
                    "argument {name}: invalid int value: '{}' (expected a non-negative whole number)",
                    g.value
                ),
            }),
        }
    }

    /// A value that must be one of `choices`.
    pub fn choice(&self, dest: &str, choices: &[&str]) -> Result<Option<String>, OptError> {
        let Some(g) = self.get(dest) else {
            return Ok(None);
        };
        if choices.contains(&g.value.as_str()) {
            return Ok(Some(g.value.clone()));
        }
        let name = g.word.text.split('=').next().unwrap_or_default();
        let list: Vec<String> = choices.iter().map(|c| format!("'{c}'")).collect();
        Err(OptError {
            word: g.word.clone(),
            message: format!(
                "argument {name}: invalid choice: '{}' (choose from {})",
                g.value,
                list.join(", ")
            ),
        })
    }
}

pub fn comma_split(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

/// Python `int()` on a string, limited to what fits an i128.
fn parse_int(s: &str) -> Option<i128> {
    let s = s.trim();
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let n: i128 = digits.replace('_', "").parse().ok()?;
    Some(if neg { -n } else { n })
}

/// Does `word` look like an option to argparse (so it cannot be a value)?
fn looks_like_option(word: &str) -> bool {
    word.starts_with('-') && word.len() > 1 && parse_int(word).is_none()
}

/// Parses `args` (the words after the command name) against `opts`.
pub fn parse(opts: &[Opt], args: &[Word]) -> Result<Matches, OptError> {
    let mut m = Matches::default();
    let mut i = 0;
    let mut only_positional = false;
    while i < args.len() {
        let word = &args[i];
        i += 1;
        if only_positional || !looks_like_option(&word.text) {
            m.positional.push(word.clone());
            continue;
        }
        if word.text == "--" {
            only_positional = true;
            continue;
        }
        let (name, inline) = match word.text.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (word.text.as_str(), None),
        };
        let opt = find(opts, name).map_err(|message| OptError {
            word: word.clone(),
            message,
        })?;
        let value = if opt.value {
            match inline {
                Some(v) => v,
                None => match args.get(i) {
                    Some(next) if !looks_like_option(&next.text) => {
                        i += 1;
                        next.text.clone()
                    }
                    _ => {
                        return Err(OptError {
                            word: word.clone(),
                            message: format!("argument {}: expected one argument", opt.names[0]),
                        });
                    }
                },
            }
        } else {
            if let Some(v) = inline {
                return Err(OptError {
                    word: word.clone(),
                    message: format!(
                        "argument {}: ignored explicit argument '{v}' ({} is a flag and takes no value)",
                        opt.names[0], opt.names[0]
                    ),
                });
            }
            opt.store.to_string()
        };
        if let Some(message) = opt.deprecated {
            m.deprecations.push((word.clone(), message.to_string()));
        }
        m.given.push(Given {
            dest: opt.dest,
            value,
            word: word.clone(),
        });
    }
    Ok(m)
}

/// The option named exactly `name`, or the only one it is a prefix of.
fn find<'a>(opts: &'a [Opt], name: &str) -> Result<&'a Opt, String> {
    if let Some(o) = opts.iter().find(|o| o.names.contains(&name)) {
        return Ok(o);
    }
    let mut matches: Vec<(&str, &Opt)> = Vec::new();
    if name.starts_with("--") && name.len() > 2 {
        for o in opts {
            for n in o.names {
                if n.starts_with(name) {
                    matches.push((n, o));
                }
            }
        }
    }
    match matches.as_slice() {
        [(_, o)] => Ok(o),
        [] => Err(format!("unrecognized arguments: {name}")),
        many => {
            let names: Vec<&str> = many.iter().map(|(n, _)| *n).collect();
            Err(format!(
                "ambiguous option: {name} could match {}",
                names.join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: &[Opt] = &[
        value(&["--ondisk", "--ondrive"], "ondisk"),
        value(&["--size"], "size"),
        flag(&["--grow"], "grow"),
        store(&["--all"], "type", "all"),
        store(&["--linux"], "type", "linux"),
    ];

    fn words(s: &str) -> Vec<Word> {
        crate::lexer::split(s).unwrap()
    }

    #[test]
    fn prefixes_values_and_last_wins() {
        let m = parse(OPTS, &words("/ --si 5 --gr --all --lin --ondisk=sda")).unwrap();
        assert_eq!(m.positional[0].text, "/");
        assert_eq!(m.int::<u64>("size").unwrap(), Some(5));
        assert!(m.flag("grow"));
        assert_eq!(m.value("type").as_deref(), Some("linux"));
        assert_eq!(m.value("ondisk").as_deref(), Some("sda"));
    }

    #[test]
    fn errors_like_argparse() {
        // pykickstart: "ambiguous option: --ond=sda could match --ondisk, --ondrive".
        assert!(
            parse(OPTS, &words("--ond=sda"))
                .unwrap_err()
                .message
                .contains("ambiguous")
        );
        assert!(parse(OPTS, &words("--grow=yes")).is_err());
        assert!(parse(OPTS, &words("--size --grow")).is_err());
        assert!(parse(OPTS, &words("--nope")).is_err());
        let m = parse(OPTS, &words("--size=5_0")).unwrap();
        assert_eq!(m.int::<u64>("size").unwrap(), Some(50));
        let m = parse(OPTS, &words("--size=x")).unwrap();
        assert!(m.int::<u64>("size").is_err());
    }
}
