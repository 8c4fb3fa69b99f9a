//! Hostile input: each gives a clear error, never a panic, and memory stays bounded.

use kickstand_grammar::*;
use std::collections::HashMap;

/// Includes served from memory.
struct MapLoader(HashMap<String, Vec<u8>>);

impl Loader for MapLoader {
    fn load(&self, target: &str, _from: &str) -> Result<Loaded, LoadError> {
        self.0
            .get(target)
            .map(|b| Loaded {
                name: target.to_string(),
                bytes: b.clone(),
            })
            .ok_or_else(|| LoadError::NotFound(target.to_string()))
    }
}

#[test]
fn ten_thousand_nested_includes_stop_at_the_depth_limit() {
    let files: HashMap<String, Vec<u8>> = (0..10_000)
        .map(|i| {
            (
                format!("f{i}.ks"),
                format!("%include f{}.ks\n", i + 1).into_bytes(),
            )
        })
        .collect();
    let loader = MapLoader(files);
    let parsed = parse("top.ks", "lang en_US\n%include f0.ks\n", &loader);
    let errors: Vec<_> = parsed.errors().collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]
            .message
            .contains(&format!("nested more than {MAX_INCLUDE_DEPTH} levels"))
    );
    assert_eq!(errors[0].line, 1);
    assert_eq!(parsed.kickstart.lang.unwrap().lang, "en_US");

    let flat = flatten("top.ks", "%include f0.ks\n", &loader);
    assert!(flat.has_errors());
}

#[test]
fn include_fan_out_is_bounded() {
    // Each level includes the next one ten times: 10^6 includes if nothing stopped it.
    let mut files = HashMap::new();
    for i in 0..6 {
        files.insert(
            format!("l{i}.ks"),
            format!("%include l{}.ks\n", i + 1).repeat(10).into_bytes(),
        );
    }
    files.insert("l6.ks".to_string(), b"zerombr\n".to_vec());
    let parsed = parse("top.ks", "%include l0.ks\n", &MapLoader(files));
    assert!(
        parsed
            .errors()
            .any(|d| d.message.contains("%include directives"))
    );
    assert!(parsed.diagnostics.len() <= 502);
}

#[test]
fn include_cycles_are_errors() {
    let files = HashMap::from([
        ("a.ks".to_string(), b"%include b.ks\n".to_vec()),
        ("b.ks".to_string(), b"\n%include a.ks\n".to_vec()),
    ]);
    let parsed = parse("top.ks", "%include a.ks\n", &MapLoader(files));
    let e = parsed.errors().next().expect("a cycle error");
    assert_eq!((e.file.as_str(), e.line), ("b.ks", 2));
    assert!(
        e.message
            .contains("cycle: top.ks → a.ks → b.ks includes a.ks again"),
        "{}",
        e.message
    );
}

#[test]
fn binary_garbage_is_refused_with_its_position() {
    let mut garbage = b"lang en_US\nreboot\n".to_vec();
    garbage.extend((0..10_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8));
    let parsed = parse_bytes("garbage.ks", &garbage, &NoIncludes);
    let e = parsed.errors().next().expect("an error");
    assert!(e.line >= 3, "{e}");
    assert!(
        e.message.contains("NUL byte") || e.message.contains("invalid UTF-8"),
        "{e}"
    );
}

#[test]
fn printable_garbage_gives_bounded_errors() {
    let text: String = (0..200_000u32)
        .map(|i| char::from(b"ab %#\"'\\\n-="[(i.wrapping_mul(2_654_435_761) >> 9) as usize % 11]))
        .collect();
    let parsed = parse("noise.ks", &text, &NoIncludes);
    assert!(parsed.has_errors());
    assert!(
        parsed.diagnostics.len() <= 502,
        "{}",
        parsed.diagnostics.len()
    );
}

#[test]
fn thousands_of_errors_are_summarised() {
    let parsed = parse(
        "typos.ks",
        &"rebot
"
        .repeat(5000),
        &NoIncludes,
    );
    assert_eq!(parsed.diagnostics.len(), 501);
    let last = parsed.diagnostics.last().unwrap();
    assert_eq!(last.message, "4500 more diagnostics were not shown");
}

#[test]
fn invalid_utf8_names_line_and_column() {
    let parsed = parse_bytes(
        "latin1.ks",
        b"lang de_DE\nuser --name=j\xf6rg\n",
        &NoIncludes,
    );
    let e = parsed.errors().next().unwrap();
    assert_eq!((e.line, e.column), (2, 14));
    assert!(
        e.message.contains("invalid UTF-8 (byte 0xf6)"),
        "{}",
        e.message
    );
    assert_eq!(e.source_line, "user --name=j");
}

#[test]
fn a_100_mb_kickstart_is_refused() {
    let big = vec![b'#'; 100 * 1024 * 1024];
    let parsed = parse_bytes("big.ks", &big, &NoIncludes);
    let e = parsed.errors().next().unwrap();
    assert!(e.message.contains("refused"), "{}", e.message);
}

#[test]
fn a_huge_include_is_refused_by_the_file_loader() {
    let dir = std::env::temp_dir().join(format!("kickstand-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big.ks");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(100 * 1024 * 1024)
        .unwrap();
    let top = dir.join("top.ks");
    let parsed = parse(&top.display().to_string(), "%include big.ks\n", &FileLoader);
    let _ = std::fs::remove_dir_all(&dir);
    let e = parsed.errors().next().expect("an error");
    assert!(e.message.contains("larger than"), "{}", e.message);
}

#[test]
fn a_long_line_parses() {
    let text = format!("rootpw {}\n", "x".repeat(1024 * 1024));
    let parsed = parse("long.ks", &text, &NoIncludes);
    assert!(!parsed.has_errors());
}

#[test]
fn an_include_pre_did_not_write_is_an_error_once_pre_ran() {
    let ks = b"%include /tmp/part-include\n%pre\necho hi\n%end\n";
    let loader = MapLoader(HashMap::new());
    // Before %pre: a file %pre may still write, a warning.
    let before = parse_bytes("ks.cfg", ks, &loader);
    assert!(!before.has_errors());
    assert_eq!(before.warnings().count(), 1);
    // After %pre: an error naming the file, at the %include's line and column.
    let after = parse_bytes_after_pre("ks.cfg", ks, &loader);
    let errors: Vec<String> = after.errors().map(|e| e.to_string()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("ks.cfg:1:10: error: cannot read %include /tmp/part-include")
            && errors[0].contains("the %pre scripts ran and did not write it"),
        "{errors:?}"
    );
    // With the file there, both parses are clean.
    let loader = MapLoader(HashMap::from([(
        "/tmp/part-include".to_string(),
        b"autopart\n".to_vec(),
    )]));
    assert!(!parse_bytes_after_pre("ks.cfg", ks, &loader).has_errors());
}
