//! A directory treated as `/`: every path is resolved with `openat2(RESOLVE_IN_ROOT)`, so `..`
//! and symlinks (absolute ones included) are resolved inside the root, the way the installed
//! system will see them, and never reach the host's files.
//!
//! All filesystem system calls of the unpacker live here; they take a directory descriptor that
//! was resolved inside the root plus a single file name, so no call ever walks a host path.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// An open target root.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

/// What kind of node a name refers to, without following a final symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Missing,
    Dir,
    Other,
}

fn cstr(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"))
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

impl Root {
    /// Opens `path` as the root. It must be an existing directory.
    pub fn open(path: &Path) -> io::Result<Root> {
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(path)?;
        Ok(Root {
            fd: file.into(),
            path: path.to_path_buf(),
        })
    }

    /// The host path of the root (for messages only).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the directory `rel` (relative to the root, resolved inside it).
    pub fn open_dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        if rel.as_os_str().is_empty() {
            return dup(self.fd.as_fd());
        }
        let path = cstr(rel.as_os_str())?;
        // SAFETY: open_how is plain data; all-zero is its documented default.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64;
        how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
        // SAFETY: valid descriptor, NUL-terminated path and a properly sized open_how.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                self.fd.as_raw_fd(),
                path.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel returned a fresh descriptor that we now own.
        Ok(unsafe { OwnedFd::from_raw_fd(ret as libc::c_int) })
    }

    /// Opens the directory `rel`, creating missing components (mode 0755, owned by the caller)
    /// inside the root. A component that exists but is not a directory is an error.
    pub fn create_dir_all(&self, rel: &Path) -> io::Result<OwnedFd> {
        match self.open_dir(rel) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => return other,
        }
        let mut prefix = PathBuf::new();
        let mut fd = dup(self.fd.as_fd())?;
        for comp in rel.components() {
            let name = comp.as_os_str();
            let next = prefix.join(name);
            match self.open_dir(&next) {
                Ok(d) => fd = d,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    match mkdirat(fd.as_fd(), name, 0o755) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e),
                    }
                    fd = self.open_dir(&next).map_err(|e| {
                        if e.kind() == io::ErrorKind::NotFound {
                            io::Error::new(
                                io::ErrorKind::NotFound,
                                format!("{} is a dangling symbolic link", next.display()),
                            )
                        } else {
                            e
                        }
                    })?;
                }
                Err(e) => return Err(e),
            }
            prefix = next;
        }
        Ok(fd)
    }

    /// Host-visible free and total bytes of the root's filesystem (for messages).
    pub fn space(&self) -> Option<(u64, u64)> {
        // SAFETY: statvfs is plain data; fstatvfs fills it or fails.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: valid descriptor and pointer to a statvfs.
        let ret = unsafe { libc::fstatvfs(self.fd.as_raw_fd(), &mut st) };
        (ret == 0).then(|| {
            let frsize = st.f_frsize;
            (st.f_bavail * frsize, st.f_blocks * frsize)
        })
    }
}

pub fn dup(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    fd.try_clone_to_owned()
}

/// What `name` in `dir` is, without following a symlink.
pub fn kind(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Kind> {
    let c = cstr(name)?;
    // SAFETY: plain data, filled by fstatat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor, NUL-terminated name, pointer to a stat.
    let ret = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if ret < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::NotFound {
            Ok(Kind::Missing)
        } else {
            Err(e)
        };
    }
    Ok(if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        Kind::Dir
    } else {
        Kind::Other
    })
}

pub fn mkdirat(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid descriptor and NUL-terminated name.
    cvt(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode as libc::mode_t) }).map(drop)
}

/// Opens an existing directory `name` in `dir`, refusing to follow a symlink.
pub fn open_subdir(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    openat(
        dir,
        name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        0,
    )
}

/// Creates a new regular file `name` in `dir` (it must not exist; a symlink is not followed).
pub fn create_file(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<File> {
    let fd = openat(
        dir,
        name,
        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        0o600,
    )?;
    Ok(File::from(fd))
}

/// An `O_PATH` descriptor of `name` itself (a symlink is not followed).
pub fn open_path(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    openat(
        dir,
        name,
        libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        0,
    )
}

fn openat(dir: BorrowedFd<'_>, name: &OsStr, flags: libc::c_int, mode: u32) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    // SAFETY: valid descriptor and NUL-terminated name.
    let fd =
        cvt(unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags, mode as libc::c_uint) })?;
    // SAFETY: fresh descriptor from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn symlinkat(target: &OsStr, dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let t = cstr(target)?;
    let c = cstr(name)?;
    // SAFETY: valid descriptor and NUL-terminated strings.
    cvt(unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), c.as_ptr()) }).map(drop)
}

/// Hard-links `src_name` in `src_dir` (a symlink itself, not its target) as `name` in `dir`.
pub fn linkat(
    src_dir: BorrowedFd<'_>,
    src_name: &OsStr,
    dir: BorrowedFd<'_>,
    name: &OsStr,
) -> io::Result<()> {
    let s = cstr(src_name)?;
    let c = cstr(name)?;
    // SAFETY: valid descriptors and NUL-terminated names; flags 0 does not follow symlinks.
    cvt(unsafe {
        libc::linkat(
            src_dir.as_raw_fd(),
            s.as_ptr(),
            dir.as_raw_fd(),
            c.as_ptr(),
            0,
        )
    })
    .map(drop)
}

pub fn mknodat(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    mode: u32,
    major: u32,
    minor: u32,
) -> io::Result<()> {
    let c = cstr(name)?;
    let dev = libc::makedev(major, minor);
    // SAFETY: valid descriptor and NUL-terminated name.
    cvt(unsafe { libc::mknodat(dir.as_raw_fd(), c.as_ptr(), mode as libc::mode_t, dev) }).map(drop)
}

/// Removes `name` (not a directory) from `dir`; a missing name is fine.
pub fn unlink(dir: BorrowedFd<'_>, name: &OsStr, is_dir: bool) -> io::Result<()> {
    let c = cstr(name)?;
    let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: valid descriptor and NUL-terminated name.
    match cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), flags) }) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other.map(drop),
    }
}

/// Removes `name` from `dir` and, when it is a directory, everything below it. Symlinks are
/// removed, never followed, so nothing outside `dir` is touched.
pub fn remove_all(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    match kind(dir, name)? {
        Kind::Missing => Ok(()),
        Kind::Other => unlink(dir, name, false),
        Kind::Dir => {
            let sub = open_subdir(dir, name)?;
            for child in list(sub.as_fd())? {
                remove_all(sub.as_fd(), &child)?;
            }
            unlink(dir, name, true)
        }
    }
}

/// The names in directory `dir`, without `.` and `..`.
pub fn list(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    let fd = dup(dir)?;
    // SAFETY: fdopendir takes ownership of the descriptor on success.
    let dirp = unsafe { libc::fdopendir(fd.as_raw_fd()) };
    if dirp.is_null() {
        return Err(io::Error::last_os_error());
    }
    std::mem::forget(fd);
    // SAFETY: dirp is a valid DIR*; rewind so a shared offset from earlier reads does not matter.
    unsafe { libc::rewinddir(dirp) };
    let mut names = Vec::new();
    loop {
        // SAFETY: dirp is valid; readdir64 returns null at the end.
        let ent = unsafe { libc::readdir64(dirp) };
        if ent.is_null() {
            break;
        }
        // SAFETY: d_name is NUL-terminated inside the entry returned by readdir64.
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
        let bytes = name.to_bytes();
        if bytes != b"." && bytes != b".." {
            names.push(OsString::from_vec(bytes.to_vec()));
        }
    }
    // SAFETY: dirp is valid and closed once.
    unsafe { libc::closedir(dirp) };
    Ok(names)
}

/// Ownership of `name` in `dir` (a symlink itself, not its target).
pub fn chown_at(dir: BorrowedFd<'_>, name: &OsStr, uid: u32, gid: u32) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid descriptor and NUL-terminated name.
    cvt(unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            c.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

pub fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: valid descriptor.
    cvt(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) }).map(drop)
}

pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: valid descriptor.
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) }).map(drop)
}

/// Mode of a node that is not a symlink (device, FIFO), by name in `dir`.
pub fn chmod_at(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid descriptor and NUL-terminated name.
    cvt(unsafe { libc::fchmodat(dir.as_raw_fd(), c.as_ptr(), mode as libc::mode_t, 0) }).map(drop)
}

fn timespecs(mtime: (i64, i64)) -> [libc::timespec; 2] {
    let ts = libc::timespec {
        tv_sec: mtime.0 as libc::time_t,
        tv_nsec: mtime.1 as _,
    };
    [ts, ts]
}

/// Sets atime and mtime of `name` in `dir` (a symlink itself).
pub fn set_times_at(dir: BorrowedFd<'_>, name: &OsStr, mtime: (i64, i64)) -> io::Result<()> {
    let c = cstr(name)?;
    let ts = timespecs(mtime);
    // SAFETY: valid descriptor, NUL-terminated name, two timespecs.
    cvt(unsafe {
        libc::utimensat(
            dir.as_raw_fd(),
            c.as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

pub fn set_times(fd: BorrowedFd<'_>, mtime: (i64, i64)) -> io::Result<()> {
    let ts = timespecs(mtime);
    // SAFETY: valid descriptor and two timespecs.
    cvt(unsafe { libc::futimens(fd.as_raw_fd(), ts.as_ptr()) }).map(drop)
}

/// Sets an extended attribute on an open file or directory.
pub fn fsetxattr(fd: BorrowedFd<'_>, key: &str, value: &[u8]) -> io::Result<()> {
    let k = cstr(OsStr::new(key))?;
    // SAFETY: valid descriptor, NUL-terminated key, value pointer and length.
    cvt(unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            k.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
    .map(drop)
}

/// Sets an extended attribute on a node that cannot be opened for I/O (symlink, device,
/// FIFO) through its `O_PATH` descriptor's `/proc/self/fd` entry, which names the node itself.
pub fn setxattr_path_fd(fd: BorrowedFd<'_>, key: &str, value: &[u8]) -> io::Result<()> {
    let p = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("no NUL");
    let k = cstr(OsStr::new(key))?;
    // SAFETY: NUL-terminated path and key, value pointer and length.
    cvt(unsafe {
        libc::setxattr(
            p.as_ptr(),
            k.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
    .map(drop)
}
