//! `kickstand serve` on loopback, driven by real clients: curl (HTTP and TFTP), atftp, skopeo.

mod common;

use common::*;
use std::process::Command;

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

#[test]
fn http_boot_files_with_ranges_head_and_etag() {
    let s = start("");
    let kernel = s.kernel();
    let url = s.url("/boot/install-web/vmlinuz");
    let (h, body) = curl(&[&url]);
    assert_eq!(status(&h), 200, "{h}");
    assert_eq!(body, kernel);
    assert_eq!(
        header(&h, "content-length"),
        Some(kernel.len().to_string().as_str())
    );
    let etag = header(&h, "etag").expect("ETag").to_string();

    let (h, body) = curl(&["-I", &url]);
    assert_eq!(status(&h), 200, "{h}");
    assert!(body.is_empty() || String::from_utf8_lossy(&body).contains("content-length"));
    assert_eq!(
        header(&h, "content-length"),
        Some(kernel.len().to_string().as_str())
    );

    let (h, body) = curl(&["-r", "1000-1999", &url]);
    assert_eq!(status(&h), 206, "{h}");
    assert_eq!(body, &kernel[1000..2000]);
    assert_eq!(
        header(&h, "content-range"),
        Some(format!("bytes 1000-1999/{}", kernel.len()).as_str())
    );

    let (h, body) = curl(&["-r", "-10", &url]);
    assert_eq!(status(&h), 206, "{h}");
    assert_eq!(body, &kernel[kernel.len() - 10..]);

    let (h, _) = curl(&["-r", &format!("{}-", kernel.len() + 5), &url]);
    assert_eq!(status(&h), 416, "{h}");

    let (h, body) = curl(&["-H", &format!("If-None-Match: {etag}"), &url]);
    assert_eq!(status(&h), 304, "{h}");
    assert!(body.is_empty());

    let (h, body) = curl(&[&s.url("/boot/install-web/installer.img")]);
    assert_eq!(status(&h), 200, "{h}");
    assert_eq!(body.len(), 1024 * 1024);
}

#[test]
fn http_traversal_is_refused() {
    let s = start("");
    for path in [
        "/boot/install-web/../../kickstand.toml",
        "/boot/install-web/..%2f..%2fkickstand.toml",
        "/boot/install-web/%2e%2e%2f%2e%2e%2fkickstand.toml",
        "/boot/install-web/kickstand.toml",
        "/boot/install-web/%2Fetc%2Fpasswd",
        "/boot/../../../../etc/passwd",
        "/boot/install-web//etc/passwd",
        "/ipxe-bin/..%2f..%2f..%2fetc%2fpasswd",
        "/v2/demo-os/blobs/sha256:..%2f..%2f..%2fkickstand.toml",
        "/v2/..%2f..%2fkickstand.toml/manifests/latest",
    ] {
        let (h, body) = curl(&["--path-as-is", &s.url(path)]);
        let code = status(&h);
        assert!((400..500).contains(&code), "{path}: {h}");
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("[server]") && !text.contains("root:"),
            "{path} leaked: {text}"
        );
        assert!(header(&h, "location").is_none(), "{path} redirected: {h}");
    }
}

fn tftp_get(s: &Server, name: &str, extra: &[&str]) -> (bool, Vec<u8>, String) {
    let url = format!("tftp://127.0.0.1:{}/{name}", s.tftp);
    let out = run(Command::new("curl")
        .args(["-sS", "--max-time", "60", "--path-as-is"])
        .args(extra)
        .arg(&url));
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn tftp_with_curl() {
    let s = start("");
    let kernel = s.kernel();
    for blksize in [None, Some("512"), Some("1468"), Some("8192")] {
        let args: Vec<&str> = blksize
            .map(|b| vec!["--tftp-blksize", b])
            .unwrap_or_default();
        let (ok, body, err) = tftp_get(&s, "boot/install-web/vmlinuz", &args);
        assert!(ok, "blksize {blksize:?}: {err}");
        assert_eq!(body.len(), kernel.len(), "blksize {blksize:?}");
        assert!(body == kernel, "blksize {blksize:?}: content differs");
    }
    // The per-machine script and the generic chain script are virtual files.
    let (ok, body, err) = tftp_get(&s, &format!("ipxe/{KNOWN}"), &[]);
    assert!(ok, "{err}");
    let script = String::from_utf8(body).unwrap();
    assert!(
        script.contains(&format!("inst.ks=http://127.0.0.1:{}/ks/{KNOWN}", s.http)),
        "{script}"
    );
    let (ok, body, _) = tftp_get(&s, "boot.ipxe", &[]);
    assert!(ok);
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains("chain http://127.0.0.1:")
    );
    // Unknown machines get nothing; traversal and names outside the namespace are refused.
    for name in [
        format!("ipxe/{STRANGER}"),
        "../kickstand.toml".into(),
        "boot/install-web/../../kickstand.toml".into(),
        "/etc/passwd".into(),
        "%2e%2e/kickstand.toml".into(),
        "kickstand.toml".into(),
        "boot/install-web/kickstarts".into(),
    ] {
        let (ok, body, _) = tftp_get(&s, &name, &[]);
        assert!(!ok && body.is_empty(), "{name} was served");
    }
}

#[test]
fn tftp_with_atftp_options() {
    if !have("atftp") {
        eprintln!("SKIPPED: atftp is not installed");
        return;
    }
    let s = start("");
    let kernel = s.kernel();
    let out_dir = tempfile::tempdir().unwrap();
    for (i, opts) in [
        &[][..],
        &["blksize 1468"][..],
        &["blksize 1468", "windowsize 16", "tsize 0", "timeout 2"][..],
    ]
    .iter()
    .enumerate()
    {
        let local = out_dir.path().join(format!("k{i}"));
        let mut cmd = Command::new("atftp");
        cmd.args(["--get", "-r", "boot/install-web/vmlinuz", "-l"])
            .arg(&local);
        for o in opts.iter() {
            cmd.args(["--option", o]);
        }
        cmd.args(["127.0.0.1", &s.tftp.to_string()]);
        let out = run(&mut cmd);
        assert!(
            out.status.success(),
            "{opts:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            std::fs::read(&local).unwrap() == kernel,
            "{opts:?}: content differs"
        );
    }
    for remote in ["../../etc/passwd", "/etc/passwd", "boot/../kickstand.toml"] {
        let local = out_dir.path().join("bad");
        let out = run(Command::new("atftp")
            .args(["--get", "-r", remote, "-l"])
            .arg(&local)
            .args(["127.0.0.1", &s.tftp.to_string()]));
        let served = std::fs::read(&local)
            .map(|d| !d.is_empty())
            .unwrap_or(false);
        assert!(
            !served,
            "{remote} was served: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Writes are refused.
    let upload = out_dir.path().join("k0");
    let out = run(Command::new("atftp")
        .args(["--put", "-r", "new-file", "-l"])
        .arg(&upload)
        .args(["127.0.0.1", &s.tftp.to_string()]));
    assert!(
        !s.dir.path().join("new-file").exists(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn boot_once_lifecycle_over_http_and_cli() {
    let s = start("");
    let bin = env!("CARGO_BIN_EXE_kickstand");
    let server = s.url("");
    let list = || {
        let out = run(Command::new(bin).args(["machines", "list", "--server", &server]));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let table = list();
    assert!(
        table.contains(KNOWN) && table.contains("web-01") && table.contains("new"),
        "{table}"
    );

    // Unknown machine: no script, no kickstart.
    let (h, _) = curl(&[&s.url(&format!("/ipxe/{STRANGER}"))]);
    assert_eq!(status(&h), 404);
    let (h, _) = curl(&[&s.url(&format!("/ks/{STRANGER}"))]);
    assert_eq!(status(&h), 404);

    // Known machine: the install script, then the rendered kickstart.
    let (h, body) = curl(&[&s.url(&format!("/ipxe/{}", KNOWN.replace(':', "-")))]);
    assert_eq!(status(&h), 200, "{h}");
    let script = String::from_utf8(body).unwrap();
    let base = format!("http://127.0.0.1:{}", s.http);
    assert!(script.contains(&format!(
        "kernel {base}/boot/install-web/vmlinuz initrd=installer.img inst.ks={base}/ks/{KNOWN} BOOTIF=01-52-54-00-12-34-56 ip=dhcp kickstand.server={base} kickstand.insecure_registry=127.0.0.1:{} console=ttyS0",
        s.http
    )), "{script}");
    assert!(list().contains("booting"));
    let (h, body) = curl(&[&s.url(&format!("/ks/{KNOWN}"))]);
    assert_eq!(status(&h), 200, "{h}");
    let ks = String::from_utf8(body).unwrap();
    assert!(ks.contains("network --hostname=web-01\n"), "{ks}");
    assert!(
        ks.contains(&format!(
            "ostreecontainer --url=127.0.0.1:{}/demo-os:latest",
            s.http
        )),
        "{ks}"
    );
    assert!(
        ks.contains("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITest"),
        "{ks}"
    );

    // The installer reports progress and success.
    let events_url = kickstand_events::events_url(&server, KNOWN);
    let body = kickstand_events::to_json_lines(&[
        kickstand_events::Event::Started { version: None },
        kickstand_events::Event::Progress {
            step: "image".into(),
            percent: Some(60),
            message: Some("layer 2 of 3".into()),
        },
        kickstand_events::Event::Log {
            line: "wrote 1 GiB".into(),
        },
    ]);
    let (h, _) = curl(&["-X", "POST", "--data-binary", &body, &events_url]);
    assert_eq!(status(&h), 200, "{h}");
    let table = list();
    assert!(
        table.contains("installing")
            && table.contains("60%")
            && table.contains("image 60%: layer 2 of 3"),
        "{table}"
    );
    let (h, _) = curl(&[
        "-X",
        "POST",
        "--data-binary",
        "{\"event\":\"done\"}",
        &events_url,
    ]);
    assert_eq!(status(&h), 200, "{h}");
    assert!(list().contains("installed"));
    let (h, _) = curl(&[
        "-X",
        "POST",
        "--data-binary",
        "{\"event\":\"bogus\"}",
        &events_url,
    ]);
    assert_eq!(status(&h), 400, "{h}");
    let (h, _) = curl(&[
        "-X",
        "POST",
        "--data-binary",
        "{\"event\":\"done\"}",
        &kickstand_events::events_url(&server, STRANGER),
    ]);
    assert_eq!(status(&h), 404, "{h}");

    // Installed: the script boots the local disk, over HTTP and TFTP.
    let (_, body) = curl(&[&s.url(&format!("/ipxe/{KNOWN}"))]);
    let script = String::from_utf8(body).unwrap();
    assert!(
        script.contains("exit") && !script.contains("kernel"),
        "{script}"
    );
    let out =
        run(Command::new("curl")
            .args(["-sS", &format!("tftp://127.0.0.1:{}/ipxe/{KNOWN}", s.tftp)]));
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(
        script.contains("exit") && !script.contains("kernel"),
        "{script}"
    );

    // Re-armed by the operator: it installs again.
    let out = run(Command::new(bin).args(["machines", "reinstall", KNOWN, "--server", &server]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, body) = curl(&[&s.url(&format!("/ipxe/{KNOWN}"))]);
    assert!(String::from_utf8(body).unwrap().contains("inst.ks="));
    let out = run(Command::new(bin).args(["machines", "reinstall", STRANGER, "--server", &server]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("would get nothing"));

    // Metrics count what happened.
    let (_, body) = curl(&[&s.url("/metrics")]);
    let m = String::from_utf8(body).unwrap();
    assert!(m.contains("kickstand_kickstarts_served_total 1"), "{m}");
    assert!(
        m.contains("kickstand_unknown_machine_requests_total 2"),
        "{m}"
    );
    assert!(
        m.contains("kickstand_machines{status=\"booting\"} 1"),
        "{m}"
    );
}

#[test]
fn failed_install_does_not_loop() {
    let s = start("");
    let events_url = kickstand_events::events_url(&s.url(""), KNOWN);
    curl(&[&s.url(&format!("/ipxe/{KNOWN}"))]);
    let (h, _) = curl(&[
        "-X",
        "POST",
        "--data-binary",
        "{\"event\":\"failed\",\"error\":\"no disk matches sdz\"}",
        &events_url,
    ]);
    assert_eq!(status(&h), 200, "{h}");
    let (_, body) = curl(&[&s.url(&format!("/ipxe/{KNOWN}"))]);
    let script = String::from_utf8(body).unwrap();
    assert!(
        script.contains("failed: no disk matches sdz")
            && script.contains("exit")
            && !script.contains("kernel"),
        "{script}"
    );
    let (_, body) = curl(&[&s.url(&format!("/api/v1/machines/{KNOWN}"))]);
    let detail: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(detail["status"], "failed");
    assert_eq!(detail["error"], "no disk matches sdz");
}

#[test]
fn operator_token_and_event_rules() {
    let s = start("\n[api]\ntoken_file = \"api.token\"\n");
    let bin = env!("CARGO_BIN_EXE_kickstand");
    let server = s.url("");
    let events_url = kickstand_events::events_url(&server, KNOWN);
    let done = "{\"event\":\"done\"}";
    // Never handed an install: a `done` from anyone is refused.
    let (h, body) = curl(&["-X", "POST", "--data-binary", done, &events_url]);
    assert_eq!(status(&h), 409, "{h}");
    assert!(String::from_utf8_lossy(&body).contains("is new"));
    curl(&[&s.url(&format!("/ipxe/{KNOWN}"))]);
    let (h, _) = curl(&["-X", "POST", "--data-binary", done, &events_url]);
    assert_eq!(status(&h), 200, "{h}");
    // Oversized lines are refused.
    let big = format!("{{\"event\":\"log\",\"line\":\"{}\"}}", "x".repeat(5000));
    let (h, _) = curl(&["-X", "POST", "--data-binary", &big, &events_url]);
    assert_eq!(status(&h), 400, "{h}");

    // Re-arming needs the token, even from loopback, once one is configured.
    let reinstall = format!("{server}/api/v1/machines/{KNOWN}/reinstall");
    let (h, _) = curl(&["-X", "POST", &reinstall]);
    assert_eq!(status(&h), 401, "{h}");
    assert!(
        h.to_ascii_lowercase().contains("www-authenticate: bearer"),
        "{h}"
    );
    let (h, _) = curl(&[
        "-X",
        "POST",
        "-H",
        "Authorization: Bearer wrong-token-0123456789",
        &reinstall,
    ]);
    assert_eq!(status(&h), 401, "{h}");
    let out = run(Command::new(bin).args(["machines", "reinstall", KNOWN, "--server", &server]));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs the operator token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token_file = s.dir.path().join("api.token");
    let out = run(Command::new(bin)
        .args([
            "machines",
            "reinstall",
            KNOWN,
            "--server",
            &server,
            "--token-file",
        ])
        .arg(&token_file));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Reading the fleet needs nothing.
    let out = run(Command::new(bin).args(["machines", "list", "--server", &server]));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("new"));
}

#[test]
fn unknown_profile_and_reload() {
    let s = start("");
    let (h, _) = curl(&[&s.url(&format!("/ipxe/{STRANGER}"))]);
    assert_eq!(status(&h), 404);
    // Add an [unknown] profile and reload: unknown machines now install it.
    let text = std::fs::read_to_string(s.config_path()).unwrap()
        + "\n[unknown]\nprofile = \"install-web\"\n";
    std::fs::write(s.config_path(), text).unwrap();
    s.app.reload().unwrap();
    let (h, body) = curl(&[&s.url(&format!("/ipxe/{STRANGER}"))]);
    assert_eq!(status(&h), 200, "{h}");
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains(&format!("/ks/{STRANGER}"))
    );
    // A broken file is refused and the running config stays.
    std::fs::write(s.config_path(), "[server]\npublic_url = 3\n").unwrap();
    let err = format!("{:#}", s.app.reload().unwrap_err());
    assert!(err.contains("kickstand.toml:2:"), "{err}");
    let (h, _) = curl(&[&s.url(&format!("/ipxe/{STRANGER}"))]);
    assert_eq!(status(&h), 200);
}

#[test]
fn registry_serves_skopeo() {
    if !have("skopeo") {
        eprintln!("SKIPPED: skopeo is not installed");
        return;
    }
    let s = start("");
    let host = format!("127.0.0.1:{}", s.http);
    let out = run(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{host}/demo-os:latest"),
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dest = tempfile::tempdir().unwrap();
    let out = run(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{host}/demo-os:latest"),
        &format!("oci:{}:copied", dest.path().display()),
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let index = std::fs::read_to_string(dest.path().join("index.json")).unwrap();
    assert!(index.contains("copied"), "{index}");
    // The API's own answers.
    let (h, body) = curl(&[&s.url("/v2/demo-os/tags/list")]);
    assert_eq!(status(&h), 200);
    assert!(String::from_utf8(body).unwrap().contains("latest"));
    let (h, _) = curl(&["-I", &s.url("/v2/demo-os/manifests/latest")]);
    assert_eq!(
        header(&h, "content-type"),
        Some("application/vnd.oci.image.manifest.v1+json"),
        "{h}"
    );
    let digest = header(&h, "docker-content-digest")
        .expect("digest")
        .to_string();
    let (h, _) = curl(&["-I", &s.url(&format!("/v2/demo-os/manifests/{digest}"))]);
    assert_eq!(status(&h), 200, "{h}");
    let (h, body) = curl(&[&s.url("/v2/demo-os/manifests/nope")]);
    assert_eq!(status(&h), 404);
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains("MANIFEST_UNKNOWN")
    );
    let (h, _) = curl(&["-X", "PUT", &s.url("/v2/demo-os/manifests/latest")]);
    assert_eq!(status(&h), 405, "{h}");
    let (h, _) = curl(&[&s.url("/v2/other/tags/list")]);
    assert_eq!(status(&h), 404);
}

#[test]
fn invalid_kickstart_is_never_served() {
    let s = start(
        "[profiles.broken]\nkernel = \"boot/vmlinuz\"\ninitramfs = \"boot/installer.img\"\nkickstart = \"kickstarts/broken.ks\"\n\n\
         [[machines]]\nmac = \"52:54:00:00:00:01\"\nprofile = \"broken\"\nhostname = \"db-01\"\n",
    );
    let (h, body) = curl(&[&s.url("/ks/52:54:00:00:00:01")]);
    assert_eq!(status(&h), 500, "{h}");
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("1 error(s)") && !text.contains("rebot"),
        "{text}"
    );
    let (_, body) = curl(&[&s.url("/metrics")]);
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains("kickstand_kickstarts_refused_total 1")
    );
    // The valid one still is.
    let (h, _) = curl(&[&s.url(&format!("/ks/{KNOWN}"))]);
    assert_eq!(status(&h), 200, "{h}");
}
