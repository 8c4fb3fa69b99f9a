//! The boot flow PID 1's child runs: command line → drivers → network → install medium →
//! kickstart → install → power action, each step logged with the step's context so the
//! failure report says where it stopped. Nothing touches a disk before the kickstart parsed
//! cleanly (the install itself validates everything else before writing).

use super::fetch::{Fetcher, KsLoader};
use super::{finish, kmod, log, medium, net};
use crate::boot::cmdline::{self, BootOptions, KickstartSource};
use crate::boot::ks_location::{display, http_headers};
use crate::boot::netplan::{self, NetConfig, NetPlan, Nic};
use crate::install::{self, Disks, InstallOptions, Mode, RegistryOptions};
use crate::progress::{Reporter, Server};
use anyhow::{Context, Result, bail};
use kickstand_grammar::FinishKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The embedded kickstart (`kickstand initramfs build --kickstart`).
pub const EMBEDDED_KS: &str = "/ks.cfg";

/// Modules loaded before coldplug: the generic crc32c (the accelerated one fails on CPUs
/// without SSE4.2, e.g. QEMU's TCG default) and the file systems the installer makes, so a
/// mount never depends on the kernel's modprobe call-out.
const PRELOAD: &[&str] = &[
    "crc32c_generic",
    "ext4",
    "xfs",
    "vfat",
    "nls_cp437",
    "nls_ascii",
    "isofs",
];

/// How long drivers may take to find their devices.
const COLDPLUG_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for a cable (carrier) before choosing a NIC anyway.
const CARRIER_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `inst.debug` is on the kernel command line.
pub fn debug_requested() -> bool {
    std::fs::read_to_string("/proc/cmdline")
        .map(|c| {
            cmdline::split(&c)
                .iter()
                .any(|p| p.name == "inst.debug" && p.value.as_deref() != Some("0"))
        })
        .unwrap_or(false)
}

/// Runs the boot flow; returns the exit status (only on failure: success powers the machine
/// off or reboots it).
pub fn main() -> i32 {
    let text = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let parsed = cmdline::parse(&text);
    let consoles = match &parsed {
        Ok(o) => o.consoles.clone(),
        Err(_) => Vec::new(),
    };
    log::init(&consoles);
    tracing::info!(
        "kickstand-installer {} starting; kernel command line: {}",
        env!("CARGO_PKG_VERSION"),
        text.trim()
    );
    log::milestone("installer-started");
    let opts = match parsed {
        Ok(o) => o,
        Err(errors) => {
            let list: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
            let err = anyhow::anyhow!(
                "the kernel command line has {} malformed option(s):\n{}",
                errors.len(),
                list.join("\n")
            );
            return fail(&err, debug_requested());
        }
    };
    match run(&opts) {
        Ok(action) => {
            let err = finish::power(action);
            fail(&err, opts.debug)
        }
        Err(err) => fail(&err, opts.debug),
    }
}

fn fail(err: &anyhow::Error, debug: bool) -> i32 {
    tracing::error!("{err:#}");
    finish::report(err);
    if debug {
        finish::debug_shell();
    }
    1
}

/// Everything up to the power action.
fn run(opts: &BootOptions) -> Result<FinishKind> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;

    let nics = drivers()?;
    let (nics, used) = runtime.block_on(network(opts, &nics))?;
    let reporter = Reporter::new(opts.server.as_ref().map(|url| {
        Server {
            url: url.clone(),
            mac: used
                .as_ref()
                .or(nics.first())
                .map(Nic::mac_text)
                .unwrap_or_default(),
        }
    }));
    let result = fetch_and_install(opts, &runtime, &nics, &reporter);
    if let Err(e) = &result {
        // install() reports its own failures; this covers the steps before it.
        if !reporter.log_text().contains(&format!("{e:#}")) {
            reporter.failed(&format!("{e:#}"));
        }
    }
    let install_log = reporter.log_text();
    if !install_log.is_empty() {
        let _ = std::fs::OpenOptions::new()
            .append(true)
            .open(log::LOG_PATH)
            .and_then(|mut f| std::io::Write::write_all(&mut f, install_log.as_bytes()));
    }
    reporter.flush();
    result
}

fn fetch_and_install(
    opts: &BootOptions,
    runtime: &tokio::runtime::Runtime,
    nics: &[Nic],
    reporter: &Reporter,
) -> Result<FinishKind> {
    let headers = http_headers(
        opts.ks_sendmac,
        opts.ks_sendsn,
        nics,
        net::serial_number().as_deref(),
    );
    let fetcher = Arc::new(Fetcher::new(
        runtime.handle().clone(),
        headers,
        opts.noverifyssl,
    )?);
    if let Some(m) = opts.local_medium() {
        let name = medium::describe(m);
        tracing::info!("install medium: looking for {name}");
        let mounted = medium::mount_medium(m)
            .with_context(|| format!("mounting the install medium {name} at {}", medium::REPO))?;
        tracing::info!(
            "install medium: {} ({}) mounted read-only at {}; disk {} is not an install target",
            mounted.device.display(),
            mounted.fs,
            medium::REPO,
            mounted.disk
        );
        log::milestone("medium-mounted");
    }
    let kickstart = fetch_kickstart(opts, &fetcher)?;
    let authfile = match &opts.authfile {
        Some(url) => Some(fetch_authfile(url, &fetcher)?),
        None => None,
    };
    let options = InstallOptions {
        kickstart,
        disks: Disks::All,
        firmware: None,
        registry: RegistryOptions {
            authfile,
            insecure_registries: opts.insecure_registries.clone(),
            ca_file: None,
        },
        target: PathBuf::from(TARGET),
        mode: Mode::Pid1,
        stop_after: None,
        dry_run: false,
        reporter: reporter.clone(),
        staging_dir: None,
        staging_ram_limit: opts.staging_ram_limit,
        inherited_args: opts
            .consoles
            .iter()
            .map(|c| format!("console={c}"))
            .collect(),
    };
    let summary = install::install(&options)?;
    log::milestone("install-done");
    Ok(summary.finish)
}

/// Where the installed system is mounted while it is installed.
pub const TARGET: &str = "/mnt/sysroot";

/// `kickstand.authfile=URL`, saved where the image step reads it.
fn fetch_authfile(url: &str, fetcher: &Fetcher) -> Result<PathBuf> {
    let source = cmdline::parse_ks(url).context("kickstand.authfile")?;
    let loaded = fetcher
        .fetch(&source)
        .with_context(|| format!("fetching the registry credentials {url}"))?;
    let path = PathBuf::from("/run/kickstand/auth.json");
    std::fs::write(&path, &loaded.bytes).context("writing /run/kickstand/auth.json")?;
    Ok(path)
}

/// Loads the drivers for the hardware found; returns the NICs.
fn drivers() -> Result<Vec<Nic>> {
    let dir = kmod::modules_dir();
    let mut modules = kmod::Modules::open(&dir)?;
    for m in PRELOAD {
        modules.load(m);
    }
    let found = kmod::coldplug(&mut modules, COLDPLUG_TIMEOUT);
    tracing::info!(
        "drivers: {} devices, {} modules loaded; disks: {}; network interfaces: {}",
        found.devices,
        modules.loaded().len(),
        list_or_none(
            &found
                .block
                .iter()
                .filter(|b| !b.starts_with("loop") && !b.starts_with("ram"))
                .cloned()
                .collect::<Vec<_>>()
        ),
        list_or_none(&found.net),
    );
    log::milestone("drivers-loaded");
    Ok(net::nics())
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(" ")
    }
}

/// Configures the network the command line asks for (or the kickstart's URL needs).
async fn network(opts: &BootOptions, found: &[Nic]) -> Result<(Vec<Nic>, Option<Nic>)> {
    if netplan::plan(opts, found)? == NetPlan::None {
        tracing::info!("network: not needed (no ip=, local kickstart, no kickstand.server)");
        return Ok((found.to_vec(), None));
    }
    let handle = net::connect()?;
    let wanted = match (opts.ip.first(), opts.bootif) {
        (Some(cmdline::IpConfig::Dhcp { interface: Some(i) }), _) => Some(i.clone()),
        (
            Some(cmdline::IpConfig::Static {
                interface: Some(i), ..
            }),
            _,
        ) => Some(i.clone()),
        (_, Some(mac)) => found.iter().find(|n| n.mac == mac).map(|n| n.name.clone()),
        _ => None,
    };
    let nics = net::up_and_wait_for_carrier(&handle, wanted.as_deref(), CARRIER_TIMEOUT).await?;
    let plan = netplan::plan(opts, &nics)?;
    let mut used = None;
    match plan {
        NetPlan::None => {}
        NetPlan::Static(config) => {
            used = nics.iter().find(|n| n.name == config.interface).cloned();
            net::apply(&handle, &config)
                .await
                .with_context(|| format!("configuring {}", config.summary()))?;
            tracing::info!("network: {} (static, from ip=)", config.summary());
        }
        NetPlan::Dhcp {
            nic,
            nameservers,
            hostname,
        } => {
            if !nic.carrier {
                tracing::warn!("network: {} has no carrier; trying DHCP anyway", nic.name);
            }
            tracing::info!("network: DHCP on {} ({})", nic.name, nic.mac_text());
            used = Some(nic.clone());
            let mut session = net::dhcp::Session::new(&nic, hostname)?;
            let lease = session
                .acquire()
                .await
                .with_context(|| format!("getting an address for {} by DHCP", nic.name))?;
            let config = NetConfig::from_lease(&nic.name, &lease, &nameservers);
            net::apply(&handle, &config)
                .await
                .with_context(|| format!("configuring {}", config.summary()))?;
            tracing::info!(
                "network: {} (DHCP from {}, lease {})",
                config.summary(),
                lease.server,
                lease
                    .lease_time
                    .map(|t| format!("{}s", t.as_secs()))
                    .unwrap_or_else(|| "infinite".into())
            );
            let (name, handle2) = (nic.name.clone(), handle.clone());
            tokio::spawn(session.maintain(move |lease| {
                let handle = handle2.clone();
                let name = name.clone();
                let nameservers = nameservers.clone();
                tokio::spawn(async move {
                    let result = match &lease {
                        Some(l) => {
                            net::apply(&handle, &NetConfig::from_lease(&name, l, &nameservers))
                                .await
                        }
                        None => {
                            tracing::warn!("network: the DHCP lease on {name} ended");
                            Ok(())
                        }
                    };
                    if let Err(e) = result {
                        tracing::warn!("network: renewing the lease on {name}: {e:#}");
                    }
                });
            }));
        }
    }
    log::milestone("network-up");
    Ok((nics, used))
}

/// Fetches the kickstart; the install parses it (reading its `%include`s through the same
/// transports), runs `%pre` and parses it again.
fn fetch_kickstart(opts: &BootOptions, fetcher: &Arc<Fetcher>) -> Result<install::KickstartSource> {
    let source = match &opts.kickstart {
        Some(s) => s.clone(),
        None if Path::new(EMBEDDED_KS).is_file() => KickstartSource::File(EMBEDDED_KS.into()),
        None => bail!(
            "no kickstart: the kernel command line has no inst.ks= and the initramfs has no \
             embedded {EMBEDDED_KS} (kickstand initramfs build --kickstart)"
        ),
    };
    let name = display(&source);
    tracing::info!("kickstart: fetching {name}");
    let loaded = fetcher
        .fetch(&source)
        .with_context(|| format!("fetching the kickstart {name}"))?;
    tracing::info!("kickstart: {name} ({} bytes)", loaded.bytes.len());
    log::milestone("kickstart-fetched");
    Ok(install::KickstartSource {
        name: loaded.name,
        bytes: loaded.bytes,
        loader: Box::new(KsLoader {
            fetcher: fetcher.clone(),
        }),
    })
}
