//! Checksums are verified and counted, never a reason to drop a segment. tshark, with its
//! TCP and IPv4 checksum checks switched on, is the second opinion: it must agree on how many
//! segments could be verified and on how many were wrong, file by file.

use std::path::Path;

use crate::corpus::corpus_dir;
use crate::schema::{analyze_json, capture, tshark_fields, Checksums};

/// tshark's count over the TCP segments connscope reads: not IP fragments, and not the
/// headers quoted inside ICMP errors (tshark dissects those as TCP too).
pub(crate) fn tshark_checksums(pcap: &Path) -> Checksums {
    let out = tshark_fields(
        pcap,
        &[
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
        ],
        "tcp && !icmp && !icmpv6 && !(ip.flags.mf == 1) && !(ip.frag_offset > 0)",
        &["tcp.checksum.status", "ip.checksum.status"],
    );
    // Status 0 is bad, 1 good, 2 unverified; with tunnels a field holds one per layer, and the
    // innermost (last) is the one that carries the TCP segment.
    let mut c = Checksums {
        verified: 0,
        bad_tcp: 0,
        bad_ip: 0,
    };
    for line in out.lines() {
        let mut fields = line.split('\t');
        let tcp = fields
            .next()
            .and_then(|f| f.rsplit(',').next())
            .unwrap_or("");
        let ip = fields
            .next()
            .and_then(|f| f.rsplit(',').next())
            .unwrap_or("");
        c.verified += u64::from(tcp == "0" || tcp == "1");
        c.bad_tcp += u64::from(tcp == "0");
        c.bad_ip += u64::from(ip == "0");
    }
    c
}

fn connscope_checksums(pcap: &Path) -> Checksums {
    analyze_json(&[pcap], &[]).summary.checksums
}

/// Loopback captures carry the kernel's partial checksums (offload): every segment wrong.
/// The veth captures were made with checksum offload off: every one right.
#[test]
fn checksums_of_the_bundled_captures_agree_with_tshark() {
    let mut bad = 0;
    for name in [
        "keepalive.pcap",
        "conn-close.pcap",
        "idle-timeout.pcap",
        "ipv6.pcap",
        "large.pcap",
        "vlan.pcap",
        "sll2.pcap",
    ] {
        let pcap = capture(name);
        let ours = connscope_checksums(&pcap);
        assert!(ours.verified > 0, "{name}");
        assert_eq!(ours, tshark_checksums(&pcap), "{name}");
        bad += ours.bad_tcp;
    }
    assert!(
        bad > 0,
        "the loopback captures have wrong (offloaded) checksums"
    );
}

/// Public captures with a mix of right and wrong checksums: Suricata's own checksum test
/// (detect-chksum-01), wrong IPv4 and TCP checksums together (bug-5162), IPv6
/// (community-id-ipv6), Linux cooked v2 (decode-sll2-02), wrong IPv4 headers only
/// (dns-over-http2-post), and TCP quoted in ICMP errors (instagram).
#[test]
fn checksums_of_public_captures_agree_with_tshark() {
    let Some(dir) = corpus_dir() else {
        return;
    };
    let mut seen = Checksums {
        verified: 0,
        bad_tcp: 0,
        bad_ip: 0,
    };
    for rel in [
        "suricata-verify/detect-chksum-01/input.pcap",
        "suricata-verify/bug-5162/input.pcap",
        "suricata-verify/community-id-ipv6/input.pcap",
        "suricata-verify/decode-sll2-02/input.pcap",
        "suricata-verify/dns-over-http2-post/dns_over_https_POST.pcap",
        "suricata-verify/output-multi-eve/input.pcap",
        "nDPI/default/pcap/instagram.pcap",
    ] {
        let pcap = dir.join(rel);
        let ours = connscope_checksums(&pcap);
        assert_eq!(ours, tshark_checksums(&pcap), "{rel}");
        assert!(ours.bad_tcp + ours.bad_ip > 0, "{rel} has wrong checksums");
        seen.verified += ours.verified;
        seen.bad_tcp += ours.bad_tcp;
        seen.bad_ip += ours.bad_ip;
    }
    assert!(seen.bad_tcp < seen.verified, "right ones too");
    assert!(seen.bad_ip > 0);
}

/// A segment with a wrong checksum is still used: Suricata's detect-chksum-01 has wrong TCP
/// checksums on two segments, and the request and response are counted as the bytes show.
#[test]
fn wrong_checksums_are_counted_not_dropped() {
    let Some(dir) = corpus_dir() else {
        return;
    };
    let pcap = dir.join("suricata-verify/detect-chksum-01/input.pcap");
    let r = analyze_json(&[&pcap], &[]);
    assert_eq!(r.summary.checksums.bad_tcp, 2);
    let t = &r.summary.tcp;
    assert_eq!(t.bad_checksums_client + t.bad_checksums_server, 2);
    assert_eq!(r.summary.requests, 1);
    assert_eq!(r.summary.responses, 1);
}
