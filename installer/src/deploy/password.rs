//! Password hashes for `user --password` and `rootpw`.
//!
//! Plain-text passwords are hashed with SHA-512 crypt (`$6$`), what Anaconda and
//! `chpasswd` write by default and what every glibc and libxcrypt verify. The hashing is the
//! RustCrypto `sha-crypt` crate: pure Rust (the installer is a static binary without libcrypt),
//! maintained with the other RustCrypto password hashes, and its output is the standard
//! Modular Crypt Format with a 16-character random salt from the OS RNG.

use sha_crypt::{PasswordHasher, ShaCrypt};

use super::error::{DeployError, Result};

/// A password as the kickstart gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    /// `--iscrypted`: already a crypt(3) hash, written as it is.
    Crypted(String),
    /// `--plaintext` (the default): hashed with SHA-512 crypt.
    Plain(String),
}

/// The shadow field for `password` (or none), locked with a leading `!` when `lock`.
pub fn shadow_hash(password: Option<&Password>, lock: bool) -> Result<String> {
    let hash = match password {
        None => String::new(),
        Some(Password::Crypted(h)) => {
            check_crypted(h)?;
            h.clone()
        }
        Some(Password::Plain(p)) => sha512_crypt(p)?,
    };
    // No password at all: the account cannot log in with one (useradd's default).
    if lock || hash.is_empty() {
        Ok(format!("!{hash}"))
    } else {
        Ok(hash)
    }
}

/// SHA-512 crypt of `password` with a fresh random salt of 16 characters — the most
/// SHA-crypt uses. (The crate's own default salt is longer; glibc would hash only its first 16
/// characters and then fail to match the stored string, so no login would work.)
pub fn sha512_crypt(password: &str) -> Result<String> {
    let mut salt = [0u8; 12];
    let urandom = "/dev/urandom";
    std::fs::File::open(urandom)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut salt))
        .map_err(|e| DeployError::io("reading", urandom, e))?;
    ShaCrypt::SHA512
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DeployError::Invalid(format!("hashing a password with SHA-512 crypt: {e}")))
}

/// Refuses an `--iscrypted` value that would corrupt `/etc/shadow`.
fn check_crypted(hash: &str) -> Result<()> {
    if hash.is_empty() || hash.contains([':', '\n', '\r']) {
        return Err(DeployError::Invalid(format!(
            "--iscrypted password {hash:?} is not a crypt(3) hash: expected something like \
             $6$salt$hash without ':' or line breaks"
        )));
    }
    if !hash.starts_with('$') {
        tracing::warn!("--iscrypted password does not start with '$': a legacy DES hash?");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locking_and_empty_passwords() {
        assert_eq!(shadow_hash(None, false).unwrap(), "!");
        assert_eq!(shadow_hash(None, true).unwrap(), "!");
        let c = Password::Crypted("$6$abc$def".into());
        assert_eq!(shadow_hash(Some(&c), false).unwrap(), "$6$abc$def");
        assert_eq!(shadow_hash(Some(&c), true).unwrap(), "!$6$abc$def");
        let bad = Password::Crypted("a:b".into());
        assert!(shadow_hash(Some(&bad), false).is_err());
    }

    #[test]
    fn salts_differ() {
        let a = sha512_crypt("pw").unwrap();
        let b = sha512_crypt("pw").unwrap();
        assert!(a.starts_with("$6$rounds=5000$"), "{a}");
        // 16 salt characters: what glibc reads.
        assert_eq!(a.split('$').nth(3).unwrap().len(), 16, "{a}");
        assert_ne!(a, b);
    }
}
