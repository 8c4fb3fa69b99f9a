//! The bootc way of deploying an image: the image's own `bootc install to-filesystem`, run
//! chrooted in the staged root (see [`super::stage`]) with `/dev /proc /sys /run`, the
//! staged OCI layout at [`LAYOUT_IN_ROOT`] and the mounted target at `/target`:
//!
//! `bootc install to-filesystem --source-imgref oci:LAYOUT --target-imgref REF
//! [--target-transport T] --stateroot S [--karg A]... /target`
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
use kickstand_grammar::Kickstart;
use kickstand_oci::reference::ImageSource;

use super::image::Wanted;
use super::scripts;
use super::stage::{BOOTC, LAYOUT_IN_ROOT, Staging};
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

impl Call {
    /// The call for the kickstart's `ostreecontainer` or `bootc` command.
    pub fn new(ks: &Kickstart, wanted: &Wanted, kargs: Vec<String>) -> Result<Call> {
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
    use super::split_transport;

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
