//! Robustness over every file of the corpus, and a truncated copy of each: no panic, no hang,
//! JSON that matches the schema and agrees with itself, and a clear refusal (exit code 2, one
//! line naming the file) for link types connscope does not read.

use super::*;

// ---------------------------------------------------------------------------------------------
// Link types read from the file itself, to know which files connscope must refuse

/// The link types the README promises: Ethernet, NULL, raw IP (DLT 12/14, LINKTYPE 101,
/// IPV4 228, IPV6 229), LOOP, SLL, SLL2.
const SUPPORTED_LINK_TYPES: [u32; 10] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276];

/// Link types declared in a pcap header or in pcapng interface description blocks.
pub(super) fn declared_link_types(bytes: &[u8]) -> Vec<u32> {
    let rd32 = |b: &[u8], big: bool| {
        let a = [b[0], b[1], b[2], b[3]];
        if big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    };
    if bytes.len() < 24 {
        return Vec::new();
    }
    let magic = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34 => vec![rd32(&bytes[20..], false) & 0x03ff_ffff],
        0xd4c3_b2a1 | 0x4d3c_b2a1 | 0x34cd_b2a1 => vec![rd32(&bytes[20..], true) & 0x03ff_ffff],
        0x0a0d_0d0a => {
            let mut links = Vec::new();
            let mut at = 0;
            let mut big = false;
            while at + 12 <= bytes.len() {
                let btype = rd32(&bytes[at..], big);
                if btype == 0x0a0d_0d0a {
                    big = bytes[at + 8..at + 12] == [0x1a, 0x2b, 0x3c, 0x4d];
                }
                let len = rd32(&bytes[at + 4..], big) as usize;
                if len < 12 || at + len > bytes.len() {
                    break;
                }
                if btype == 1 && len >= 20 {
                    let b = &bytes[at + 8..at + 10];
                    let link = if big {
                        u16::from_be_bytes([b[0], b[1]])
                    } else {
                        u16::from_le_bytes([b[0], b[1]])
                    };
                    links.push(u32::from(link));
                }
                at += len;
            }
            links
        }
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Checks of one run

/// Everything that must hold of one run over a file; returns what did not.
pub(super) fn check_run(rel: &str, shown_path: &str, bytes: &[u8], run: &Run) -> Vec<String> {
    let mut bad = Vec::new();
    let stderr_tail = || {
        let lines: Vec<&str> = run.stderr.lines().collect();
        lines[lines.len().saturating_sub(6)..].join("\n      ")
    };
    if run.timed_out {
        bad.push(format!("{rel}: no answer after {:?} (killed)", run.elapsed));
        return bad;
    }
    let Some(code) = run.code else {
        bad.push(format!(
            "{rel}: killed by a signal\n      {}",
            stderr_tail()
        ));
        return bad;
    };
    let unsupported: Vec<u32> = declared_link_types(bytes)
        .into_iter()
        .filter(|l| !SUPPORTED_LINK_TYPES.contains(l))
        .collect();
    match code {
        0 | 3 => {
            if !unsupported.is_empty() {
                bad.push(format!(
                    "{rel}: exit {code}, but it declares unsupported link type(s) {unsupported:?}"
                ));
            }
            match serde_json::from_slice::<Report>(&run.stdout) {
                Err(e) => bad.push(format!(
                    "{rel}: exit {code} but stdout is not the schema: {e}"
                )),
                Ok(r) => bad.extend(
                    consistency(&r, shown_path)
                        .into_iter()
                        .map(|m| format!("{rel}: {m}")),
                ),
            }
            if code == 3 {
                let lines: Vec<&str> = run.stderr.lines().collect();
                if lines.is_empty()
                    || !lines
                        .iter()
                        .all(|l| l.starts_with("connscope: ") && l.contains(shown_path))
                {
                    bad.push(format!(
                        "{rel}: exit 3 must describe the damage, naming the file, on stderr:\n      {}",
                        stderr_tail()
                    ));
                }
            } else if !run.stderr.is_empty() {
                bad.push(format!(
                    "{rel}: exit 0 with stderr:\n      {}",
                    stderr_tail()
                ));
            }
        }
        2 => {
            let text = run.stderr.trim_end_matches('\n');
            if text.is_empty() || text.contains('\n') || !text.contains(shown_path) {
                bad.push(format!(
                    "{rel}: exit 2 must be exactly one line naming the file:\n      {}",
                    stderr_tail()
                ));
            }
            if !run.stdout.is_empty() {
                bad.push(format!("{rel}: exit 2 with output on stdout"));
            }
            if let Some(l) = unsupported.first() {
                if !(text.contains("unsupported link type") && text.contains(&format!("({l})"))) {
                    bad.push(format!(
                        "{rel}: link type {l} is unsupported; stderr must name it: {text}"
                    ));
                }
            }
        }
        101 => bad.push(format!("{rel}: PANIC (exit 101)\n      {}", stderr_tail())),
        other => bad.push(format!("{rel}: exit {other}\n      {}", stderr_tail())),
    }
    bad
}

/// What a report must say about itself: the summary agrees with its connections and servers.
fn consistency(r: &Report, shown_path: &str) -> Vec<String> {
    let s = &r.summary;
    let c = &r.connections;
    let mut bad = Vec::new();
    let mut same = |what: &str, summary: u64, from_parts: u64| {
        if summary != from_parts {
            bad.push(format!(
                "summary.{what} = {summary} but the parts add up to {from_parts}"
            ));
        }
    };
    same("connections", s.connections, c.len() as u64);
    same("requests", s.requests, c.iter().map(|c| c.requests).sum());
    same(
        "responses",
        s.responses,
        c.iter().map(|c| c.responses).sum(),
    );
    same(
        "unanswered",
        s.unanswered,
        c.iter().map(|c| u64::from(c.unanswered)).sum(),
    );
    same(
        "http_connections",
        s.http_connections,
        c.iter().filter(|c| c.requests > 0).count() as u64,
    );
    same(
        "handshakes",
        s.handshakes,
        c.iter().filter(|c| c.handshake).count() as u64,
    );
    same(
        "handshakes + midstream",
        s.handshakes + s.midstream,
        s.connections,
    );
    same("protocols", s.protocols.values().sum(), s.connections);
    same(
        "close_reasons",
        s.close_reasons.values().sum(),
        s.connections,
    );
    same(
        "requests (servers)",
        s.requests,
        r.servers.iter().map(|v| v.requests).sum(),
    );
    if let Some(max) = s
        .requests_per_connection
        .as_ref()
        .and_then(|m| m.get("max"))
    {
        let real = c.iter().map(|c| c.requests).max().unwrap_or(0);
        if *max as u64 != real {
            bad.push(format!(
                "requests_per_connection.max = {max} but the busiest connection has {real}"
            ));
        }
    }
    if !c.windows(2).all(|w| w[0].id < w[1].id) {
        bad.push("connections are not in order of their first packet".into());
    }
    if s.files != [shown_path] {
        bad.push(format!("summary.files = {:?}", s.files));
    }
    bad
}

// ---------------------------------------------------------------------------------------------
// Robustness over every file

/// A copy of `bytes` cut at a point chosen from the file's name (deterministic, spread over
/// the whole file past the first 24 bytes).
fn truncated(rel: &str, bytes: &[u8]) -> Vec<u8> {
    let h = rel.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let span = bytes.len().saturating_sub(25).max(1) as u64;
    let cut = 24 + (h % span) as usize;
    bytes[..cut.min(bytes.len())].to_vec()
}

#[test]
fn every_corpus_file_is_analyzed_without_panic_or_hang() {
    let Some(dir) = corpus_dir() else { return };
    let files = corpus_files(&dir);
    let manifest = manifest_paths(&dir);
    let missing: Vec<&String> = manifest.iter().filter(|p| !files.contains(p)).collect();
    assert!(
        missing.is_empty(),
        "MANIFEST.tsv lists files that are not there: {missing:?}"
    );
    assert!(
        files.len() >= 100,
        "only {} files in the corpus",
        files.len()
    );

    let scratch = std::env::temp_dir().join(format!("connscope-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch directory");
    let limit = timeout();
    let started = Instant::now();
    let results = parallel(&files, |rel| {
        let path = dir.join(rel);
        let bytes = std::fs::read(&path).expect("read corpus file");
        let shown = path.display().to_string();
        let args: Vec<OsString> = vec![
            "analyze".into(),
            "--format".into(),
            "json".into(),
            path.clone().into(),
        ];
        let whole = run_with_timeout(&args, limit);
        let mut bad = check_run(rel, &shown, &bytes, &whole);

        // The same file cut short at an arbitrary point: a capture that ends mid-record.
        let cut = truncated(rel, &bytes);
        let cut_path = scratch.join(rel.replace('/', "__"));
        std::fs::write(&cut_path, &cut).expect("write truncated copy");
        let cut_shown = cut_path.display().to_string();
        let args: Vec<OsString> = vec![
            "analyze".into(),
            "--format".into(),
            "json".into(),
            cut_path.clone().into(),
        ];
        let part = run_with_timeout(&args, limit);
        let label = format!("{rel} (cut to {} of {} bytes)", cut.len(), bytes.len());
        bad.extend(check_run(&label, &cut_shown, &cut, &part));
        let _ = std::fs::remove_file(&cut_path);
        (rel.clone(), whole.code, whole.elapsed, bad)
    });
    let _ = std::fs::remove_dir_all(&scratch);

    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for (_, code, _, _) in &results {
        *codes
            .entry(code.map_or("killed".into(), |c| c.to_string()))
            .or_default() += 1;
    }
    let slowest = results.iter().max_by_key(|r| r.2).unwrap();
    eprintln!(
        "corpus: {} files (+ a truncated copy of each) in {:.1?}; exit codes of the whole files \
         {codes:?}; slowest {} ({:.1?})",
        files.len(),
        started.elapsed(),
        slowest.0,
        slowest.2
    );
    let failures: Vec<String> = results.into_iter().flat_map(|r| r.3).collect();
    assert!(
        failures.is_empty(),
        "{} problem(s) over the corpus:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

#[test]
fn unsupported_link_types_are_refused_by_name() {
    let Some(dir) = corpus_dir() else { return };
    // The link types as the files declare them (checked with xxd): Cisco HDLC, ARCNET (Linux
    // header), and PPI.
    for (rel, link) in [
        ("suricata-verify/decode-chdlc-01/hdlc-http_1tx.pcap", 104),
        ("tcpdump/arcnet-rfc1051-arp-icmp-http.pcap", 129),
        ("tcpdump/arcnet-rfc1201-arp-icmp-http.pcap", 129),
        ("libpcap/arcnet-rfc1051-arp-icmp-http.pcap", 129),
        ("libpcap/http_PPI.pcap", 192),
    ] {
        let path = dir.join(rel);
        let out = connscope(&["analyze", "--format", "json", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{rel}: {err}");
        assert!(out.stdout.is_empty(), "{rel}");
        assert_eq!(err.lines().count(), 1, "{rel}: {err}");
        assert!(
            err.contains(path.to_str().unwrap())
                && err.contains("unsupported link type")
                && err.contains(&format!("({link})")),
            "{rel}: {err}"
        );
    }
    let chdlc = dir.join("suricata-verify/decode-chdlc-01/hdlc-http_1tx.pcap");
    let out = connscope(&["analyze", chdlc.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("C_HDLC"));
}
