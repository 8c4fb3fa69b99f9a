//! Tests of the harness itself: a wait that never matches fails in time with the console tail,
//! and a panicking test leaves no namespace, veth, tap, QEMU process or loop device behind.

use qemu_harness::dnsmasq::Dnsmasq;
use qemu_harness::{LoopDevice, NetLab, Nic, VmBuilder, gate, loopdev};
use std::path::Path;
use std::time::{Duration, Instant};

/// SeaBIOS with nothing to boot prints "No bootable device" on the serial console within
/// seconds; waiting for a line it never prints must fail after the timeout, not hang, and show
/// what the console did say.
#[test]
fn wait_for_line_times_out_with_console_tail() {
    if !gate::vm_test("wait_for_line_times_out_with_console_tail", false) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut vm = VmBuilder::new("never")
        .workdir(dir.path())
        .memory_mib(128)
        .start()
        .unwrap();
    vm.wait_for_line("No bootable device", Duration::from_secs(120))
        .unwrap();
    let start = Instant::now();
    let err = vm
        .wait_for_line("^THIS LINE NEVER COMES$", Duration::from_secs(5))
        .unwrap_err()
        .to_string();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(20),
        "waited {waited:?}"
    );
    for want in [
        "VM never: no console line matching /^THIS LINE NEVER COMES$/ within 5s: timed out",
        "last 50 lines of console",
        "No bootable device",
    ] {
        assert!(err.contains(want), "{want:?} missing from:\n{err}");
    }
    assert!(vm.wait_for_exit(Duration::from_secs(1)).is_err());
}

/// Everything a failing test set up is gone after its panic unwinds.
#[test]
fn panicking_test_leaves_nothing_behind() {
    if !gate::vm_test("panicking_test_leaves_nothing_behind", false) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("disk.raw");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let before = host_links();
    let (dir_ref, image_ref) = (&dir, &image);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let mut lab = NetLab::new("panic").unwrap();
        let server = lab.add_host("server", "10.99.0.1/24").unwrap();
        let tap = lab.add_tap().unwrap();
        let mut dnsmasq = Dnsmasq::new("10.99.0.100", "10.99.0.150")
            .start(&server, dir_ref.path())
            .unwrap();
        let disk = LoopDevice::attach(image_ref).unwrap();
        let mut vm = VmBuilder::new("doomed")
            .workdir(dir_ref.path())
            .memory_mib(128)
            .nic(Nic::tap(&tap))
            .start()
            .unwrap();
        assert!(dnsmasq.is_running());
        tx.send((
            vec![lab.switch_netns().to_string(), server.netns().to_string()],
            vec![vm.pid(), dnsmasq.pid()],
            disk.path().to_path_buf(),
        ))
        .unwrap();
        // Something is really running when the test fails.
        vm.wait_for_line("iPXE|SeaBIOS", Duration::from_secs(120))
            .unwrap();
        panic!("deliberate failure");
    }));
    assert!(result.is_err(), "the body must panic");
    let (namespaces, pids, loop_device) = rx
        .recv()
        .expect("the body failed before setting everything up");
    for ns in &namespaces {
        assert!(
            !Path::new("/run/netns").join(ns).exists(),
            "network namespace {ns} left behind"
        );
    }
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} left behind"
        );
    }
    assert!(
        loopdev::devices_of(&image).is_empty(),
        "{} still attached to {}",
        loop_device.display(),
        image.display()
    );
    // The lab's interfaces lived only in its namespaces: the host's own set is unchanged.
    assert_eq!(host_links(), before);
}

/// The names of the network interfaces in the host's own namespace.
fn host_links() -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect();
    names.sort();
    names
}
