//! OCI image layouts (reading and writing), streaming registry pulls with digest verification,
//! and the read-only distribution API the provisioner serves from layouts.

pub mod serve;
