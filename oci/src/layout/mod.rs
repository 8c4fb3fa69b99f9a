//! OCI image layouts (`oci-layout`, `index.json`, `blobs/sha256/…`), written and read.

mod read;
mod write;

pub use read::{Image, Layout};
pub use write::{BlobWriter, ImageSpec, Layer, LayoutWriter};

#[cfg(test)]
mod tests;
