//! Reading what an ISO carries, without mounting it: the metadata, the kickstart, the boot
//! menu's kernel lines and the embedded image's digest.

use std::path::Path;

use anyhow::{Context, Result, bail};
use kickstand_oci::oci_spec::image::ImageIndex;

use super::{CONTAINER_DIR, GRUB_CFG_PATH, KICKSTART_PATH, METADATA_PATH, Metadata, xorriso};

/// What `iso show` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    pub metadata: Metadata,
    /// The kickstart text, when the ISO carries one.
    pub kickstart: Option<String>,
    /// The kernel command lines of the boot menu, as GRUB will pass them.
    pub kernel_lines: Vec<String>,
    /// The manifest digests listed in `/container/index.json`.
    pub image_digests: Vec<String>,
}

/// Reads `iso`. Refuses an ISO that `kickstand iso build` did not make (no metadata).
pub fn read(iso: &Path) -> Result<Contents> {
    if !iso.is_file() {
        bail!("{} is not a file", iso.display());
    }
    let work = tempfile::tempdir().context("creating a temporary directory")?;
    let meta_file = work.path().join("iso.json");
    if !xorriso::extract(iso, METADATA_PATH, &meta_file)? {
        bail!(
            "{} has no /{METADATA_PATH}: it was not made by `kickstand iso build`",
            iso.display()
        );
    }
    let metadata = read_metadata(&meta_file)?;
    let ks_file = work.path().join("ks.cfg");
    let kickstart = if xorriso::extract(iso, KICKSTART_PATH, &ks_file)? {
        Some(std::fs::read_to_string(&ks_file).context("reading the kickstart")?)
    } else {
        None
    };
    let grub_file = work.path().join("grub.cfg");
    if !xorriso::extract(iso, GRUB_CFG_PATH, &grub_file)? {
        bail!("{} has no boot menu /{GRUB_CFG_PATH}", iso.display());
    }
    let grub = std::fs::read_to_string(&grub_file).context("reading the boot menu")?;
    let kernel_lines = kernel_lines(&grub);
    let index_file = work.path().join("index.json");
    let image_digests =
        if xorriso::extract(iso, &format!("{CONTAINER_DIR}/index.json"), &index_file)? {
            let index: ImageIndex = serde_json::from_slice(
                &std::fs::read(&index_file).context("reading /container/index.json")?,
            )
            .context("/container/index.json is not an OCI image index")?;
            index
                .manifests()
                .iter()
                .map(|d| d.digest().to_string())
                .collect()
        } else {
            Vec::new()
        };
    Ok(Contents {
        metadata,
        kickstart,
        kernel_lines,
        image_digests,
    })
}

/// Parses `/kickstand/iso.json`, refusing formats this version does not know.
pub fn read_metadata(path: &Path) -> Result<Metadata> {
    let meta: Metadata = serde_json::from_slice(
        &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("/{METADATA_PATH} is not valid"))?;
    if meta.format != Metadata::FORMAT {
        bail!(
            "/{METADATA_PATH} has format {}; this kickstand reads format {}",
            meta.format,
            Metadata::FORMAT
        );
    }
    Ok(meta)
}

/// The arguments of every `linux` line of a GRUB configuration (the kernel path dropped).
pub fn kernel_lines(grub_cfg: &str) -> Vec<String> {
    grub_cfg
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("linux "))
        .map(|rest| {
            rest.trim()
                .split_once(' ')
                .map(|(_, args)| args.to_string())
                .unwrap_or_default()
        })
        .collect()
}

impl std::fmt::Display for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = &self.metadata;
        writeln!(f, "volume label: {}", m.label)?;
        if let Some(k) = &m.kernel_version {
            writeln!(f, "kernel: {k}")?;
        }
        writeln!(f, "boot menu default: {}", super::menu::default_action(m))?;
        writeln!(f, "boot menu timeout: {} s", m.timeout)?;
        for line in &self.kernel_lines {
            writeln!(f, "kernel arguments: {line}")?;
        }
        match &m.image {
            Some(img) => {
                writeln!(f, "image: {} ({})", img.digest, img.source)?;
                writeln!(
                    f,
                    "image layers: {} bytes compressed, at {}",
                    img.layers_size,
                    super::container_url()
                )?;
            }
            None => writeln!(
                f,
                "image: none (the kickstart's image is pulled over the network)"
            )?,
        }
        for d in &self.image_digests {
            if m.image.as_ref().is_none_or(|i| &i.digest != d) {
                writeln!(
                    f,
                    "warning: /container lists {d}, which the metadata does not name"
                )?;
            }
        }
        match &self.kickstart {
            Some(ks) => {
                writeln!(f, "kickstart: /{KICKSTART_PATH}")?;
                for line in ks.lines() {
                    writeln!(f, "  {line}")?;
                }
            }
            None => writeln!(f, "kickstart: none")?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_lines_are_found() {
        let cfg = "menuentry \"x\" {\n  linux /images/vmlinuz a=1 b\n  initrd /i\n}\nmenuentry \"y\" { exit }\n";
        assert_eq!(kernel_lines(cfg), ["a=1 b"]);
    }
}
