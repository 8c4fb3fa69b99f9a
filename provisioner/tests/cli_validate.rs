//! `kickstand validate` and `kickstand flatten` run as the operator runs them: the real binary,
//! real files, exit statuses and output formats as DESIGN.md specifies.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kickstand() -> Command {
    // Under `cargo xtask test` the release binary is used; plain `cargo test` uses Cargo's.
    let bin = std::env::var_os("KICKSTAND_BIN_DIR")
        .map(|d| PathBuf::from(d).join("kickstand"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kickstand")));
    Command::new(bin)
}

fn run(args: &[&str]) -> Output {
    kickstand().args(args).output().expect("kickstand runs")
}

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/kickstarts");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/kickstarts")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "ks"))
        .collect();
    files.sort();
    files
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn every_example_is_valid() {
    let files = examples();
    assert!(files.len() >= 5, "examples: {files:?}");
    for file in &files {
        let out = run(&["validate", "--format", "json", file.to_str().unwrap()]);
        let reports = json_lines(&out);
        assert_eq!(reports.len(), 1);
        let r = &reports[0];
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            file.display(),
            serde_json::to_string_pretty(&r["diagnostics"]).unwrap()
        );
        assert_eq!(r["valid"], true);
        let errors = r["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["severity"] == "error")
            .count();
        assert_eq!(errors, 0);
    }
}

#[test]
fn examples_carry_what_they_promise() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/kickstarts");
    let get = |name: &str| {
        let out = run(&[
            "validate",
            "--format=json",
            dir.join(name).to_str().unwrap(),
        ]);
        json_lines(&out).remove(0)["kickstart"].clone()
    };
    let minimal = get("minimal-image-mode.ks");
    assert_eq!(minimal["users"][0]["name"], "admin-user");
    assert_eq!(minimal["users"][0]["groups"][0], "wheel");
    assert_eq!(minimal["clearpart"]["kind"], "all");
    assert_eq!(minimal["clearpart"]["initlabel"], true);
    assert!(minimal["autopart"].is_object());
    assert_eq!(minimal["action"]["kind"], "reboot");
    assert!(
        minimal["ostreecontainer"]["url"]
            .as_str()
            .unwrap()
            .contains("fedora-bootc")
    );

    let two = get("two-disks.ks");
    let disks: Vec<&str> = two["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ondisk"].as_str().unwrap())
        .collect();
    assert!(disks.contains(&"sda") && disks.contains(&"sdb"));

    let bootc = get("bootc-source-imgref.ks");
    assert!(
        bootc["bootc"]["source_imgref"]
            .as_str()
            .unwrap()
            .starts_with("oci:")
    );

    let net = get("static-network-post.ks");
    assert_eq!(net["network"][0]["bootproto"], "static");
    assert_eq!(net["scripts"][0]["erroronfail"], true);

    let pre = get("pre-generated-layout.ks");
    assert_eq!(pre["scripts"][0]["kind"], "pre");
}

#[test]
fn pre_written_include_is_a_warning() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/kickstarts");
    let out = run(&[
        "validate",
        dir.join("pre-generated-layout.ks").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: cannot read %include /tmp/part-include"),
        "{stderr}"
    );
}

#[test]
fn errors_are_rendered_like_rustc_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let ks = dir.path().join("bad.ks");
    std::fs::write(&ks, "lang en_US\nrebot\npart / --size=ten\n").unwrap();
    let out = run(&["validate", ks.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let name = ks.display().to_string();
    assert!(
        stderr.contains("error: Unknown command: rebot (did you mean `reboot`?)"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!(" --> {name}:2:1\n")), "{stderr}");
    assert!(stderr.contains("2 | rebot\n  | ^^^^^\n"), "{stderr}");
    assert!(stderr.contains(&format!(" --> {name}:3:8\n")), "{stderr}");
    assert!(stderr.contains("invalid int value: 'ten'"), "{stderr}");
    assert!(
        stderr.contains("invalid (2 errors, 0 warnings)"),
        "{stderr}"
    );
}

#[test]
fn json_reports_one_object_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.ks");
    let bad = dir.path().join("bad.ks");
    std::fs::write(&good, "lang en_US\nselinux --enforcing\n").unwrap();
    std::fs::write(&bad, "timezone\n").unwrap();
    let out = run(&[
        "validate",
        "--format",
        "json",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let reports = json_lines(&out);
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["valid"], true);
    assert_eq!(reports[0]["diagnostics"][0]["severity"], "warning");
    assert_eq!(reports[0]["diagnostics"][0]["line"], 2);
    assert_eq!(reports[0]["kickstart"]["lang"]["lang"], "en_US");
    assert_eq!(reports[1]["valid"], false);
    let d = &reports[1]["diagnostics"][0];
    assert_eq!(
        (
            d["severity"].as_str(),
            d["line"].as_u64(),
            d["column"].as_u64()
        ),
        (Some("error"), Some(1), Some(1))
    );
}

#[test]
fn unreadable_input_exits_2() {
    let out = run(&["validate", "/nonexistent/ks.cfg"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/ks.cfg"));
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["validate", "--format", "json", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json_lines(&out)[0]["valid"], false);
}

#[test]
fn flatten_resolves_includes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("parts")).unwrap();
    std::fs::write(
        dir.path().join("parts/disk.ks"),
        "zerombr\n%include more.ks\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("parts/more.ks"), "autopart # auto\n").unwrap();
    let ks = dir.path().join("ks.cfg");
    std::fs::write(&ks, "# top\nlang en_US\n%include parts/disk.ks\nreboot\n").unwrap();
    let out = run(&["flatten", ks.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "# top\nlang en_US\nzerombr\nautopart # auto\nreboot\n"
    );

    std::fs::write(&ks, "lang en_US\n%include missing.ks\n").unwrap();
    let out = run(&["flatten", ks.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.ks"));
}

#[test]
fn binary_garbage_and_invalid_utf8_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("garbage.ks");
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&bin, &garbage).unwrap();
    let out = run(&["validate", bin.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("NUL byte") || stderr.contains("invalid UTF-8"),
        "{stderr}"
    );

    let latin1 = dir.path().join("latin1.ks");
    std::fs::write(&latin1, b"lang de_DE\nuser --name=j\xf6rg\n").unwrap();
    let out = run(&["validate", latin1.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid UTF-8 (byte 0xf6)"), "{stderr}");
    assert!(stderr.contains(":2:14"), "{stderr}");
}

#[test]
fn a_100_mb_file_is_refused_without_reading_it_all() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.ks");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(100 * 1024 * 1024).unwrap(); // sparse: no disk space used
    let out = run(&["validate", big.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("larger than"), "{stderr}");
}
