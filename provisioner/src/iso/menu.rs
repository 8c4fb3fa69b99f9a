//! The boot menu (GRUB's `grub.cfg`) and GRUB's embedded early configuration, generated from
//! [`Metadata`]. Pure: no I/O, so every menu the ISO can carry is unit-tested here.
//!
//! Safety rule: the default entry installs only when there is a kickstart (on the ISO or named
//! by `--append inst.ks=…`). Without one the default entry starts the installer with nothing to
//! do, which erases nothing; there is no entry that erases disks without a kickstart.

use super::{INITRAMFS_PATH, KERNEL_PATH, Metadata};

/// GRUB's configuration built into its BIOS and UEFI images: find the ISO by its label (the
/// firmware may have started GRUB from the CD, from the USB stick's ESP, or from an El Torito
/// image GRUB does not see as part of the ISO) and read the menu from it.
pub fn early_cfg(label: &str) -> String {
    format!(
        "search --no-floppy --set=root --label {label}\n\
         set prefix=($root)/boot/grub\n"
    )
}

/// A kernel argument as GRUB needs it on a `linux` line: plain when it has only characters GRUB
/// takes literally, else single-quoted. Arguments with whitespace, quotes or control characters
/// are refused (the kernel command line has no way to carry them from a GRUB menu).
pub fn grub_word(arg: &str) -> Result<String, String> {
    if arg.is_empty() {
        return Err("an empty kernel argument".into());
    }
    if let Some(c) = arg
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '\'' | '"' | '\\'))
    {
        return Err(format!(
            "kernel argument {arg:?} contains {c:?}; arguments on an ISO's boot menu cannot carry \
             whitespace, quotes or backslashes"
        ));
    }
    let plain = arg
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._,:=/+@%-".contains(c));
    Ok(if plain {
        arg.to_string()
    } else {
        format!("'{arg}'")
    })
}

/// A menu entry title, double-quoted for GRUB (`$`, `"` and `\` escaped).
fn title(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        if matches!(c, '"' | '$' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// What the default entry does, in the words the menu uses.
pub fn default_action(meta: &Metadata) -> String {
    let image = match &meta.image {
        Some(img) => format!(
            " {} (on this ISO)",
            img.tag.as_deref().unwrap_or(&img.source)
        ),
        None => String::new(),
    };
    if meta.kickstart {
        format!("Install{image} with the kickstart on this ISO - erases the disks it names")
    } else if let Some(url) = meta.append_kickstart() {
        format!("Install{image} with the kickstart {url} - erases the disks it names")
    } else {
        "Start the installer without a kickstart - erases nothing (press e to add inst.ks=...)"
            .to_string()
    }
}

/// The whole `grub.cfg`. Fails when an `--append` argument cannot be put on a GRUB line.
pub fn grub_cfg(meta: &Metadata) -> Result<String, String> {
    let args = meta
        .kernel_args()
        .iter()
        .map(|a| grub_word(a))
        .collect::<Result<Vec<_>, _>>()?
        .join(" ");
    let mut cfg = String::new();
    cfg.push_str(&format!(
        "# Written by {} from /kickstand/iso.json; `kickstand iso customize` rewrites it.\n",
        meta.written_by
    ));
    cfg.push_str(
        "if serial --unit=0 --speed=115200; then\n\
         \x20 terminal_input console serial\n\
         \x20 terminal_output console serial\n\
         fi\n",
    );
    cfg.push_str(&format!("set timeout={}\nset default=0\n", meta.timeout));
    cfg.push_str(&format!(
        "menuentry {} --id install {{\n\
         \x20 echo 'Loading the Kickstand installer...'\n\
         \x20 linux /{KERNEL_PATH} {args}\n\
         \x20 initrd /{INITRAMFS_PATH}\n\
         }}\n",
        title(&default_action(meta))
    ));
    cfg.push_str(&format!(
        "menuentry {} --id next {{\n  exit\n}}\n",
        title("Boot from the next device - leaves this machine unchanged")
    ));
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::super::EmbeddedImage;
    use super::super::tests::meta;
    use super::*;

    #[test]
    fn a_kickstart_iso_installs_by_default_and_says_so() {
        let mut m = meta();
        m.image = Some(EmbeddedImage {
            source: "oci:/srv/app".into(),
            digest: "sha256:ab".into(),
            tag: Some("app:1".into()),
            layers_size: 1,
        });
        let cfg = grub_cfg(&m).unwrap();
        assert!(cfg.contains("set timeout=5\nset default=0\n"), "{cfg}");
        assert!(
            cfg.contains(
                "menuentry \"Install app:1 (on this ISO) with the kickstart on this ISO - erases the disks it names\" --id install {"
            ),
            "{cfg}"
        );
        assert!(
            cfg.contains(
                "  linux /images/vmlinuz inst.stage2=hd:LABEL=KS-TEST inst.ks=hd:LABEL=KS-TEST:/ks.cfg console=ttyS0,115200\n"
            ),
            "{cfg}"
        );
        assert!(cfg.contains("  initrd /images/initramfs.img\n"), "{cfg}");
        assert!(cfg.contains("exit"), "{cfg}");
    }

    #[test]
    fn without_a_kickstart_the_default_entry_erases_nothing() {
        let mut m = meta();
        m.kickstart = false;
        m.append.clear();
        let cfg = grub_cfg(&m).unwrap();
        assert!(
            cfg.contains("without a kickstart - erases nothing"),
            "{cfg}"
        );
        assert!(
            cfg.contains("  linux /images/vmlinuz inst.stage2=hd:LABEL=KS-TEST\n"),
            "{cfg}"
        );
        assert!(!cfg.contains("erases the disks"), "{cfg}");
    }

    #[test]
    fn arguments_are_quoted_or_refused() {
        assert_eq!(grub_word("ip=dhcp").unwrap(), "ip=dhcp");
        assert_eq!(
            grub_word("inst.ks=http://h/ks?a=1&b=$x").unwrap(),
            "'inst.ks=http://h/ks?a=1&b=$x'"
        );
        assert!(grub_word("a b").unwrap_err().contains("whitespace"));
        assert!(grub_word("a'b").is_err());
        let mut m = meta();
        m.append = vec!["x=\"y\"".into()];
        assert!(grub_cfg(&m).unwrap_err().contains("quotes"));
    }

    #[test]
    fn titles_are_escaped() {
        assert_eq!(title(r#"a "b" $c \d"#), r#""a \"b\" \$c \\d""#);
        assert_eq!(
            early_cfg("KS"),
            "search --no-floppy --set=root --label KS\nset prefix=($root)/boot/grub\n"
        );
    }
}
