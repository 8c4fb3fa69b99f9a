use crate::testutil::{base_toml, parse_in, write_files};

/// Replaces `from` in the base config with `to` (or appends `to` when `from` is empty) and
/// expects an error at `line` whose message contains `want`.
fn check(from: &str, to: &str, line: usize, want: &str) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path());
    let base = base_toml();
    let text = if from.is_empty() {
        format!("{base}{to}")
    } else {
        assert!(base.contains(from), "{from}");
        base.replacen(from, to, 1)
    };
    let err = parse_in(dir.path(), &text).expect_err(want).to_string();
    let prefix = format!("kickstand.toml:{line}:");
    assert!(err.contains(&prefix), "expected line {line} in: {err}");
    assert!(err.contains(want), "expected {want:?} in: {err}");
}

#[test]
fn errors_name_key_and_line() {
    check(
        "http_port = 8080",
        "http_port = 8080\nhttp_prot = 1",
        4,
        "unknown field `http_prot`",
    );
    check("http_port = 8080", "http_port = \"x\"", 3, "invalid type");
    check(
        "listen = \"127.0.0.1\"",
        "listen = \"localhost\"",
        2,
        "server.listen: expected an IP address",
    );
    check(
        "public_url = \"http://192.0.2.1:8080\"",
        "public_url = \"ftp://x\"",
        5,
        "server.public_url: expected a URL like http://",
    );
    check(
        "mode = \"proxy\"",
        "mode = \"relay\"",
        9,
        "dhcp.mode: expected \"proxy\", \"full\" or \"off\", found \"relay\"",
    );
    check(
        "mode = \"proxy\"",
        "mode = \"full\"",
        9,
        "dhcp.range: mode \"full\" needs a range",
    );
    check(
        "mode = \"proxy\"",
        "mode = \"full\"\nrange = [\"192.0.2.200\", \"192.0.2.100\"]",
        10,
        "dhcp.range: 192.0.2.200 comes after 192.0.2.100",
    );
    check(
        "mode = \"proxy\"",
        "mode = \"proxy\"\nlease_time = \"1 week\"",
        10,
        "dhcp.lease_time: expected a duration",
    );
    check(
        "interface = \"br0\"",
        "",
        9,
        "dhcp.interface: DHCP needs the interface",
    );
    check(
        "path = \"images/demo-os\"",
        "path = \"images/none\"",
        13,
        "images.demo-os.path:",
    );
    check(
        "kernel = \"boot/vmlinuz\"",
        "kernel = \"boot/missing\"",
        16,
        "profiles.install-web.kernel: cannot read",
    );
    check(
        "kernel = \"boot/vmlinuz\"",
        "kernel = \"boot\"",
        16,
        "is not a regular file",
    );
    check(
        "initramfs = \"boot/installer.img\"",
        "initramfs = \"boot/../boot/vmlinuz\"",
        17,
        "same file name as the kernel",
    );
    check(
        "mac = \"52:54:00:12:34:56\"",
        "mac = \"52:54:00:12:34\"",
        22,
        "machines[0].mac: `52:54:00:12:34` is not a MAC address",
    );
    check(
        "profile = \"install-web\"",
        "profile = \"install-db\"",
        23,
        "machines[0].profile: no profile \"install-db\" (defined: install-web)",
    );
    check(
        "hostname = \"web-01\"",
        "hostname = \"web_01\"",
        24,
        "machines[0].hostname: \"web_01\" is not a valid host name",
    );
    check(
        "",
        "\n[[machines]]\nmac = \"52-54-00-12-34-56\"\nprofile = \"install-web\"\n",
        28,
        "machines[1].mac: 52:54:00:12:34:56 is listed twice",
    );
    check(
        "",
        "\n[unknown]\nprofile = \"nope\"\n",
        28,
        "unknown.profile: no profile \"nope\"",
    );
    check(
        "",
        "\n[ipxe]\nbios = \"/nonexistent/undionly.kpxe\"\n",
        28,
        "ipxe.bios: cannot read",
    );
    check(
        "",
        "\n[frobnicate]\nx = 1\n",
        27,
        "unknown field `frobnicate`",
    );
}

#[test]
fn bad_template_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path());
    std::fs::write(
        dir.path().join("kickstarts/web.ks"),
        "network --hostname={{ machine.hostname \n",
    )
    .unwrap();
    let err = parse_in(dir.path(), &base_toml()).unwrap_err().to_string();
    assert!(err.contains("kickstand.toml:18:"), "{err}");
    assert!(
        err.contains("profiles.install-web.kickstart: template"),
        "{err}"
    );
}

#[test]
fn paths_are_relative_to_the_config_file() {
    let f = crate::testutil::fixture("");
    let p = &f.config.profiles["install-web"];
    assert_eq!(p.kernel.path, f.dir.path().join("boot/vmlinuz"));
    assert_eq!(p.kernel.name, "vmlinuz");
    assert_eq!(f.config.server.state_dir, f.dir.path().join("state"));
    assert_eq!(
        f.config.images["demo-os"].path,
        f.dir.path().join("images/demo-os")
    );
    assert_eq!(f.config.server.public_url.base(), "http://192.0.2.1:8080");
    assert_eq!(f.config.dhcp.mode, super::DhcpMode::Proxy);
    assert!(f.config.unknown_profile.is_none());
}
