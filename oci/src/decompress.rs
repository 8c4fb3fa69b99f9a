//! Layer compression: gzip, zstd or none, chosen from the media type and checked against the
//! stream's first bytes (the magic wins when a registry mislabels a layer).

use std::io::{self, BufRead, Read};

/// A layer's compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// Why a layer's compression is not one we read.
#[derive(Debug, thiserror::Error)]
pub enum CompressionError {
    #[error(
        "layer media type {0:?} is not a tar layer (expected application/vnd.oci.image.layer.v1.tar[+gzip|+zstd] or a Docker rootfs diff)"
    )]
    MediaType(String),
    #[error("reading the start of the layer")]
    Read(#[source] io::Error),
}

/// What the media type announces. Foreign and non-distributable layers are tar layers too.
pub fn from_media_type(media_type: &str) -> Result<Compression, CompressionError> {
    let mt = media_type;
    let is_layer = mt.starts_with("application/vnd.oci.image.layer.")
        || mt.starts_with("application/vnd.docker.image.rootfs.");
    if !is_layer {
        return Err(CompressionError::MediaType(mt.to_string()));
    }
    Ok(if mt.ends_with("gzip") {
        Compression::Gzip
    } else if mt.ends_with("zstd") {
        Compression::Zstd
    } else {
        Compression::None
    })
}

/// What the first bytes say.
pub fn from_magic(head: &[u8]) -> Compression {
    if head.starts_with(GZIP_MAGIC) {
        Compression::Gzip
    } else if head.starts_with(ZSTD_MAGIC) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Wraps `input` in the right decoder. The returned reader yields the layer's tar stream.
pub fn decoder<'a, R: BufRead + 'a>(
    mut input: R,
    media_type: &str,
) -> Result<Box<dyn Read + 'a>, CompressionError> {
    let announced = from_media_type(media_type)?;
    let head = input.fill_buf().map_err(CompressionError::Read)?;
    let actual = if head.is_empty() {
        announced
    } else {
        from_magic(head)
    };
    if actual != announced {
        tracing::warn!(
            media_type,
            ?actual,
            "layer media type does not match its content; using the content's compression"
        );
    }
    Ok(match actual {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(input).map_err(CompressionError::Read)?,
        ),
        Compression::None => Box::new(input),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        let c = |m| from_media_type(m).unwrap();
        assert_eq!(
            c("application/vnd.oci.image.layer.v1.tar+gzip"),
            Compression::Gzip
        );
        assert_eq!(
            c("application/vnd.oci.image.layer.v1.tar+zstd"),
            Compression::Zstd
        );
        assert_eq!(
            c("application/vnd.oci.image.layer.v1.tar"),
            Compression::None
        );
        assert_eq!(
            c("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Compression::Gzip
        );
        assert!(from_media_type("application/vnd.oci.image.config.v1+json").is_err());
    }

    #[test]
    fn magic_wins() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"hello").unwrap();
        let data = gz.finish().unwrap();
        let mut out = String::new();
        decoder(&data[..], "application/vnd.oci.image.layer.v1.tar")
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "hello");
        let z = zstd::encode_all(&b"zz"[..], 1).unwrap();
        let mut out = String::new();
        decoder(&z[..], "application/vnd.oci.image.layer.v1.tar+zstd")
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "zz");
    }
}
