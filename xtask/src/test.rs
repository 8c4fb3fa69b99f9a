//! `cargo xtask test`: the whole suite, as CI runs it.
//!
//! Steps: Debian packages, `cargo fmt --check`, `cargo clippy -D warnings`, one release build of
//! the binaries (reused by every test through `KICKSTAND_BIN_DIR`), the workspace tests with VM
//! tests required (`KICKSTAND_VM_TESTS=required`), and the differential test against
//! pykickstart. It prints each step's duration, the totals, and how many VM tests ran.

use crate::run::{cargo, status, workspace_root};
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Only these test name filters (passed to `cargo test`); fmt and clippy still run.
    #[arg(trailing_var_arg = true)]
    filters: Vec<String>,
}

/// Totals parsed from the `test result:` lines of every test binary.
#[derive(Debug, Default)]
struct Totals {
    passed: u64,
    failed: u64,
    ignored: u64,
}

/// The one release build: binaries and test targets together, so that with the tests'
/// dev-dependencies in the feature set `cargo test --release` (and the demo) reuse every
/// artifact.
pub const RELEASE_BUILD: &[&str] = &["build", "--release", "--workspace", "--bins", "--tests"];

pub fn run(args: &TestArgs) -> Result<()> {
    let start = Instant::now();
    let mut timings: Vec<(&str, Duration)> = Vec::new();
    let mut step = |name: &'static str, f: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        eprintln!("xtask: == {name}");
        let t = Instant::now();
        let r = f().with_context(|| format!("step `{name}`"));
        timings.push((name, t.elapsed()));
        eprintln!("xtask: == {name}: {:.0?}", t.elapsed());
        r
    };

    step("packages", &mut || {
        crate::packages::ensure(crate::packages::ALL)
    })?;
    step("fmt", &mut || {
        status(
            cargo().args(["fmt", "--all", "--", "--check"]),
            "cargo fmt --check",
        )
    })?;
    step("clippy", &mut || {
        status(
            // `--release`: build scripts (aws-lc-sys and SQLite compile C) and proc macros are
            // built and run once for this check and reused by the release build below.
            cargo().args([
                "clippy",
                "--release",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]),
            "cargo clippy",
        )
    })?;
    step("release build", &mut || {
        status(cargo().args(RELEASE_BUILD), "cargo build --release")
    })?;

    let report = vm_report_path()?;
    let mut totals = Totals::default();
    let test_result = step("tests", &mut || {
        let (counted, result) = cargo_test(&args.filters, &report)?;
        totals = counted;
        result
    });

    let differential = step("differential", &mut crate::differential::run);

    let vm_tests = std::fs::read_to_string(&report)
        .map(|s| s.lines().filter(|l| !l.trim().is_empty()).count())
        .unwrap_or(0);
    eprintln!();
    for (name, d) in &timings {
        eprintln!("xtask: {name:>14}: {:>6.1}s", d.as_secs_f64());
    }
    eprintln!(
        "xtask: suite duration {:.1} min; VM tests run: {vm_tests}",
        start.elapsed().as_secs_f64() / 60.0
    );
    println!(
        "xtask: {} passed, {} failed, {} skipped",
        totals.passed, totals.failed, totals.ignored
    );
    test_result?;
    if totals.failed > 0 {
        bail!("{} tests failed", totals.failed);
    }
    differential?;
    Ok(())
}

/// Where VM tests record that they ran (one line each); the harness appends to it.
fn vm_report_path() -> Result<PathBuf> {
    let dir = workspace_root().join("target").join("xtask");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("vm-tests-ran.txt");
    let _ = std::fs::remove_file(&path);
    Ok(path)
}

/// Runs the workspace tests with VM tests required and sums the `test result:` lines.
/// Returns the totals even when tests failed, with the run's verdict beside them.
fn cargo_test(filters: &[String], report: &std::path::Path) -> Result<(Totals, Result<()>)> {
    let root = workspace_root();
    let mut cmd = cargo();
    cmd.args(["test", "--release", "--workspace", "--no-fail-fast"]);
    if !filters.is_empty() {
        cmd.arg("--").args(filters);
    }
    cmd.env("KICKSTAND_VM_TESTS", "required")
        .env("KICKSTAND_VM_REPORT", report)
        .env("KICKSTAND_BIN_DIR", root.join("target").join("release"))
        .stdout(Stdio::piped());
    // cargo runs the test binaries one after another, so VMs only ever overlap within one
    // binary's tests: two at once (one TCG vCPU each) on this 2-core budget, unless the caller
    // says otherwise.
    if std::env::var_os("KICKSTAND_VM_SLOTS").is_none() {
        cmd.env("KICKSTAND_VM_SLOTS", "2");
    }
    let mut child = cmd.spawn().context("starting cargo test")?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut totals = Totals::default();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            totals.add(rest);
        }
    }
    let exit = child.wait()?;
    let verdict = if exit.success() {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "cargo test failed ({exit}); {} tests failed",
            totals.failed
        ))
    };
    Ok((totals, verdict))
}

impl Totals {
    /// Adds one `ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in …`.
    fn add(&mut self, summary: &str) {
        for part in summary.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(kind), Some(n)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match kind {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }
}
