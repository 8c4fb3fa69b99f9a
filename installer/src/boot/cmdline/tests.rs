use super::*;

fn p(name: &str, value: Option<&str>) -> Param {
    Param {
        name: name.into(),
        value: value.map(Into::into),
    }
}

#[test]
fn splits_like_the_kernel() {
    assert_eq!(
        split("  BOOT_IMAGE=/vmlinuz ro  quiet\tconsole=ttyS0,115200n8 "),
        [
            p("BOOT_IMAGE", Some("/vmlinuz")),
            p("ro", None),
            p("quiet", None),
            p("console", Some("ttyS0,115200n8"))
        ]
    );
    // A quoted value loses its quotes and keeps its spaces.
    assert_eq!(
        split(r#"inst.ks="http://h/a b.ks" x"#),
        [p("inst.ks", Some("http://h/a b.ks")), p("x", None)]
    );
    // A quoted whole word too.
    assert_eq!(
        split(r#""foo=bar baz" next"#),
        [p("foo", Some("bar baz")), p("next", None)]
    );
    // Quotes inside a value stay (the kernel only strips the outer pair).
    assert_eq!(split(r#"a=b"c d"e"#), [p("a", Some(r#"b"c d"e"#))]);
    // Only the first '=' separates.
    assert_eq!(split("hd=LABEL=x=y"), [p("hd", Some("LABEL=x=y"))]);
    assert_eq!(split("empty="), [p("empty", Some(""))]);
    assert!(split("   ").is_empty());
}

#[test]
fn what_the_provisioner_sends_parses_completely() {
    let o = parse(
        "initrd=initrd inst.ks=http://10.0.2.2:8080/ks/52-54-00-12-34-56 BOOTIF=01-52-54-00-12-34-56 ip=dhcp \
         kickstand.server=http://10.0.2.2:8080 kickstand.insecure_registry=10.0.2.2:5000 \
         kickstand.insecure_registry=[fd00::1]:5000 kickstand.authfile=http://10.0.2.2:8080/auth/x.json \
         console=tty0 console=ttyS0,115200n8 inst.ks.sendmac inst.ks.sendsn=1 \
         kickstand.staging_ram_limit=512M",
    )
    .unwrap();
    assert_eq!(
        o.kickstart,
        Some(KickstartSource::Url(
            "http://10.0.2.2:8080/ks/52-54-00-12-34-56".into()
        ))
    );
    assert_eq!(o.bootif, Some([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]));
    assert_eq!(o.ip, [IpConfig::Dhcp { interface: None }]);
    assert_eq!(o.server.as_deref(), Some("http://10.0.2.2:8080"));
    assert_eq!(o.insecure_registries, ["10.0.2.2:5000", "[fd00::1]:5000"]);
    assert_eq!(
        o.authfile.as_deref(),
        Some("http://10.0.2.2:8080/auth/x.json")
    );
    assert_eq!(o.primary_console(), Some("ttyS0"));
    assert!(o.ks_sendmac && o.ks_sendsn && !o.debug && o.wants_network());
    assert_eq!(o.staging_ram_limit, Some(512 << 20));
    let e = parse("kickstand.staging_ram_limit=lots").unwrap_err();
    assert!(
        e[0].to_string().contains("kickstand.staging_ram_limit"),
        "{e:?}"
    );
}

#[test]
fn kickstart_sources() {
    let cases = [
        (
            "https://ks.example.invalid/a.cfg",
            KickstartSource::Url("https://ks.example.invalid/a.cfg".into()),
        ),
        ("file:/ks.cfg", KickstartSource::File("/ks.cfg".into())),
        ("file:///ks.cfg", KickstartSource::File("/ks.cfg".into())),
        (
            "hd:LABEL=KS\\x20DATA:/ks/server.cfg",
            KickstartSource::Disk {
                device: DeviceSpec::Label("KS DATA".into()),
                path: "/ks/server.cfg".into(),
            },
        ),
        (
            "hd:sdb1:/ks.cfg",
            KickstartSource::Disk {
                device: DeviceSpec::Path("/dev/sdb1".into()),
                path: "/ks.cfg".into(),
            },
        ),
        (
            "hd:UUID=AB12-CD34:/ks.cfg",
            KickstartSource::Disk {
                device: DeviceSpec::Uuid("ab12-cd34".into()),
                path: "/ks.cfg".into(),
            },
        ),
        (
            "cdrom:/ks.cfg",
            KickstartSource::Cdrom {
                device: None,
                path: "/ks.cfg".into(),
            },
        ),
        (
            "cdrom:/dev/sr1:/ks.cfg",
            KickstartSource::Cdrom {
                device: Some(DeviceSpec::Path("/dev/sr1".into())),
                path: "/ks.cfg".into(),
            },
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(parse_ks(input).unwrap(), expected, "{input}");
    }
}

#[test]
fn bad_kickstart_sources_say_what_is_expected() {
    for (input, problem) in [
        ("nfs:server:/ks.cfg", "not supported"),
        ("ks.cfg", "unknown transport"),
        ("http://", "no host"),
        ("file:ks.cfg", "absolute path"),
        ("hd:sdb1", "DEVICE:/PATH"),
    ] {
        let e = parse_ks(input).unwrap_err().to_string();
        assert!(
            e.contains(problem) && e.contains("hd:LABEL=X:/PATH"),
            "{input}: {e}"
        );
    }
}

#[test]
fn ip_forms() {
    assert_eq!(
        parse_ip("eth0:dhcp").unwrap(),
        IpConfig::Dhcp {
            interface: Some("eth0".into())
        }
    );
    assert_eq!(parse_ip("off").unwrap(), IpConfig::Off);
    assert_eq!(
        parse_ip("192.168.122.10::192.168.122.1:255.255.255.0:node1:ens3:none").unwrap(),
        IpConfig::Static {
            address: "192.168.122.10".parse().unwrap(),
            prefix: 24,
            gateway: Some("192.168.122.1".parse().unwrap()),
            hostname: Some("node1".into()),
            interface: Some("ens3".into()),
            mtu: None,
            dns: vec![],
        }
    );
    assert_eq!(
        parse_ip("10.1.2.3:::16::eth1:none:9000").unwrap(),
        IpConfig::Static {
            address: "10.1.2.3".parse().unwrap(),
            prefix: 16,
            gateway: None,
            hostname: None,
            interface: Some("eth1".into()),
            mtu: Some(9000),
            dns: vec![],
        }
    );
    let IpConfig::Static { dns, .. } =
        parse_ip("10.1.2.3::10.1.0.1:255.255.0.0:h:eth0:none:10.1.0.53:10.1.0.54").unwrap()
    else {
        panic!()
    };
    assert_eq!(
        dns,
        [
            "10.1.0.53".parse::<Ipv4Addr>().unwrap(),
            "10.1.0.54".parse().unwrap()
        ]
    );
}

#[test]
fn bad_ip_values_are_explained() {
    for (input, problem) in [
        (
            "10.1.2.3::10.1.0.1:255.0.255.0:h:eth0:none",
            "not contiguous",
        ),
        (
            "10.1.2.300::10.1.0.1:255.255.0.0:h:eth0:none",
            "address \"10.1.2.300\"",
        ),
        ("10.1.2.3::gw:24:h:eth0:none", "gateway \"gw\""),
        ("10.1.2.3::10.1.0.1::h:eth0:none", "needs a netmask"),
        ("10.1.2.3::10.1.0.1:24:h:eth0:bogus", "unknown method"),
        ("10.1.2.3", "too few fields"),
        ("dhcp6", "IPv6"),
    ] {
        let e = parse_ip(input).unwrap_err().to_string();
        assert!(
            e.contains(problem) && e.contains("expected dhcp"),
            "{input}: {e}"
        );
    }
}

#[test]
fn every_bad_option_is_reported_and_unknown_ones_ignored() {
    let errors = parse("quiet splash=1 BOOTIF=01-zz-00-00-00-00-00 nameserver=dns.local inst.ks kickstand.server=ftp://x kickstand.insecure_registry=http://r:5000/").unwrap_err();
    let params: Vec<&str> = errors.iter().map(|e| e.param.as_str()).collect();
    assert_eq!(
        params,
        [
            "BOOTIF",
            "nameserver",
            "inst.ks",
            "kickstand.server",
            "kickstand.insecure_registry"
        ]
    );
    assert!(
        errors[2].to_string().contains("needs a value"),
        "{}",
        errors[2]
    );
}

#[test]
fn bootif_accepts_the_pxe_and_plain_forms() {
    assert_eq!(
        parse_bootif("01-AA-bb-cc-dd-ee-ff").unwrap(),
        [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]
    );
    assert_eq!(
        parse_bootif("aa:bb:cc:dd:ee:ff").unwrap(),
        [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]
    );
    assert!(parse_bootif("06-aa-bb-cc-dd-ee-ff").is_err());
    assert!(parse_bootif("01-aa-bb-cc-dd-ee").is_err());
}

#[test]
fn flags_and_nameservers() {
    let o = parse("inst.debug inst.ks.sendmac=0 nameserver=10.0.0.53 nameserver=10.0.0.54 inst.ks=file:/ks.cfg").unwrap();
    assert!(o.debug && !o.ks_sendmac && !o.wants_network());
    assert_eq!(o.nameservers.len(), 2);
    assert_eq!(o.kickstart, Some(KickstartSource::File("/ks.cfg".into())));
}

#[test]
fn install_media() {
    let label = |l: &str| DeviceSpec::Label(l.into());
    assert_eq!(
        parse_medium("inst.stage2", "hd:LABEL=KS-ISO").unwrap(),
        InstallMedium::Disk {
            device: label("KS-ISO"),
            path: "/".into()
        }
    );
    assert_eq!(
        parse_medium("inst.repo", r"hd:LABEL=My\x20Disk:/images").unwrap(),
        InstallMedium::Disk {
            device: label("My Disk"),
            path: "/images".into()
        }
    );
    assert_eq!(
        parse_medium("inst.repo", "hd:sdb1").unwrap(),
        InstallMedium::Disk {
            device: DeviceSpec::Path("/dev/sdb1".into()),
            path: "/".into()
        }
    );
    assert_eq!(
        parse_medium("inst.repo", "cdrom").unwrap(),
        InstallMedium::Cdrom(None)
    );
    assert_eq!(
        parse_medium("inst.repo", "cdrom:/dev/sr1").unwrap(),
        InstallMedium::Cdrom(Some(DeviceSpec::Path("/dev/sr1".into())))
    );
    assert_eq!(
        parse_medium("inst.stage2", "http://h/os/").unwrap(),
        InstallMedium::Remote("http://h/os/".into())
    );
    for (bad, why) in [
        ("hd:", "names no device"),
        ("hd::/x", "names no device"),
        ("hd:LABEL=X:/a/../b", ".."),
        ("cdrom:", "names no device"),
        ("floppy", "unknown install source"),
    ] {
        let e = parse_medium("inst.repo", bad).unwrap_err();
        assert!(e.to_string().contains(why), "{bad}: {e}");
        assert!(e.to_string().contains("hd:LABEL=X"), "{e}");
    }
}

#[test]
fn the_repo_medium_wins_over_stage2_and_a_remote_one_means_none() {
    let medium = |c: &str| parse(c).unwrap().local_medium().cloned();
    let iso = InstallMedium::Disk {
        device: DeviceSpec::Label("ISO".into()),
        path: "/".into(),
    };
    assert_eq!(medium("inst.stage2=hd:LABEL=ISO quiet"), Some(iso.clone()));
    assert_eq!(
        medium("inst.stage2=hd:LABEL=ISO inst.repo=cdrom"),
        Some(InstallMedium::Cdrom(None))
    );
    assert_eq!(medium("inst.stage2=hd:LABEL=ISO inst.repo=http://h/"), None);
    assert_eq!(
        medium("inst.stage2=http://h/ inst.repo=hd:LABEL=ISO"),
        Some(iso)
    );
    assert_eq!(medium("inst.ks=cdrom:/ks.cfg"), None);
    let errors = parse("inst.stage2=hd: inst.repo=floppy").unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
}
