//! SHA-256 digests computed while data streams through, so no blob is ever held whole.

use oci_spec::image::Digest;
use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};

/// The digest of `bytes` (`sha256:…`).
pub fn sha256_of(bytes: &[u8]) -> Digest {
    to_digest(Sha256::digest(bytes).as_slice())
}

fn to_digest(hash: &[u8]) -> Digest {
    Digest::try_from(format!("sha256:{}", hex::encode(hash)))
        .expect("a hex-encoded SHA-256 is a valid digest")
}

/// A writer that hashes and counts everything written through it.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Returns the inner writer, the digest and the size of what went through.
    pub fn finish(self) -> (W, Digest, u64) {
        (
            self.inner,
            to_digest(self.hasher.finalize().as_slice()),
            self.written,
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that checks, at end of input, that exactly `size` bytes with digest `expected` were
/// read. A mismatch is an [`io::ErrorKind::InvalidData`] error naming the digest; reading more
/// than `size` bytes fails at once.
#[derive(Debug)]
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    expected: Digest,
    size: u64,
    read: u64,
    verified: bool,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected: Digest, size: u64) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            expected,
            size,
            read: 0,
            verified: false,
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    fn check_end(&mut self) -> io::Result<()> {
        if self.verified {
            return Ok(());
        }
        if self.read != self.size {
            return Err(invalid(format!(
                "blob {} is {} bytes, but its descriptor says {}",
                self.expected, self.read, self.size
            )));
        }
        let actual = to_digest(self.hasher.clone().finalize().as_slice());
        if actual != self.expected {
            return Err(invalid(format!(
                "blob {} does not match its digest: its content hashes to {actual}",
                self.expected
            )));
        }
        self.verified = true;
        Ok(())
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.check_end()?;
            return Ok(0);
        }
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        if self.read > self.size {
            return Err(invalid(format!(
                "blob {} is larger than the {} bytes its descriptor says",
                self.expected, self.size
            )));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_json_digest_matches_the_spec() {
        assert_eq!(
            sha256_of(b"{}").to_string(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn hashing_writer_counts_and_hashes() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"hello ").unwrap();
        w.write_all(b"world").unwrap();
        let (inner, digest, size) = w.finish();
        assert_eq!(inner, b"hello world");
        assert_eq!(size, 11);
        assert_eq!(digest, sha256_of(b"hello world"));
    }

    #[test]
    fn verifying_reader_accepts_the_right_blob() {
        let data = b"layer bytes".to_vec();
        let mut r = VerifyingReader::new(&data[..], sha256_of(&data), data.len() as u64);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn verifying_reader_rejects_tampered_and_resized_blobs() {
        let digest = sha256_of(b"original");
        let mut tampered = VerifyingReader::new(&b"tampered"[..], digest.clone(), 8);
        let err = io::copy(&mut tampered, &mut io::sink()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(
            err.to_string().contains("does not match its digest"),
            "{err}"
        );

        let mut short = VerifyingReader::new(&b"orig"[..], digest.clone(), 8);
        let err = io::copy(&mut short, &mut io::sink()).unwrap_err();
        assert!(err.to_string().contains("is 4 bytes"), "{err}");

        let mut long = VerifyingReader::new(&b"original and more"[..], digest, 8);
        let err = io::copy(&mut long, &mut io::sink()).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
    }
}
