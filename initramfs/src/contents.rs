//! The report of what a build put into the initramfs, with sizes.

use std::collections::BTreeMap;
use std::fmt;

/// Why a file is in the initramfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    Installer,
    Kickstart,
    Tool,
    Library,
    Module,
    ModuleIndex,
    Firmware,
    Certificates,
    Config,
}

impl Category {
    fn label(self) -> &'static str {
        match self {
            Category::Installer => "installer (/init)",
            Category::Kickstart => "kickstart (/ks.cfg)",
            Category::Tool => "tools",
            Category::Library => "shared libraries",
            Category::Module => "kernel modules",
            Category::ModuleIndex => "module indexes",
            Category::Firmware => "firmware",
            Category::Certificates => "CA certificates",
            Category::Config => "configuration",
        }
    }
}

/// One file (not directory, link or device) put into the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub category: Category,
    /// Path inside the initramfs, without the leading `/`.
    pub path: String,
    pub size: u64,
}

/// Everything a build included, plus what it could not and why.
#[derive(Debug, Clone, Default)]
pub struct Contents {
    pub items: Vec<Item>,
    pub warnings: Vec<String>,
    pub kernel_version: String,
    /// Busybox applet symlinks created.
    pub applets: usize,
    /// Filled in after writing: sizes of the cpio stream and of the compressed file.
    pub uncompressed_size: u64,
    pub compressed_size: u64,
}

impl Contents {
    pub fn add(&mut self, category: Category, path: &str, size: u64) {
        self.items.push(Item {
            category,
            path: path.to_string(),
            size,
        });
    }

    pub fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    /// `(count, bytes)` per category.
    pub fn by_category(&self) -> BTreeMap<Category, (usize, u64)> {
        let mut out: BTreeMap<Category, (usize, u64)> = BTreeMap::new();
        for item in &self.items {
            let e = out.entry(item.category).or_default();
            e.0 += 1;
            e.1 += item.size;
        }
        out
    }

    /// Every item, one per line: `SIZE  PATH  (category)`.
    pub fn listing(&self) -> String {
        let mut items: Vec<&Item> = self.items.iter().collect();
        items.sort_by(|a, b| a.path.cmp(&b.path));
        items
            .iter()
            .map(|i| format!("{:>10}  /{}  ({})\n", i.size, i.path, i.category.label()))
            .collect()
    }
}

/// `12.3 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

impl fmt::Display for Contents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "initramfs for kernel {}:", self.kernel_version)?;
        for (category, (count, bytes)) in self.by_category() {
            writeln!(
                f,
                "  {:<22} {:>5} files  {:>10}",
                category.label(),
                count,
                human(bytes)
            )?;
        }
        if self.applets > 0 {
            writeln!(
                f,
                "  {:<22} {:>5} symlinks",
                "busybox applets", self.applets
            )?;
        }
        writeln!(
            f,
            "  total: {} uncompressed, {} compressed",
            human(self.uncompressed_size),
            human(self.compressed_size)
        )?;
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_groups_by_category_and_shows_warnings() {
        let mut c = Contents {
            kernel_version: "6.1.0-27-amd64".into(),
            ..Default::default()
        };
        c.add(Category::Module, "usr/lib/modules/x/a.ko", 1024);
        c.add(Category::Module, "usr/lib/modules/x/b.ko", 1024);
        c.add(Category::Installer, "init", 3 * 1024 * 1024);
        c.warnings.push("module ice not found".into());
        c.compressed_size = 5_000_000;
        let text = c.to_string();
        assert!(
            text.contains("kernel modules             2 files     2.0 KiB"),
            "{text}"
        );
        assert!(
            text.contains("installer (/init)          1 files     3.0 MiB"),
            "{text}"
        );
        assert!(text.contains("4.8 MiB compressed"), "{text}");
        assert!(text.contains("warning: module ice not found"), "{text}");
    }
}
