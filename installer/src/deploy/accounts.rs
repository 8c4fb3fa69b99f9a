//! The target's account databases: `/etc/passwd`, `/etc/shadow`, `/etc/group`, `/etc/gshadow`,
//! edited in memory and written back whole, as shadow-utils would leave them.
//!
//! Lines we do not edit are written back byte for byte (comments and NIS `+`/`-` lines
//! included); new entries are appended. IDs for new users and groups follow `useradd`: one more
//! than the highest ID already in `[UID_MIN, UID_MAX]` (from the target's `/etc/login.defs`,
//! default 1000–60000), or `UID_MIN` when none is. [`Accounts::save`] replaces each file
//! atomically; if it fails midway some of the four files may be new and some old.

use super::error::{DeployError, Result};
use super::target::TargetRoot;

/// One of the four colon-separated files.
#[derive(Debug, Clone)]
pub struct Table {
    path: &'static str,
    fields: usize,
    lines: Vec<Line>,
    changed: bool,
}

#[derive(Debug, Clone)]
enum Line {
    Entry(Vec<String>),
    Verbatim(String),
}

impl Table {
    /// Parses `text` as the file at `path` (inside the target) whose entries have `fields`
    /// colon-separated fields.
    pub fn parse(path: &'static str, fields: usize, text: &str) -> Result<Self> {
        let mut lines = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') || line.starts_with(['+', '-']) {
                lines.push(Line::Verbatim(line.to_string()));
                continue;
            }
            let entry: Vec<String> = line.split(':').map(str::to_string).collect();
            if entry.len() != fields {
                return Err(DeployError::Format {
                    path: path.to_string(),
                    line: n + 1,
                    message: format!(
                        "expected {fields} colon-separated fields, found {}: {line:?}",
                        entry.len()
                    ),
                });
            }
            lines.push(Line::Entry(entry));
        }
        Ok(Table {
            path,
            fields,
            lines,
            changed: false,
        })
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            match line {
                Line::Entry(fields) => out.push_str(&fields.join(":")),
                Line::Verbatim(text) => out.push_str(text),
            }
            out.push('\n');
        }
        out
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> impl Iterator<Item = &[String]> {
        self.lines.iter().filter_map(|l| match l {
            Line::Entry(e) => Some(e.as_slice()),
            Line::Verbatim(_) => None,
        })
    }

    /// The entry whose first field is `name`.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.entries().find(|e| e[0] == name)
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut Vec<String>> {
        self.lines.iter_mut().find_map(|l| match l {
            Line::Entry(e) if e[0] == name => Some(e),
            _ => None,
        })
    }

    /// Sets field `index` of `name`'s entry; false when there is no such entry.
    pub fn set(&mut self, name: &str, index: usize, value: &str) -> bool {
        match self.get_mut(name) {
            Some(entry) => {
                if entry[index] != value {
                    entry[index] = value.to_string();
                    self.changed = true;
                }
                true
            }
            None => false,
        }
    }

    /// Appends an entry.
    pub fn push(&mut self, entry: Vec<String>) {
        assert_eq!(entry.len(), self.fields, "entry for {}", self.path);
        self.lines.push(Line::Entry(entry));
        self.changed = true;
    }

    /// Adds `member` to the comma-separated list in field `index` of `name`'s entry.
    fn add_to_list(&mut self, name: &str, index: usize, member: &str) {
        if let Some(entry) = self.get_mut(name) {
            let mut members: Vec<&str> =
                entry[index].split(',').filter(|m| !m.is_empty()).collect();
            if !members.contains(&member) {
                members.push(member);
                entry[index] = members.join(",");
                self.changed = true;
            }
        }
    }

    /// The numeric field `index` of every entry (entries where it is not a number are skipped).
    fn ids(&self, index: usize) -> impl Iterator<Item = u32> + '_ {
        self.entries().filter_map(move |e| e[index].parse().ok())
    }
}

/// ID ranges from the target's `/etc/login.defs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRanges {
    /// `UID_MIN`..=`UID_MAX`.
    pub uid: (u32, u32),
    /// `GID_MIN`..=`GID_MAX`.
    pub gid: (u32, u32),
    /// `HOME_MODE` (or the complement of `UMASK`), for new home directories.
    pub home_mode: u32,
}

impl Default for IdRanges {
    fn default() -> Self {
        IdRanges {
            uid: (1000, 60000),
            gid: (1000, 60000),
            home_mode: 0o700,
        }
    }
}

impl IdRanges {
    /// Reads `login.defs` text; missing or malformed keys keep their defaults.
    pub fn from_login_defs(text: &str) -> Self {
        let mut r = IdRanges::default();
        let mut umask = None;
        let mut home_mode = None;
        for line in text.lines() {
            let mut words = line.split_whitespace();
            let (Some(key), Some(value)) = (words.next(), words.next()) else {
                continue;
            };
            let num = value.parse::<u32>().ok();
            let oct = u32::from_str_radix(value.trim_start_matches('0'), 8).ok();
            match (key, num) {
                ("UID_MIN", Some(n)) => r.uid.0 = n,
                ("UID_MAX", Some(n)) => r.uid.1 = n,
                ("GID_MIN", Some(n)) => r.gid.0 = n,
                ("GID_MAX", Some(n)) => r.gid.1 = n,
                ("HOME_MODE", _) => home_mode = oct,
                ("UMASK", _) => umask = oct,
                _ => {}
            }
        }
        r.home_mode = home_mode
            .or(umask.map(|u| 0o777 & !u))
            .unwrap_or(r.home_mode);
        r
    }
}

/// The four account files of a target, loaded for editing.
#[derive(Debug, Clone)]
pub struct Accounts {
    /// `/etc/passwd`: name, password, uid, gid, gecos, home, shell.
    pub passwd: Table,
    /// `/etc/shadow`: name, hash, last change, min, max, warn, inactive, expire, reserved.
    pub shadow: Table,
    /// `/etc/group`: name, password, gid, members.
    pub group: Table,
    /// `/etc/gshadow` (absent in some images; then it is not created): name, password,
    /// administrators, members.
    pub gshadow: Option<Table>,
    /// ID ranges for new users and groups.
    pub ranges: IdRanges,
    /// Today in days since 1970-01-01, for shadow's "last change" field.
    pub today: u64,
}

impl Accounts {
    /// Loads the target's account files. `/etc/passwd` and `/etc/group` must exist; a missing
    /// `/etc/shadow` is created on save.
    pub fn load(root: &TargetRoot, today: u64) -> Result<Self> {
        let required = |path: &'static str| -> Result<String> {
            root.read_optional(path)?
                .ok_or_else(|| DeployError::MissingInImage {
                    path: path.to_string(),
                    why: "users and passwords are written there".to_string(),
                })
        };
        let passwd = Table::parse("/etc/passwd", 7, &required("/etc/passwd")?)?;
        let group = Table::parse("/etc/group", 4, &required("/etc/group")?)?;
        let shadow = Table::parse(
            "/etc/shadow",
            9,
            &root.read_optional("/etc/shadow")?.unwrap_or_default(),
        )?;
        let gshadow = root
            .read_optional("/etc/gshadow")?
            .map(|text| Table::parse("/etc/gshadow", 4, &text))
            .transpose()?;
        let ranges = root
            .read_optional("/etc/login.defs")?
            .map(|t| IdRanges::from_login_defs(&t))
            .unwrap_or_default();
        Ok(Accounts {
            passwd,
            shadow,
            group,
            gshadow,
            ranges,
            today,
        })
    }

    /// Writes back the files that changed.
    pub fn save(&self, root: &TargetRoot) -> Result<()> {
        let tables = [
            (Some(&self.passwd), 0o644),
            (Some(&self.group), 0o644),
            (Some(&self.shadow), 0o000),
            (self.gshadow.as_ref(), 0o000),
        ];
        for (table, mode) in tables {
            if let Some(t) = table.filter(|t| t.changed) {
                root.write(t.path, t.render().as_bytes(), mode)?;
            }
        }
        Ok(())
    }

    /// The uid of `user`.
    pub fn uid(&self, user: &str) -> Option<u32> {
        self.passwd.get(user).and_then(|e| e[2].parse().ok())
    }

    /// The gid of `group`.
    pub fn gid(&self, group: &str) -> Option<u32> {
        self.group.get(group).and_then(|e| e[2].parse().ok())
    }

    /// The name of the group with `gid`.
    pub fn group_by_gid(&self, gid: u32) -> Option<&str> {
        self.group
            .entries()
            .find(|e| e[2].parse() == Ok(gid))
            .map(|e| e[0].as_str())
    }

    /// The name of the user with `uid`.
    pub fn user_by_uid(&self, uid: u32) -> Option<&str> {
        self.passwd
            .entries()
            .find(|e| e[2].parse() == Ok(uid))
            .map(|e| e[0].as_str())
    }

    /// The next uid `useradd` would pick.
    pub fn next_uid(&self) -> Result<u32> {
        next_id(self.passwd.ids(2), self.ranges.uid, "UID")
    }

    /// The next gid `groupadd` would pick.
    pub fn next_gid(&self) -> Result<u32> {
        next_id(self.group.ids(2), self.ranges.gid, "GID")
    }

    /// Adds a group (and its gshadow entry).
    pub fn add_group(&mut self, name: &str, gid: u32) {
        self.group.push(vec![
            name.into(),
            "x".into(),
            gid.to_string(),
            String::new(),
        ]);
        if let Some(g) = &mut self.gshadow {
            g.push(vec![name.into(), "!".into(), String::new(), String::new()]);
        }
    }

    /// Makes `user` a supplementary member of `group` (which must exist).
    pub fn add_member(&mut self, group: &str, user: &str) {
        self.group.add_to_list(group, 3, user);
        if let Some(g) = &mut self.gshadow {
            g.add_to_list(group, 3, user);
        }
    }

    /// Adds a user (passwd and shadow entries).
    pub fn add_user(&mut self, user: &NewUser, hash: &str) {
        self.passwd.push(vec![
            user.name.clone(),
            "x".into(),
            user.uid.to_string(),
            user.gid.to_string(),
            user.gecos.clone(),
            user.home.clone(),
            user.shell.clone(),
        ]);
        self.shadow.push(shadow_entry(&user.name, hash, self.today));
    }

    /// Sets `user`'s password hash (adding the shadow entry when the image lacks it) and
    /// today's date as the last change.
    pub fn set_hash(&mut self, user: &str, hash: &str) {
        if self.shadow.get(user).is_none() {
            self.shadow.push(shadow_entry(user, hash, self.today));
        } else {
            self.shadow.set(user, 1, hash);
            self.shadow.set(user, 2, &self.today.to_string());
        }
        // A hash left in passwd would override nothing but is a leak: shadow it.
        self.passwd.set(user, 1, "x");
    }

    /// `user`'s current hash (empty when there is no shadow entry).
    pub fn hash(&self, user: &str) -> &str {
        self.shadow.get(user).map_or("", |e| e[1].as_str())
    }
}

/// A user as it goes into passwd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Login name.
    pub name: String,
    /// Numeric user ID.
    pub uid: u32,
    /// Numeric primary group ID.
    pub gid: u32,
    /// GECOS field.
    pub gecos: String,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
}

fn shadow_entry(name: &str, hash: &str, today: u64) -> Vec<String> {
    let mut e = vec![name.to_string(), hash.to_string(), today.to_string()];
    e.extend(["0", "99999", "7", "", "", ""].map(String::from));
    e
}

fn next_id(used: impl Iterator<Item = u32>, (min, max): (u32, u32), what: &str) -> Result<u32> {
    let highest = used.filter(|id| (min..=max).contains(id)).max();
    let next = highest.map_or(min, |h| h + 1);
    if next > max {
        return Err(DeployError::Invalid(format!(
            "no free {what} left between {what}_MIN {min} and {what}_MAX {max} in the image's /etc/login.defs"
        )));
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_lines_survive_and_bad_lines_are_located() {
        let text = "root:x:0:0:root:/root:/bin/bash\n# comment\n+nis\n\n";
        let t = Table::parse("/etc/passwd", 7, text).unwrap();
        assert_eq!(t.render(), text);
        let err = Table::parse("/etc/passwd", 7, "root:x:0:0\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/passwd:1: expected 7 colon-separated fields, found 4: \"root:x:0:0\""
        );
    }

    #[test]
    fn login_defs_ranges_and_next_ids() {
        let r = IdRanges::from_login_defs("UID_MIN 500\n#GID_MIN 7\nGID_MIN\t2000\nUMASK 022\n");
        assert_eq!(r.uid, (500, 60000));
        assert_eq!(r.gid, (2000, 60000));
        assert_eq!(r.home_mode, 0o755);
        assert_eq!(
            next_id([0, 65534, 1000, 1003].into_iter(), (1000, 60000), "UID").unwrap(),
            1004
        );
        assert_eq!(
            next_id([0, 65534].into_iter(), (1000, 60000), "UID").unwrap(),
            1000
        );
        assert!(next_id([1001].into_iter(), (1000, 1001), "UID").is_err());
    }
}
