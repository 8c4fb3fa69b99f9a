//! The bootc way of deploying an image: the image's own `bootc install to-filesystem`, run
//! chrooted in the staged root (see [`super::stage`]) with `/dev /proc /sys /run`, the
//! staged OCI layout at [`LAYOUT_IN_ROOT`] and the mounted target at `/target`:
//!
//! `bootc install to-filesystem --source-imgref oci:LAYOUT --target-imgref REF
//! [--target-transport T] --stateroot S [--karg A]... [--bootloader B] /target`
//!
//! `--bootloader` (bootc's `grub`, `systemd` or `none`) comes from the kickstart's
//! `bootloader` command where it means the same ([`bootloader_arg`]): `--location=none` and
//! `--disabled` are `none`, `--sdboot` is `systemd`; without either bootc chooses from the
//! image, as it does on its own. What bootc cannot do (`--extlinux`, a boot loader password,
//! systemd-boot on BIOS firmware) is refused before any disk is touched.
//!
//! `REF` is the reference without its transport, so that `bootc upgrade` on the installed
//! system follows the registry tag rather than the staged copy. Afterwards [`Deployment`]
//! finds the deployment bootc wrote (`/ostree/deploy/S/deploy/CHECKSUM.N`), where the
//! accounts, `%post` and the install log go.
//!
//! When bootc fails, its output is in the error; the target holds whatever bootc wrote
//! before failing and must not be booted (nothing else runs after it).
//!
//! Verified against a stand-in for bootc (a script checking its arguments and writing an
//! ostree-style deployment), not against bootc itself: no bootc image can be pulled here.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use kickstand_grammar::{BootloaderLocation, Kickstart};
use kickstand_oci::reference::ImageSource;

use super::image::Wanted;
use super::scripts;
use super::stage::{BOOTC, LAYOUT_IN_ROOT, Staging};
use super::storage::Prepared;
use crate::deploy::TargetRoot;
use crate::disk::fstab::FstabEntry;
use crate::hardware::Firmware;
use crate::progress::Reporter;

/// bootc's default stateroot.
pub const DEFAULT_STATEROOT: &str = "default";

/// What bootc is asked to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The reference the installed system follows, without a transport.
    pub target_imgref: String,
    /// `--target-transport` when the installed system follows something other than a
    /// registry (`oci`, `oci-archive`).
    pub target_transport: Option<String>,
    pub stateroot: String,
    pub kargs: Vec<String>,
    /// `--bootloader`, when the kickstart chose (see [`bootloader_arg`]).
    pub bootloader: Option<&'static str>,
}

/// Transports bootc can follow after the install (`--target-transport`), besides a registry.
const FOLLOWED_TRANSPORTS: &[&str] = &["oci", "oci-archive", "containers-storage"];

/// Transports of containers-image that name no image bootc could update from.
const UNFOLLOWABLE_TRANSPORTS: &[&str] = &[
    "dir",
    "docker-archive",
    "docker-daemon",
    "sif",
    "ostree",
    "ostree-unverified-image",
    "ostree-image-signed",
    "ostree-remote-image",
    "ostree-remote-registry",
];

/// The reference without its transport, and the transport when it is not a registry; a
/// transport bootc cannot follow is refused (before any disk is touched: the call is made
/// while the image is resolved).
fn split_transport(imgref: &str) -> Result<(String, Option<String>)> {
    if let Some(rest) = imgref.strip_prefix("docker://") {
        return Ok((rest.to_string(), None));
    }
    for prefix in ["registry:", "ostree-unverified-registry:"] {
        if let Some(rest) = imgref.strip_prefix(prefix) {
            return Ok((rest.to_string(), None));
        }
    }
    for transport in FOLLOWED_TRANSPORTS {
        if let Some(rest) = imgref.strip_prefix(&format!("{transport}:")) {
            return Ok((rest.to_string(), Some(transport.to_string())));
        }
    }
    if let Some((transport, _)) = imgref.split_once(':')
        && UNFOLLOWABLE_TRANSPORTS.contains(&transport)
    {
        bail!(
            "bootc --target-imgref {imgref:?}: the installed system cannot follow a \
             `{transport}:` image with `bootc upgrade`; give a registry reference \
             (REGISTRY/NAME:TAG, `registry:` or `docker://`) or one of {}; nothing was written",
            FOLLOWED_TRANSPORTS
                .iter()
                .map(|t| format!("`{t}:`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if imgref.is_empty() {
        bail!("bootc --target-imgref is empty; nothing was written");
    }
    Ok((imgref.to_string(), None))
}

/// bootc's `--bootloader` for the kickstart's `bootloader` command on `firmware`: `None` when
/// the kickstart leaves the choice to bootc; an error (before any disk is touched) for what
/// bootc cannot do.
pub fn bootloader_arg(ks: &Kickstart, firmware: Firmware) -> Result<Option<&'static str>> {
    let Some(b) = &ks.bootloader else {
        return Ok(None);
    };
    let none = b.disabled || b.location == Some(BootloaderLocation::None);
    if b.extlinux {
        bail!(
            "bootloader --extlinux: the image's bootc installs GRUB or systemd-boot, not \
             extlinux; drop --extlinux (or use --sdboot); nothing was written"
        );
    }
    if b.password.is_some() && !none {
        bail!(
            "bootloader --password: the image's bootc sets no boot loader password; drop it \
             (a %post script can set one with the image's own tools); nothing was written"
        );
    }
    if b.sdboot {
        if none {
            bail!(
                "bootloader --sdboot with {}: asks for systemd-boot and for no boot loader at \
                 once; keep one; nothing was written",
                if b.disabled {
                    "--disabled"
                } else {
                    "--location=none"
                }
            );
        }
        if firmware == Firmware::Bios {
            bail!(
                "bootloader --sdboot: systemd-boot boots only with UEFI firmware and this \
                 install is for BIOS; drop --sdboot (bootc then installs GRUB); nothing was \
                 written"
            );
        }
        return Ok(Some("systemd"));
    }
    Ok(none.then_some("none"))
}

impl Call {
    /// The call for the kickstart's `ostreecontainer` or `bootc` command, on `firmware`.
    pub fn new(
        ks: &Kickstart,
        wanted: &Wanted,
        kargs: Vec<String>,
        firmware: Firmware,
    ) -> Result<Call> {
        let (target_imgref, target_transport) = match (&ks.bootc, &wanted.source) {
            (Some(b), _) => {
                split_transport(b.target_imgref.as_deref().unwrap_or(&b.source_imgref))?
            }
            (None, ImageSource::Registry(r)) => (r.whole(), None),
            (None, other) => split_transport(&other.to_string())?,
        };
        let stateroot = ks
            .bootc
            .as_ref()
            .and_then(|b| b.stateroot.clone())
            .unwrap_or_else(|| DEFAULT_STATEROOT.to_string());
        Ok(Call {
            target_imgref,
            target_transport,
            stateroot,
            kargs,
            bootloader: bootloader_arg(ks, firmware)?,
        })
    }

    /// bootc's arguments.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = [
            "install",
            "to-filesystem",
            "--source-imgref",
            &format!("oci:{LAYOUT_IN_ROOT}"),
            "--target-imgref",
            &self.target_imgref,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(t) = &self.target_transport {
            a.extend(["--target-transport".to_string(), t.clone()]);
        }
        a.extend(["--stateroot".to_string(), self.stateroot.clone()]);
        for k in &self.kargs {
            a.extend(["--karg".to_string(), k.clone()]);
        }
        if let Some(b) = self.bootloader {
            a.extend(["--bootloader".to_string(), b.to_string()]);
        }
        a.push("/target".to_string());
        a
    }
}

/// Runs the staged image's bootc onto `target`. `env` is the scripts' environment (host mode
/// restricts `/dev` to the target disks).
pub fn install(
    staging: &Staging,
    target: &Path,
    call: &Call,
    env: &scripts::Env,
    reporter: &Reporter,
) -> Result<Deployment> {
    let env = scripts::Env {
        target: Some(staging.root.clone()),
        esp: None,
        binds: vec![
            (staging.layout.clone(), LAYOUT_IN_ROOT.to_string()),
            (target.to_path_buf(), "/target".to_string()),
        ],
        ..env.clone()
    };
    let args = call.args();
    reporter.info(&format!(
        "running the image's bootc, chrooted in the staged image: {BOOTC} {}",
        args.join(" ")
    ));
    let (status, output) = scripts::run_chrooted(&env, BOOTC, &args)?;
    for line in output.lines() {
        reporter.info(&format!("  | {line}"));
    }
    if !status.success() {
        bail!(
            "the image's bootc failed ({status}); the target holds what it wrote so far and no \
             usable system; its output:\n{}",
            output.trim_end()
        );
    }
    let deployment = Deployment::find(target, &call.stateroot)?;
    reporter.info(&format!(
        "bootc deployed {}",
        deployment
            .root
            .strip_prefix(target)
            .unwrap_or(&deployment.root)
            .display()
    ));
    Ok(deployment)
}

/// The deployment's `/etc/fstab` with the storage's entries added: bootc writes at most the
/// `/boot` line (the root reaches the kernel as `root=`), so each entry other than `/` whose
/// mount point (for swap: its device) `existing` does not name yet is appended. `None` when
/// nothing is added.
pub fn merged_fstab(existing: Option<&str>, entries: &[FstabEntry]) -> Option<String> {
    let named: Vec<(&str, &str)> = existing
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?, f.next()?))
        })
        .collect();
    let new: Vec<FstabEntry> = entries
        .iter()
        .filter(|e| e.file != "/")
        .filter(|e| {
            !named.iter().any(|(spec, file)| {
                if e.vfstype == "swap" {
                    *spec == e.spec
                } else {
                    *file == e.file
                }
            })
        })
        .cloned()
        .collect();
    if new.is_empty() {
        return None;
    }
    let mut out = existing.unwrap_or_default().to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&crate::disk::fstab::render(&new));
    Some(out)
}

/// Writes into the deployment's `/etc` the storage configuration bootc does not write:
/// `/etc/crypttab` (LUKS containers, as the flat way writes it) and the `/etc/fstab` entries
/// for the other mount points and swap ([`merged_fstab`]).
pub fn write_storage_config(deployment: &TargetRoot, prepared: &Prepared) -> Result<()> {
    super::storage::write_config(deployment, prepared)?;
    let existing = deployment
        .read_optional("/etc/fstab")
        .context("reading the deployment's /etc/fstab")?;
    if let Some(text) = merged_fstab(existing.as_deref(), &prepared.fstab()) {
        deployment
            .write("/etc/fstab", text.as_bytes(), 0o644)
            .context("writing the deployment's /etc/fstab")?;
    }
    Ok(())
}

/// The deployment bootc made in the target.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// `TARGET/ostree/deploy/S/deploy/CHECKSUM.N`: its `/etc` and `/usr`.
    pub root: PathBuf,
    /// `TARGET/ostree/deploy/S/var`: the booted system's `/var` (homes under `var/home`).
    pub var: PathBuf,
}

impl Deployment {
    /// Finds the one deployment of `stateroot` under `target`.
    pub fn find(target: &Path, stateroot: &str) -> Result<Deployment> {
        let base = target.join("ostree/deploy").join(stateroot);
        let dir = base.join("deploy");
        let entries = std::fs::read_dir(&dir).with_context(|| {
            format!(
                "bootc succeeded but wrote no deployment: {} cannot be read",
                dir.display()
            )
        })?;
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.rsplit_once('.'))
                    .is_some_and(|(sum, serial)| {
                        !sum.is_empty() && serial.bytes().all(|b| b.is_ascii_digit())
                    })
            })
            .collect();
        found.sort();
        match found.as_slice() {
            [one] => Ok(Deployment {
                root: one.clone(),
                var: base.join("var"),
            }),
            [] => bail!(
                "bootc succeeded but wrote no deployment (CHECKSUM.N) under {}",
                dir.display()
            ),
            many => bail!(
                "bootc wrote {} deployments under {}; a fresh install has one",
                many.len(),
                dir.display()
            ),
        }
    }
}

/// The deployment's `/var` bound onto its `var` directory in the installer's mount
/// namespace while the accounts and the log are written (homes live in `/var/home`, root's
/// in `/var/roothome`, as the booted system sees them); unbound when dropped.
#[derive(Debug)]
pub struct VarBind {
    at: PathBuf,
}

impl VarBind {
    pub fn new(d: &Deployment) -> Result<VarBind> {
        let at = d.root.join("var");
        std::fs::create_dir_all(&at).with_context(|| format!("creating {}", at.display()))?;
        std::fs::create_dir_all(&d.var).with_context(|| format!("creating {}", d.var.display()))?;
        nix::mount::mount(
            Some(&d.var),
            &at,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("binding {} onto {}", d.var.display(), at.display()))?;
        Ok(VarBind { at })
    }
}

impl Drop for VarBind {
    fn drop(&mut self) {
        if let Err(e) = nix::mount::umount2(&self.at, nix::mount::MntFlags::MNT_DETACH) {
            tracing::warn!(at = %self.at.display(), "unbinding the deployment's /var: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Firmware, bootloader_arg, split_transport};
    use kickstand_grammar as ks;

    fn bootloader(line: &str, firmware: Firmware) -> Result<Option<&'static str>, String> {
        let parsed = ks::parse("ks.cfg", &format!("{line}\n"), &ks::NoIncludes);
        assert!(!parsed.has_errors(), "{line}");
        bootloader_arg(&parsed.kickstart, firmware).map_err(|e| e.to_string())
    }

    #[test]
    fn the_deployments_fstab_gets_what_bootc_did_not_write() {
        use super::merged_fstab;
        use crate::disk::fstab::FstabEntry;
        use crate::storage::FsType;
        let entries = [
            FstabEntry::new("r", "/", Some(FsType::Xfs), "defaults"),
            FstabEntry::new("b", "/boot", Some(FsType::Xfs), "defaults"),
            FstabEntry::new("h", "/home", Some(FsType::Xfs), "defaults"),
            FstabEntry::new("s", "swap", None, "defaults"),
        ];
        let bootc = "UUID=b /boot xfs defaults 0 0";
        let text = merged_fstab(Some(bootc), &entries).unwrap();
        assert!(
            text.starts_with("UUID=b /boot xfs defaults 0 0\n#"),
            "{text}"
        );
        assert!(
            !text.contains("UUID=r "),
            "the root comes from root=: {text}"
        );
        assert_eq!(text.matches("/boot").count(), 1, "{text}");
        assert!(text.contains("UUID=h") && text.contains("/home"), "{text}");
        assert!(text.contains("UUID=s") && text.contains(" swap "), "{text}");
        assert_eq!(merged_fstab(Some(&text), &entries), None);
        let fresh = merged_fstab(None, &entries).unwrap();
        assert!(fresh.starts_with("# /etc/fstab written by kickstand-installer\n"));
        assert!(fresh.contains("UUID=b"), "{fresh}");
    }

    #[test]
    fn the_bootloader_command_maps_onto_bootcs_choice() {
        use Firmware::{Bios, Uefi};
        assert_eq!(bootloader("", Uefi), Ok(None));
        assert_eq!(bootloader("bootloader --append=quiet", Bios), Ok(None));
        assert_eq!(bootloader("bootloader --location=mbr", Bios), Ok(None));
        assert_eq!(
            bootloader("bootloader --location=none", Bios),
            Ok(Some("none"))
        );
        assert_eq!(bootloader("bootloader --disabled", Uefi), Ok(Some("none")));
        assert_eq!(bootloader("bootloader --sdboot", Uefi), Ok(Some("systemd")));
        // A password does not matter when no boot loader is installed.
        assert_eq!(
            bootloader("bootloader --location=none --password=x", Uefi),
            Ok(Some("none"))
        );
    }

    #[test]
    fn what_bootc_cannot_do_is_refused() {
        use Firmware::{Bios, Uefi};
        let e = bootloader("bootloader --extlinux", Bios).unwrap_err();
        assert!(
            e.contains("not extlinux") && e.contains("nothing was written"),
            "{e}"
        );
        let e = bootloader("bootloader --sdboot", Bios).unwrap_err();
        assert!(e.contains("only with UEFI firmware"), "{e}");
        let e = bootloader("bootloader --sdboot --location=none", Uefi).unwrap_err();
        assert!(e.contains("--sdboot with --location=none"), "{e}");
        let e = bootloader("bootloader --password=secret", Uefi).unwrap_err();
        assert!(e.contains("sets no boot loader password"), "{e}");
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn the_target_reference_loses_its_transport() {
        let s = |a: &str, b: Option<&str>| (a.to_string(), b.map(str::to_string));
        let split = |r: &str| split_transport(r).unwrap();
        assert_eq!(
            split("registry:quay.io/fedora/fedora-bootc:42"),
            s("quay.io/fedora/fedora-bootc:42", None)
        );
        assert_eq!(split("docker://quay.io/x:1"), s("quay.io/x:1", None));
        assert_eq!(split("quay.io/x:1"), s("quay.io/x:1", None));
        assert_eq!(split("localhost:5000/x:1"), s("localhost:5000/x:1", None));
        assert_eq!(
            split("oci:/srv/img:latest"),
            s("/srv/img:latest", Some("oci"))
        );
        assert_eq!(
            split("containers-storage:localhost/x"),
            s("localhost/x", Some("containers-storage"))
        );
    }

    #[test]
    fn a_target_bootc_cannot_follow_is_refused() {
        for bad in [
            "dir:/srv/tree",
            "docker-archive:/x.tar",
            "ostree-remote-image:r:x",
        ] {
            let e = split_transport(bad).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("nothing was written"), "{e}");
            assert!(
                e.contains("`oci:`, `oci-archive:`, `containers-storage:`"),
                "{e}"
            );
        }
        assert!(split_transport("").is_err());
    }
}
