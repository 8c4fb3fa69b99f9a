//! The one place where the Kickstart AST becomes the deploy modules' settings, checking what
//! the AST leaves as free text (`--groups name(gid)`, `--bootproto`).

use kickstand_grammar as ast;

use super::error::{DeployError, Result};
use super::network::{BootProto, Network};
use super::password::Password;
use super::system::{Keyboard, Timezone};
use super::users::{GroupRef, RootPw, SshKey, User};

/// Everything the configure step applies, taken from one kickstart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// `rootpw`.
    pub rootpw: Option<RootPw>,
    /// `user` lines.
    pub users: Vec<User>,
    /// `sshkey` lines.
    pub sshkeys: Vec<SshKey>,
    /// `lang`.
    pub lang: Option<String>,
    /// `keyboard`.
    pub keyboard: Option<Keyboard>,
    /// `timezone` (with a zone name).
    pub timezone: Option<Timezone>,
    /// The hostname: the last `network --hostname`, as Anaconda takes it.
    pub hostname: Option<String>,
    /// The first `network` line that configures a device.
    pub network: Option<Network>,
    /// `bootloader --append`, split into kernel arguments.
    pub append: Vec<String>,
}

/// Converts the kickstart's configuration commands.
pub fn settings(ks: &ast::Kickstart) -> Result<Settings> {
    let password = |pw: &Option<String>, crypted: bool| {
        pw.clone().map(|p| {
            if crypted {
                Password::Crypted(p)
            } else {
                Password::Plain(p)
            }
        })
    };
    let users = ks
        .users
        .iter()
        .map(|u| {
            Ok(User {
                name: u.name.clone(),
                groups: u
                    .groups
                    .iter()
                    .map(|g| group_ref(&u.name, g))
                    .collect::<Result<_>>()?,
                password: password(&u.password, u.iscrypted),
                lock: u.lock,
                uid: u.uid,
                gid: u.gid,
                homedir: u.homedir.clone(),
                shell: u.shell.clone(),
                gecos: u.gecos.clone(),
            })
        })
        .collect::<Result<_>>()?;
    let network = match ks
        .network
        .iter()
        .find(|n| n.device.is_some() || n.bootproto.is_some() || n.ip.is_some())
    {
        None => None,
        Some(n) => Some(Network {
            device: n.device.clone(),
            bootproto: match n.bootproto {
                None | Some(ast::BootProto::Dhcp) | Some(ast::BootProto::Bootp) => BootProto::Dhcp,
                Some(ast::BootProto::Static) => BootProto::Static,
                Some(other) => {
                    return Err(DeployError::Invalid(format!(
                        "network --bootproto={other:?}: only dhcp, bootp and static can be written \
                         into the installed system"
                    )
                    .to_lowercase()));
                }
            },
            ip: n.ip.clone(),
            netmask: n.netmask.clone(),
            gateway: n.gateway.clone(),
            nameservers: n.nameserver.clone(),
            ipv6: n.ipv6.clone(),
            noipv6: n.noipv6,
            onboot: n.onboot.unwrap_or(true),
            mtu: n.mtu,
            hostname: n.hostname.clone(),
        }),
    };
    Ok(Settings {
        rootpw: ks.rootpw.as_ref().map(|r| RootPw {
            password: password(&r.password, r.iscrypted),
            lock: r.lock,
            allow_ssh: r.allow_ssh,
        }),
        users,
        sshkeys: ks
            .sshkeys
            .iter()
            .map(|k| SshKey {
                username: k.username.clone(),
                key: k.key.clone(),
            })
            .collect(),
        lang: ks.lang.as_ref().map(|l| l.lang.clone()),
        keyboard: ks.keyboard.as_ref().map(|k| Keyboard {
            vc_keymap: k.vckeymap.clone().or_else(|| k.keyboard.clone()),
            x_layouts: k.xlayouts.clone(),
            switch_options: k.switch.clone(),
        }),
        timezone: ks
            .timezone
            .as_ref()
            .and_then(|t| t.timezone.clone().map(|name| Timezone { name, utc: t.utc })),
        hostname: ks.network.iter().rev().find_map(|n| n.hostname.clone()),
        network,
        append: ks
            .bootloader
            .as_ref()
            .and_then(|b| b.append.as_deref())
            .map(super::kernel::split_append)
            .unwrap_or_default(),
    })
}

/// `--groups` entry `name` or `name(gid)`.
fn group_ref(user: &str, text: &str) -> Result<GroupRef> {
    let text = text.trim();
    match text.split_once('(') {
        None => Ok(GroupRef {
            name: text.to_string(),
            gid: None,
        }),
        Some((name, rest)) => {
            let gid = rest
                .strip_suffix(')')
                .and_then(|g| g.trim().parse().ok())
                .ok_or_else(|| {
                    DeployError::Invalid(format!(
                        "user {user}: --groups entry {text:?}: expected NAME or NAME(GID)"
                    ))
                })?;
            Ok(GroupRef {
                name: name.trim().to_string(),
                gid: Some(gid),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_users_keys_and_network() {
        let ks = ast::Kickstart {
            users: vec![ast::User {
                name: "admin".into(),
                groups: vec!["wheel".into(), "docker(2000)".into()],
                password: Some("$6$x$y".into()),
                iscrypted: true,
                ..ast::User::default()
            }],
            rootpw: Some(ast::RootPw {
                password: Some("pw".into()),
                allow_ssh: true,
                ..ast::RootPw::default()
            }),
            network: vec![
                ast::Network {
                    hostname: Some("early".into()),
                    ..ast::Network::default()
                },
                ast::Network {
                    device: Some("eth0".into()),
                    bootproto: Some(ast::BootProto::Static),
                    ip: Some("192.0.2.2".into()),
                    onboot: Some(false),
                    ..ast::Network::default()
                },
                ast::Network {
                    hostname: Some("node1".into()),
                    ..ast::Network::default()
                },
            ],
            bootloader: Some(ast::Bootloader {
                append: Some("console=ttyS0 quiet".into()),
                ..ast::Bootloader::default()
            }),
            ..ast::Kickstart::default()
        };
        let s = settings(&ks).unwrap();
        assert_eq!(
            s.users[0].groups[1],
            GroupRef {
                name: "docker".into(),
                gid: Some(2000)
            }
        );
        assert_eq!(
            s.users[0].password,
            Some(Password::Crypted("$6$x$y".into()))
        );
        assert_eq!(
            s.rootpw.unwrap().password,
            Some(Password::Plain("pw".into()))
        );
        assert_eq!(s.hostname.as_deref(), Some("node1"));
        let net = s.network.unwrap();
        assert_eq!(
            (net.device.as_deref(), net.bootproto, net.onboot),
            (Some("eth0"), BootProto::Static, false)
        );
        assert_eq!(s.append, ["console=ttyS0", "quiet"]);
        assert!(group_ref("a", "x(abc)").is_err());
    }
}
