//! parse → print → parse gives the same AST, for generated kickstarts (proptest) and for every
//! data case and example that parses without errors.

use kickstand_grammar::*;
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;

/// Any text a value may hold: blanks, quotes, `#`, backslashes, non-ASCII.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 #'\"\\\\$=,._/:@é%-]{1,16}"
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,8}"
}

fn names() -> impl Strategy<Value = Vec<String>> {
    vec(name(), 1..4)
}

fn encryption() -> impl Strategy<Value = Encryption> {
    // Passphrases are recognisable, so the test can tell none was printed.
    (
        any::<bool>(),
        of("secret-[a-z0-9]{6}"),
        of(text()),
        of(1u64..100_000),
    )
        .prop_map(|(encrypted, passphrase, cipher, pbkdf_time)| Encryption {
            encrypted,
            passphrase: passphrase.map(Secret::new),
            cipher,
            pbkdf_time,
            ..Default::default()
        })
}

fn partition() -> impl Strategy<Value = Partition> {
    (
        prop_oneof![
            Just("/".to_string()),
            Just("swap".to_string()),
            "/[a-z]{1,8}",
            "-[a-z]{1,3}"
        ],
        of(0u64..1 << 40),
        of(0u64..1 << 20),
        any::<bool>(),
        of(prop_oneof![
            Just("xfs".to_string()),
            Just("ext4".to_string()),
            Just("efi".to_string())
        ]),
        of(text()),
        of(text()),
        of(name()),
        of(name()),
        any::<(bool, bool, bool)>(),
        encryption(),
    )
        .prop_map(
            |(
                mntpoint,
                size,
                maxsize,
                grow,
                fstype,
                fsoptions,
                label,
                onpart,
                ondisk,
                (noformat, asprimary, recommended),
                encryption,
            )| Partition {
                mntpoint,
                size,
                maxsize,
                grow,
                recommended,
                fstype,
                fsoptions,
                label,
                noformat,
                onpart,
                ondisk,
                asprimary,
                encryption,
                ..Default::default()
            },
        )
}

fn user() -> impl Strategy<Value = User> {
    (
        name(),
        vec(name(), 0..3),
        of(text()),
        of(text()),
        any::<(bool, bool)>(),
        of(any::<u32>()),
        of(text()),
    )
        .prop_map(
            |(name, groups, homedir, password, (iscrypted, lock), uid, gecos)| User {
                name,
                groups,
                homedir,
                password,
                iscrypted,
                lock,
                uid,
                gid: uid,
                gecos,
                ..Default::default()
            },
        )
}

fn network() -> impl Strategy<Value = Network> {
    (
        of(prop_oneof![
            Just(BootProto::Dhcp),
            Just(BootProto::Static),
            Just(BootProto::Ibft)
        ]),
        of(name()),
        of("[0-9.]{1,15}"),
        vec("[0-9.]{1,15}", 0..3),
        of(text()),
        of(1u32..65536),
        of(any::<bool>()),
        of(any::<bool>()),
        any::<(bool, bool, bool)>(),
        of(1u32..4095),
        vec(name(), 0..3),
    )
        .prop_map(
            |(
                bootproto,
                device,
                ip,
                nameserver,
                hostname,
                mtu,
                onboot,
                activate,
                (nodns, nodefroute, noipv6),
                vlanid,
                bondslaves,
            )| Network {
                bootproto,
                device,
                ip,
                nameserver,
                hostname,
                mtu,
                onboot,
                activate,
                nodns,
                nodefroute,
                noipv6,
                vlanid,
                bondslaves,
                ..Default::default()
            },
        )
}

fn script() -> impl Strategy<Value = Script> {
    (
        prop_oneof![
            Just(ScriptKind::Pre),
            Just(ScriptKind::PreInstall),
            Just(ScriptKind::Post),
            Just(ScriptKind::Onerror)
        ],
        of(prop_oneof![
            Just("/usr/bin/python3".to_string()),
            Just("/bin/bash".to_string())
        ]),
        of(text()),
        any::<(bool, bool)>(),
        vec("[a-zA-Z0-9 #'\"$=|>_./-]{0,30}", 0..5),
    )
        .prop_map(
            |(kind, interpreter, log, (erroronfail, nochroot), lines)| Script {
                kind,
                interpreter,
                log,
                erroronfail,
                nochroot: nochroot && kind == ScriptKind::Post,
                body: lines.iter().map(|l| format!("{l}\n")).collect(),
            },
        )
}

/// `part pv.N`/`part raid.N` members, an optional RAID 1 array, a volume group over the
/// physical volumes (one of them the array when there is one) and logical volumes in it, thin
/// ones included: a layout whose names all resolve.
fn volumes() -> impl Strategy<Value = (Vec<Partition>, Vec<Raid>, Vec<VolGroup>, Vec<LogVol>)> {
    (
        1usize..4,
        any::<bool>(),
        of(1u64..1 << 20),
        vec((name(), 1u64..1 << 20, any::<bool>()), 1..4),
        any::<bool>(),
        encryption(),
    )
        .prop_map(|(pvs, with_raid, pesize, lvs, thin, enc)| {
            let mut parts: Vec<Partition> = (0..pvs)
                .map(|i| Partition {
                    mntpoint: format!("pv.{i:02}"),
                    size: Some(1000),
                    ..Default::default()
                })
                .collect();
            let mut physvols: Vec<String> = parts.iter().map(|p| p.mntpoint.clone()).collect();
            let mut raids = vec![];
            if with_raid {
                for m in ["raid.01", "raid.02"] {
                    parts.push(Partition {
                        mntpoint: m.into(),
                        size: Some(500),
                        ondisk: Some("sda".into()),
                        ..Default::default()
                    });
                }
                raids.push(Raid {
                    mntpoint: "pv.md".into(),
                    device: "md0".into(),
                    level: Some(RaidLevel::Raid1),
                    members: vec!["raid.01".into(), "raid.02".into()],
                    chunksize: Some(512),
                    ..Default::default()
                });
                physvols.push("pv.md".into());
            }
            let vg = VolGroup {
                name: "vg0".into(),
                physvols,
                pesize: pesize.map(|p| p.next_power_of_two()),
                ..Default::default()
            };
            let mut logvols: Vec<LogVol> = vec![];
            for (i, (name, size, grow)) in lvs.into_iter().enumerate() {
                if logvols.iter().any(|l| l.name == name) {
                    continue;
                }
                logvols.push(LogVol {
                    mntpoint: format!("/lv{i}"),
                    vgname: "vg0".into(),
                    name,
                    size: Some(size),
                    grow,
                    fstype: Some("xfs".into()),
                    encryption: enc.clone(),
                    ..Default::default()
                });
            }
            if thin {
                logvols.push(LogVol {
                    mntpoint: "none".into(),
                    vgname: "vg0".into(),
                    name: "pool-0".into(),
                    percent: Some(90),
                    thinpool: true,
                    metadatasize: Some(64),
                    ..Default::default()
                });
                logvols.push(LogVol {
                    mntpoint: "/thin".into(),
                    vgname: "vg0".into(),
                    name: "thin-0".into(),
                    size: Some(100),
                    thin: true,
                    poolname: Some("pool-0".into()),
                    ..Default::default()
                });
            }
            (parts, raids, vec![vg], logvols)
        })
}

/// `ks` as printing it shows it: every passphrase left out.
fn without_secrets(ks: &Kickstart) -> Kickstart {
    let mut k = ks.clone();
    let encryptions = k
        .autopart
        .iter_mut()
        .map(|a| &mut a.encryption)
        .chain(k.parts.iter_mut().map(|p| &mut p.encryption))
        .chain(k.raids.iter_mut().map(|r| &mut r.encryption))
        .chain(k.logvols.iter_mut().map(|l| &mut l.encryption));
    for e in encryptions {
        e.passphrase = None;
    }
    k
}

/// The passphrases `ks` holds (none may appear in its printed text).
fn secrets(ks: &Kickstart) -> Vec<String> {
    let e = ks
        .autopart
        .iter()
        .map(|a| &a.encryption)
        .chain(ks.parts.iter().map(|p| &p.encryption))
        .chain(ks.raids.iter().map(|r| &r.encryption))
        .chain(ks.logvols.iter().map(|l| &l.encryption));
    e.filter_map(|e| e.passphrase.as_ref().map(|s| s.expose().to_string()))
        .collect()
}

prop_compose! {
    fn kickstart()(
        zerombr in any::<bool>(),
        clearpart in of((prop_oneof![Just(None), Just(Some(ClearKind::All)), Just(Some(ClearKind::Linux)), Just(Some(ClearKind::None))], vec(name(), 0..3), any::<bool>(), of(name()))),
        ignoredisk in of(prop_oneof![names().prop_map(IgnoreDisk::Drives), names().prop_map(IgnoreDisk::OnlyUse)]),
        storage in prop_oneof![
            (of(prop_oneof![Just(AutoPartType::Lvm), Just(AutoPartType::Plain), Just(AutoPartType::Thinp)]), any::<(bool, bool, bool)>(), encryption())
                .prop_map(|(kind, (nohome, noboot, noswap), encryption)| (Some(AutoPart { kind, nohome, noboot, noswap, encryption, ..Default::default() }), vec![], None, (vec![], vec![], vec![]))),
            (vec(partition(), 0..4), of(any::<bool>())).prop_map(|(parts, req)| (None, parts, req.map(|add_boot| ReqPart { add_boot }), (vec![], vec![], vec![]))),
            volumes().prop_map(|(parts, raids, vgs, lvs)| (None, parts, None, (raids, vgs, lvs))),
        ],
        bootloader in of((of(text()), of(prop_oneof![Just(BootloaderLocation::Mbr), Just(BootloaderLocation::None)]), of(0u64..100), vec(name(), 0..3), of(name()))),
        users in vec(user(), 0..3),
        sshkeys in vec((name(), text()), 0..3),
        rootpw in of((text(), any::<(bool, bool, bool)>())),
        lang in of((text(), vec(name(), 0..3))),
        keyboard in of((of(text()), of(name()), names())),
        timezone in of((text(), any::<bool>())),
        network in vec(network(), 0..3),
        image in prop_oneof![
            Just((None, None)),
            (text(), of(name()), of(text()), any::<bool>()).prop_map(|(url, transport, stateroot, nsv)| (Some(OstreeContainer { url, transport, stateroot, remote: None, no_signature_verification: nsv }), None)),
            (text(), of(text()), of(name())).prop_map(|(s, t, r)| (None, Some(Bootc { source_imgref: s, target_imgref: t, stateroot: r }))),
        ],
        action in of((prop_oneof![Just(FinishKind::Reboot), Just(FinishKind::Poweroff), Just(FinishKind::Halt)], any::<(bool, bool)>())),
        scripts in vec(script(), 0..3),
        unsupported in vec((prop_oneof![Just("selinux"), Just("firewall"), Just("skipx")], vec(text(), 0..3)), 0..2),
    ) -> Kickstart {
        let (autopart, parts, reqpart, (raids, volgroups, logvols)) = storage;
        Kickstart {
            zerombr,
            clearpart: clearpart.map(|(kind, drives, initlabel, disklabel)| ClearPart { kind, drives, list: vec![], initlabel, disklabel, cdl: false }),
            ignoredisk,
            autopart,
            parts,
            raids,
            volgroups,
            logvols,
            reqpart,
            bootloader: bootloader.map(|(append, location, timeout, driveorder, boot_drive)| Bootloader { append, location, timeout, driveorder, boot_drive, ..Default::default() }),
            users,
            sshkeys: sshkeys.into_iter().map(|(username, key)| SshKey { username, key }).collect(),
            rootpw: rootpw.map(|(password, (iscrypted, lock, allow_ssh))| RootPw { password: Some(password), iscrypted, lock, allow_ssh }),
            lang: lang.map(|(lang, addsupport)| Lang { lang, addsupport }),
            keyboard: keyboard.map(|(keyboard, vckeymap, xlayouts)| Keyboard { keyboard, vckeymap, xlayouts, switch: vec![] }),
            timezone: timezone.map(|(tz, utc)| Timezone { timezone: Some(tz), utc, ..Default::default() }),
            network,
            ostreecontainer: image.0,
            bootc: image.1,
            action: action.map(|(kind, (eject, kexec))| FinishAction { kind, eject, kexec }),
            display_mode: None,
            scripts,
            packages: None,
            unsupported: unsupported.into_iter().map(|(n, args)| UnsupportedCommand { name: n.to_string(), args }).collect(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn print_then_parse_is_identity(ks in kickstart()) {
        let text = print(&ks);
        let parsed = parse("printed.ks", &text, &NoIncludes);
        let errors: Vec<String> = parsed.errors().map(|d| d.to_string()).collect();
        prop_assert!(errors.is_empty(), "errors {errors:?} in\n{text}");
        prop_assert_eq!(&parsed.kickstart, &without_secrets(&ks), "printed as\n{}", text);
        for secret in secrets(&ks) {
            prop_assert!(!text.contains(&secret), "passphrase {secret:?} printed:\n{text}");
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse("fuzz.ks", &text, &NoIncludes);
    }
}

#[test]
fn data_cases_and_examples_round_trip() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for dir in [root.join("tests/data"), root.join("../examples/kickstarts")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "ks") {
                continue;
            }
            let parsed = parse(
                &path.display().to_string(),
                &std::fs::read_to_string(&path).unwrap(),
                &FileLoader,
            );
            if parsed.has_errors() {
                continue;
            }
            let text = print(&parsed.kickstart);
            let again = parse("printed.ks", &text, &NoIncludes);
            assert!(
                !again.has_errors(),
                "{}: printed text has errors:\n{text}",
                path.display()
            );
            for secret in secrets(&parsed.kickstart) {
                assert!(
                    !text.contains(&secret),
                    "{}: passphrase printed",
                    path.display()
                );
            }
            assert_eq!(
                again.kickstart,
                without_secrets(&parsed.kickstart),
                "{}: printed as\n{text}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} files round-tripped");
}
