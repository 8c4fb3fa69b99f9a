//! Parsing throughput on a large generated kickstart (criterion prints it as MiB/s).
//!
//! `cargo bench -p kickstand-grammar --bench parse`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kickstand_grammar::{NoIncludes, parse};
use std::hint::black_box;

/// A kickstart of about `target` bytes mixing every kind of line the parser sees.
fn large_kickstart(target: usize) -> String {
    let mut out = String::from("lang en_US.UTF-8\nkeyboard us\ntimezone UTC --utc\ntext\n");
    let mut i = 0;
    while out.len() < target {
        out.push_str(&format!(
            "# machine group {i}\n\
             part /srv/data{i} --fstype=xfs --size={} --grow --ondisk=sd{} --label=\"data {i}\"\n\
             user --name=user{i} --groups=wheel,adm --uid={} --password='p#ss w0rd' --plaintext\n\
             sshkey --username=user{i} \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ8rVsdpDc1hVgMn{i} u@h\"\n\
             network --device=eth{i} --bootproto=static --ip=10.0.{}.{} --netmask=255.255.0.0 --onboot=yes\n\
             %post --log=/root/post{i}.log\n\
             echo \"configuring {i}\" > /etc/motd\n\
             systemctl enable example{i}.service\n\
             %end\n",
            1024 + i,
            (b'a' + (i % 26) as u8) as char,
            1000 + i,
            i / 256 % 256,
            i % 256
        ));
        i += 1;
    }
    out.push_str("reboot\n");
    out
}

fn bench_parse(c: &mut Criterion) {
    let text = large_kickstart(4 * 1024 * 1024);
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(10);
    group.bench_function("generated 4 MiB kickstart", |b| {
        b.iter(|| {
            let parsed = parse("bench.ks", black_box(&text), &NoIncludes);
            assert!(!parsed.has_errors());
            parsed
        })
    });
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
