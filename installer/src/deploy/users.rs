//! `rootpw`, `user` and `sshkey`, applied to the target's account files, home directories and
//! `authorized_keys` — without the image's `useradd` (which may not exist, and would run
//! against the host unless chrooted).
//!
//! [`apply`] checks every setting against the loaded accounts before it writes anything; then
//! it writes the four account files, then homes and keys. If it fails after the account files
//! were written, the users exist but a home or key may be missing (the error names it).
//! Ownership is always the numeric uid/gid from the target's `/etc/passwd`, never a host name
//! lookup.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::accounts::{Accounts, NewUser};
use super::error::{DeployError, Result};
use super::password::{Password, shadow_hash};
use super::target::TargetRoot;

/// `rootpw [--iscrypted|--plaintext] [--lock] [--allow-ssh] [PASSWORD]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootPw {
    /// The password (none with `--lock` alone).
    pub password: Option<Password>,
    /// `--lock`.
    pub lock: bool,
    /// `--allow-ssh`: permit root logins with a password over ssh.
    pub allow_ssh: bool,
}

/// A group in `user --groups` (`name` or `name(gid)`, as Anaconda accepts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    /// Group name.
    pub name: String,
    /// GID for a group that has to be created.
    pub gid: Option<u32>,
}

/// `user --name ...`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    /// `--name`.
    pub name: String,
    /// `--groups`: supplementary groups, created when the image lacks them.
    pub groups: Vec<GroupRef>,
    /// `--password` with `--iscrypted`/`--plaintext`.
    pub password: Option<Password>,
    /// `--lock`.
    pub lock: bool,
    /// `--uid`.
    pub uid: Option<u32>,
    /// `--gid`: primary group ID (an existing group, or the user's own group created with it).
    pub gid: Option<u32>,
    /// `--homedir` (default `/home/NAME`).
    pub homedir: Option<String>,
    /// `--shell` (default: `SHELL` in the image's `/etc/default/useradd`, else `/bin/bash`).
    pub shell: Option<String>,
    /// `--gecos`.
    pub gecos: Option<String>,
}

/// `sshkey --username NAME "KEY"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshKey {
    /// The user whose `authorized_keys` gets the key.
    pub username: String,
    /// One public key line.
    pub key: String,
}

/// Where `rootpw --allow-ssh` writes its sshd setting (Anaconda's file name).
pub const ROOT_SSH_DROPIN: &str = "/etc/ssh/sshd_config.d/01-permitrootlogin.conf";

/// Applies `rootpw`, then each `user`, then each `sshkey` to the target. `today` is the
/// number of days since 1970-01-01 written as the password's last change.
pub fn apply(
    root: &TargetRoot,
    rootpw: Option<&RootPw>,
    users: &[User],
    keys: &[SshKey],
    today: u64,
) -> Result<()> {
    let mut accounts = Accounts::load(root, today)?;
    let default_shell = default_shell(root)?;
    if let Some(pw) = rootpw {
        if accounts.passwd.get("root").is_none() {
            return Err(DeployError::Format {
                path: "/etc/passwd".into(),
                line: 0,
                message: "the image has no root user".into(),
            });
        }
        accounts.set_hash("root", &shadow_hash(pw.password.as_ref(), pw.lock)?);
    }
    let mut homes = Vec::new();
    for user in users {
        homes.push(add_user(&mut accounts, user, &default_shell)?);
    }
    for key in keys {
        check_key(&accounts, key)?;
    }

    accounts.save(root)?;
    if rootpw.is_some_and(|pw| pw.allow_ssh) {
        root.write(
            ROOT_SSH_DROPIN,
            b"# Written by kickstand-installer for `rootpw --allow-ssh`.\nPermitRootLogin yes\n",
            0o600,
        )?;
    }
    for new in &homes {
        make_home(root, new, accounts.ranges.home_mode)?;
    }
    for key in keys {
        add_key(root, &accounts, key)?;
    }
    Ok(())
}

/// Checks `user` and adds it (and the groups it needs) to `accounts`.
fn add_user(accounts: &mut Accounts, user: &User, default_shell: &str) -> Result<NewUser> {
    let name = &user.name;
    check_name("user --name", name)?;
    if let Some(e) = accounts.passwd.get(name) {
        return Err(DeployError::Invalid(format!(
            "user {name}: the image already has a user {name} (uid {}); kickstand creates new \
             users only",
            e[2]
        )));
    }
    for (what, value) in [
        ("--gecos", user.gecos.as_deref()),
        ("--homedir", user.homedir.as_deref()),
        ("--shell", user.shell.as_deref()),
    ] {
        if let Some(v) = value.filter(|v| v.contains([':', '\n', '\r'])) {
            return Err(DeployError::Invalid(format!(
                "user {name}: {what} {v:?} contains ':' or a line break, which /etc/passwd cannot hold"
            )));
        }
    }
    for (what, value) in [("--homedir", &user.homedir), ("--shell", &user.shell)] {
        if let Some(v) = value.as_deref().filter(|v| !v.starts_with('/')) {
            return Err(DeployError::Invalid(format!(
                "user {name}: {what} {v:?} must be an absolute path"
            )));
        }
    }
    let uid = match user.uid {
        Some(uid) => {
            if let Some(other) = accounts.user_by_uid(uid) {
                return Err(DeployError::Invalid(format!(
                    "user {name}: --uid {uid} is already used by {other} in the image"
                )));
            }
            uid
        }
        None => accounts.next_uid()?,
    };
    // The primary group, as Anaconda decides it: an existing group with --gid, else the
    // user's own group (created, with --gid or useradd's choice: the uid when it is free).
    let gid = match user.gid {
        Some(gid) if accounts.group_by_gid(gid).is_some() => gid,
        _ => match accounts.gid(name) {
            Some(existing) if user.gid.is_none() => existing,
            Some(existing) => {
                return Err(DeployError::Invalid(format!(
                    "user {name}: the image has a group {name} with gid {existing}, not --gid {}",
                    user.gid.unwrap_or_default()
                )));
            }
            None => {
                let gid = match user.gid {
                    Some(gid) => gid,
                    None if accounts.group_by_gid(uid).is_none() => uid,
                    None => accounts.next_gid()?,
                };
                accounts.add_group(name, gid);
                gid
            }
        },
    };
    for group in &user.groups {
        check_name("user --groups", &group.name)?;
        match (accounts.gid(&group.name), group.gid) {
            (Some(found), Some(wanted)) if found != wanted => {
                return Err(DeployError::Invalid(format!(
                    "user {name}: --groups asks for {}({wanted}) but the image's group {} has gid {found}",
                    group.name, group.name
                )));
            }
            (Some(_), _) => {}
            (None, wanted) => {
                let gid = match wanted {
                    Some(g) if accounts.group_by_gid(g).is_some() => {
                        return Err(DeployError::Invalid(format!(
                            "user {name}: --groups {}({g}): gid {g} is already the image's group {}",
                            group.name,
                            accounts.group_by_gid(g).unwrap_or_default()
                        )));
                    }
                    Some(g) => g,
                    None => accounts.next_gid()?,
                };
                accounts.add_group(&group.name, gid);
            }
        }
        if accounts.gid(&group.name) != Some(gid) {
            accounts.add_member(&group.name, name);
        }
    }
    let new = NewUser {
        name: name.clone(),
        uid,
        gid,
        gecos: user.gecos.clone().unwrap_or_default(),
        home: user
            .homedir
            .clone()
            .unwrap_or_else(|| format!("/home/{name}")),
        shell: user
            .shell
            .clone()
            .unwrap_or_else(|| default_shell.to_string()),
    };
    let hash = shadow_hash(user.password.as_ref(), user.lock)?;
    accounts.add_user(&new, &hash);
    Ok(new)
}

/// A user or group name that shadow-utils accepts (its default, non-`--badname` rule).
fn check_name(what: &str, name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .trim_end_matches('$')
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(DeployError::Invalid(format!(
            "{what} {name:?} is not a valid name: expected up to 32 of a-z, 0-9, '_', '-', \
             starting with a letter or '_'"
        )))
    }
}

/// The image's default login shell.
fn default_shell(root: &TargetRoot) -> Result<String> {
    let from_defaults = root.read_optional("/etc/default/useradd")?.and_then(|t| {
        t.lines()
            .find_map(|l| l.trim().strip_prefix("SHELL="))
            .map(|s| s.trim().to_string())
            .filter(|s| s.starts_with('/'))
    });
    Ok(from_defaults.unwrap_or_else(|| {
        if root.exists("/bin/bash") {
            "/bin/bash"
        } else {
            "/bin/sh"
        }
        .to_string()
    }))
}

fn check_key(accounts: &Accounts, key: &SshKey) -> Result<()> {
    if accounts.passwd.get(&key.username).is_none() {
        return Err(DeployError::Invalid(format!(
            "sshkey --username {}: no such user in the image or the kickstart's user lines",
            key.username
        )));
    }
    if key.key.trim().is_empty() || key.key.contains(['\n', '\r']) {
        return Err(DeployError::Invalid(format!(
            "sshkey --username {}: expected one public key line, found {:?}",
            key.username, key.key
        )));
    }
    Ok(())
}

/// Creates `user`'s home from the image's `/etc/skel`, owned by the user. An existing home
/// is kept and only handed to the user (as Anaconda does).
fn make_home(root: &TargetRoot, user: &NewUser, mode: u32) -> Result<()> {
    let home = root.resolve(&user.home)?;
    if !home.exists() {
        root.create_dir_all(super::target::parent_of(&user.home))?;
        fs::create_dir(&home).map_err(|e| DeployError::io("creating", &home, e))?;
        let skel = root.resolve("/etc/skel")?;
        if skel.is_dir() {
            copy_tree(&skel, &home)?;
        }
    } else {
        tracing::warn!(home = %user.home, user = %user.name, "home directory exists in the image; handing it to the user");
    }
    fs::set_permissions(&home, fs::Permissions::from_mode(mode))
        .map_err(|e| DeployError::io("setting the mode of", &home, e))?;
    chown_tree(&home, user.uid, user.gid)
}

/// Copies the contents of `from` into the existing directory `to` (files, directories and
/// symlinks, modes kept; symlinks copied as links).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let entries = fs::read_dir(from).map_err(|e| DeployError::io("reading", from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| DeployError::io("reading", from, e))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let meta = fs::symlink_metadata(&src).map_err(|e| DeployError::io("reading", &src, e))?;
        let ty = meta.file_type();
        if ty.is_symlink() {
            let link = fs::read_link(&src).map_err(|e| DeployError::io("reading", &src, e))?;
            std::os::unix::fs::symlink(link, &dst)
                .map_err(|e| DeployError::io("creating", &dst, e))?;
        } else if ty.is_dir() {
            fs::create_dir(&dst).map_err(|e| DeployError::io("creating", &dst, e))?;
            copy_tree(&src, &dst)?;
            fs::set_permissions(&dst, fs::Permissions::from_mode(meta.mode() & 0o7777))
                .map_err(|e| DeployError::io("setting the mode of", &dst, e))?;
        } else if ty.is_file() {
            fs::copy(&src, &dst).map_err(|e| DeployError::io("copying to", &dst, e))?;
        }
    }
    Ok(())
}

/// `chown -hR uid:gid path`, never following symlinks.
fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .map_err(|e| DeployError::io("changing the owner of", path, e))?;
    let meta = fs::symlink_metadata(path).map_err(|e| DeployError::io("reading", path, e))?;
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(|e| DeployError::io("reading", path, e))? {
            let entry = entry.map_err(|e| DeployError::io("reading", path, e))?;
            chown_tree(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Appends `key` to the user's `~/.ssh/authorized_keys` (0600 in a 0700 `.ssh`, both owned
/// by the user), unless the line is already there.
fn add_key(root: &TargetRoot, accounts: &Accounts, key: &SshKey) -> Result<()> {
    let entry = accounts
        .passwd
        .get(&key.username)
        .expect("checked before writing");
    let (home, uid, gid) = (entry[5].clone(), entry[2].clone(), entry[3].clone());
    let (uid, gid): (u32, u32) = match (uid.parse(), gid.parse()) {
        (Ok(u), Ok(g)) => (u, g),
        _ => {
            return Err(DeployError::Format {
                path: "/etc/passwd".into(),
                line: 0,
                message: format!("user {} has a non-numeric uid or gid", key.username),
            });
        }
    };
    let ssh_dir = format!("{}/.ssh", home.trim_end_matches('/'));
    let dir = root.create_dir_all(&ssh_dir)?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| DeployError::io("setting the mode of", &dir, e))?;
    std::os::unix::fs::lchown(&dir, Some(uid), Some(gid))
        .map_err(|e| DeployError::io("changing the owner of", &dir, e))?;
    let path = format!("{ssh_dir}/authorized_keys");
    let mut text = root.read_optional(&path)?.unwrap_or_default();
    if !text.lines().any(|l| l.trim() == key.key.trim()) {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(key.key.trim());
        text.push('\n');
    }
    let file = root.write(&path, text.as_bytes(), 0o600)?;
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600))
        .map_err(|e| DeployError::io("setting the mode of", &file, e))?;
    std::os::unix::fs::lchown(&file, Some(uid), Some(gid))
        .map_err(|e| DeployError::io("changing the owner of", &file, e))
}
