//! Derived captures: the same traffic re-encapsulated, or cut anywhere, must give the same
//! answers (or a partial answer and the damage reported).

use super::sweep::{check_run, declared_link_types};
use super::*;

// ---------------------------------------------------------------------------------------------
// Derived captures: the same traffic re-encapsulated must give the same answers

/// Rewrites a little- or big-endian microsecond/nanosecond pcap: a new link type, and each
/// frame passed through `frame`.
fn rewrite_pcap(bytes: &[u8], link: u32, frame: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let big = match u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) {
        0xa1b2_c3d4 | 0xa1b2_3c4d => false,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => true,
        m => panic!("not a classic pcap (magic {m:#x})"),
    };
    let rd = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    };
    let wr = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = bytes[..20].to_vec();
    out.extend_from_slice(&wr(link));
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = rd(&bytes[at + 8..]) as usize;
        let orig = rd(&bytes[at + 12..]) as usize;
        let data = &bytes[at + 16..at + 16 + caplen];
        let new = frame(data);
        let grown = new.len() as isize - caplen as isize;
        out.extend_from_slice(&bytes[at..at + 8]);
        out.extend_from_slice(&wr(new.len() as u32));
        out.extend_from_slice(&wr((orig as isize + grown) as u32));
        out.extend_from_slice(&new);
        at += 16 + caplen;
    }
    assert_eq!(at, bytes.len(), "trailing bytes in the source pcap");
    out
}

/// What must not change when only the link layer changes.
fn essentials(r: &Report) -> (u64, u64, u64, u64, Vec<u64>, BTreeMap<String, u64>) {
    let s = &r.summary;
    (
        s.packets,
        s.connections,
        s.requests,
        s.responses,
        requests_per_connection(r),
        s.close_reasons.clone(),
    )
}

fn analyze_bytes(name: &str, bytes: &[u8]) -> Report {
    let path = std::env::temp_dir().join(format!("connscope-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).expect("write derived capture");
    let out = connscope(&["analyze", "--format", "json", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json output matches the schema")
}

/// The 40 pipelined requests again, with an 802.1ad outer tag and an 802.1Q inner tag (QinQ)
/// inserted into every frame, and with a single 802.1Q tag: the same answers.
#[test]
fn vlan_and_qinq_tags_change_nothing() {
    let Some(dir) = corpus_dir() else { return };
    let bytes = std::fs::read(dir.join("suricata-verify/http-protocol-nodup/input.pcap")).unwrap();
    assert_eq!(declared_link_types(&bytes), [1]);
    let plain = analyze_bytes("plain.pcap", &bytes);
    let tag = |tags: &'static [[u8; 4]]| {
        move |f: &[u8]| {
            let mut v = f[..12].to_vec();
            for t in tags {
                v.extend_from_slice(t);
            }
            v.extend_from_slice(&f[12..]);
            v
        }
    };
    let qinq = rewrite_pcap(
        &bytes,
        1,
        tag(&[[0x88, 0xa8, 0x00, 0x64], [0x81, 0x00, 0x00, 0x0a]]),
    );
    let dot1q = rewrite_pcap(&bytes, 1, tag(&[[0x81, 0x00, 0x20, 0x07]]));
    assert_eq!(
        essentials(&analyze_bytes("qinq.pcap", &qinq)),
        essentials(&plain)
    );
    assert_eq!(
        essentials(&analyze_bytes("dot1q.pcap", &dot1q)),
        essentials(&plain)
    );
    assert_eq!(plain.summary.requests, 40);
}

/// The NULL/IPv6 keep-alive capture rewritten as OpenBSD LOOP (link type 108: the address
/// family in network byte order, AF_INET6 = 24): the same answers.
#[test]
fn loop_link_type_like_null() {
    let Some(dir) = corpus_dir() else { return };
    let bytes = std::fs::read(dir.join("gopacket/pcap/test_loopback.pcap")).unwrap();
    assert_eq!(declared_link_types(&bytes), [0]);
    let plain = analyze_bytes("null.pcap", &bytes);
    let as_loop = rewrite_pcap(&bytes, 108, |f| {
        let fam = u32::from_le_bytes([f[0], f[1], f[2], f[3]]);
        assert_eq!(fam, 30, "macOS AF_INET6 in host (little-endian) order");
        let mut v = 24u32.to_be_bytes().to_vec();
        v.extend_from_slice(&f[4..]);
        v
    });
    assert_eq!(
        essentials(&analyze_bytes("loop.pcap", &as_loop)),
        essentials(&plain)
    );
    assert_eq!(plain.summary.requests, 3);
}

/// A capture cut at every record boundary and in the middle of every record header and body
/// of a small keep-alive capture: never a panic; exit 0 exactly when the cut falls on a record
/// boundary, 3 otherwise; the requests found never exceed the whole file's and never go down
/// as the cut moves later.
#[test]
fn cuts_anywhere_give_partial_results() {
    let Some(dir) = corpus_dir() else { return };
    let bytes = std::fs::read(dir.join("gopacket/pcap/test_loopback.pcap")).unwrap();
    let mut boundaries = vec![24];
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen =
            u32::from_le_bytes([bytes[at + 8], bytes[at + 9], bytes[at + 10], bytes[at + 11]]);
        at += 16 + caplen as usize;
        boundaries.push(at);
    }
    let mut cuts = Vec::new();
    for w in boundaries.windows(2) {
        cuts.extend([w[0], w[0] + 1, w[0] + 15, w[0] + 16, (w[0] + w[1]) / 2]);
    }
    cuts.push(bytes.len());
    let scratch = std::env::temp_dir().join(format!("connscope-cuts-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let results = parallel(&cuts, |&cut| {
        let path = scratch.join(format!("cut-{cut}.pcap"));
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let run = run_with_timeout(
            &[
                "analyze".into(),
                "--format".into(),
                "json".into(),
                path.clone().into(),
            ],
            timeout(),
        );
        let bad = check_run(
            &format!("cut at {cut}"),
            &path.display().to_string(),
            &bytes[..cut],
            &run,
        );
        let requests = serde_json::from_slice::<Report>(&run.stdout)
            .map(|r| r.summary.requests)
            .ok();
        (cut, run.code, requests, bad)
    });
    let _ = std::fs::remove_dir_all(&scratch);
    let mut last = 0;
    for (cut, code, requests, bad) in results {
        assert!(bad.is_empty(), "{bad:?}");
        let expected = if boundaries.contains(&cut) { 0 } else { 3 };
        assert_eq!(code, Some(expected), "cut at {cut}");
        let requests = requests.unwrap();
        assert!(
            requests >= last && requests <= 3,
            "cut at {cut}: {requests} requests"
        );
        last = requests;
    }
    assert_eq!(last, 3);
}
