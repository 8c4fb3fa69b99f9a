//! `cargo +nightly fuzz run tftp`: arbitrary datagrams through the TFTP request path of a
//! server over a small configuration: decode the request, negotiate its options, then
//! normalize, refuse traversal, look up and decide on the name. On stable the same functions
//! run under proptest (`serve/tftp/transfer.rs`, `serve/tftp.rs`).

#![no_main]

use kickstand_provisioner::config::Config;
use kickstand_provisioner::serve::App;
use kickstand_provisioner::serve::tftp::{KickstandTftp, transfer};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn handler() -> &'static KickstandTftp {
    static H: OnceLock<(tempfile::TempDir, KickstandTftp)> = OnceLock::new();
    &H.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("boot")).unwrap();
        std::fs::write(d.join("boot/vmlinuz"), "kernel").unwrap();
        std::fs::write(d.join("boot/installer.img"), "initramfs").unwrap();
        std::fs::write(d.join("web.ks"), "reboot\n").unwrap();
        std::fs::write(
            d.join("kickstand.toml"),
            "[server]\npublic_url = \"http://192.0.2.1:8080\"\nstate_dir = \"state\"\n\
             [dhcp]\nmode = \"off\"\n\
             [profiles.web]\nkernel = \"boot/vmlinuz\"\ninitramfs = \"boot/installer.img\"\nkickstart = \"web.ks\"\n\
             [[machines]]\nmac = \"52:54:00:12:34:56\"\nprofile = \"web\"\n",
        )
        .unwrap();
        let config = Config::load(&d.join("kickstand.toml")).unwrap();
        let app = App::new(config).unwrap();
        (dir, KickstandTftp::new(app))
    })
    .1
}

fuzz_target!(|data: &[u8]| {
    let Ok(transfer::Request::Read { name, options }) = transfer::decode_request(data) else {
        return;
    };
    let client = "127.0.0.1:4000".parse().unwrap();
    if let Ok(size) = handler().lookup(&client, &name) {
        let n = kickstand_provisioner::serve::tftp::normalize(std::path::Path::new(&name));
        assert!(n.is_some(), "served an unnormalizable name {name:?}");
        let (agreed, _) = transfer::negotiate(&options, size);
        assert!(agreed.blksize <= usize::from(transfer::BLOCK_SIZE_LIMIT));
    }
});
