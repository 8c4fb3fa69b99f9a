//! OCI image layouts (reading and writing), streaming registry pulls with digest verification,
//! and the read-only distribution API the provisioner serves from layouts.

pub mod compression;
pub mod digest;
pub mod error;
pub mod layer;
pub mod layout;

pub use compression::Compression;
pub use error::{Error, Result};
pub use layer::{LayerWriter, Meta, TreeOptions};
pub use layout::{Image, ImageSpec, Layer, Layout, LayoutWriter};
/// The `oci-client` crate, re-exported so users name references with the same version.
pub use oci_client;
/// The `oci-spec` crate, re-exported so users build configs with the same version.
pub use oci_spec;
pub mod auth;
pub mod copy;
pub mod decompress;
pub mod fetch;
pub mod local;
pub mod pull;
pub mod reference;
pub mod resolve;
pub mod root;
pub mod serve;
pub mod unpack;
pub mod whiteout;
