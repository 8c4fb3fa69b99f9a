//! OCI image layouts (reading and writing), streaming registry pulls with digest verification,
//! and the read-only distribution API the provisioner serves from layouts.

pub mod auth;
pub mod decompress;
pub mod fetch;
pub mod local;
pub mod pull;
pub mod reference;
pub mod resolve;
pub mod root;
pub mod unpack;
pub mod whiteout;
