//! The command line as a user meets it: formats, standard input, filters, errors, exit codes.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::schema::{analyze_json, capture, connscope, Connection, Server, Summary};

#[test]
fn jsonl_lines_come_in_schema_order() {
    let pcap = capture("request-cap.pcap");
    let out = connscope(&[
        "analyze",
        "--format",
        "jsonl",
        "--requests",
        pcap.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut kinds = Vec::new();
    let (mut conns, mut reqs, mut summary) = (0u64, 0u64, None);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let kind = v["type"].as_str().unwrap().to_string();
        match kind.as_str() {
            "connection" => {
                let c: Connection = serde_json::from_value(v).unwrap();
                reqs += c.requests;
                conns += 1;
            }
            "server" => {
                let _: Server = serde_json::from_value(v).unwrap();
            }
            "summary" => summary = Some(serde_json::from_value::<Summary>(v).unwrap()),
            "request" | "chain" | "finding" => {}
            other => panic!("unknown line type {other}"),
        }
        kinds.push(kind);
    }
    // connection/request lines first, then server lines, chain and finding lines, then
    // exactly one summary, last.
    let first_server = kinds.iter().position(|k| k == "server").unwrap();
    assert!(kinds[..first_server]
        .iter()
        .all(|k| k == "connection" || k == "request"));
    let rank = |k: &str| {
        ["server", "chain", "finding", "summary"]
            .iter()
            .position(|&x| x == k)
    };
    let ranks: Vec<_> = kinds[first_server..].iter().map(|k| rank(k)).collect();
    assert!(ranks.iter().all(Option::is_some) && ranks.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(kinds.last().map(String::as_str), Some("summary"));
    let s = summary.unwrap();
    assert_eq!(s.connections, conns);
    assert_eq!(s.requests, reqs);
    let request_lines = kinds.iter().filter(|k| *k == "request").count() as u64;
    assert_eq!(request_lines, reqs);
}

#[test]
fn json_and_jsonl_agree() {
    let pcap = capture("keepalive.pcap");
    let doc = analyze_json(&[&pcap], &[]);
    let out = connscope(&["analyze", "--format", "jsonl", pcap.to_str().unwrap()]);
    let mut lines: Vec<Connection> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "connection")
        .map(|v| serde_json::from_value(v).unwrap())
        .collect();
    lines.sort_by_key(|c| c.id);
    let a: Vec<(u64, u64, String)> = lines
        .iter()
        .map(|c| (c.id, c.requests, c.close_reason.clone()))
        .collect();
    let b: Vec<(u64, u64, String)> = doc
        .connections
        .iter()
        .map(|c| (c.id, c.requests, c.close_reason.clone()))
        .collect();
    assert_eq!(a, b);
}

#[test]
fn standard_input_reads_like_a_file() {
    let pcap = capture("pipelining.pcap");
    let bytes = std::fs::read(&pcap).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_connscope"))
        .args(["analyze", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let from_stdin: crate::schema::Report = serde_json::from_slice(&out.stdout).unwrap();
    let from_file = analyze_json(&[&pcap], &[]);
    assert_eq!(from_stdin.summary.requests, from_file.summary.requests);
    assert_eq!(from_stdin.summary.packets, from_file.summary.packets);
    assert!(from_file.summary.requests > 0);
}

#[test]
fn several_files_are_one_capture() {
    let a = capture("keepalive.pcap");
    let b = capture("conn-close.pcap");
    let ra = analyze_json(&[&a], &[]);
    let rb = analyze_json(&[&b], &[]);
    let both = analyze_json(&[&a, &b], &[]);
    assert_eq!(
        both.summary.requests,
        ra.summary.requests + rb.summary.requests
    );
    assert_eq!(
        both.summary.packets,
        ra.summary.packets + rb.summary.packets
    );
    assert_eq!(both.summary.files.len(), 2);
}

#[test]
fn bpf_filter_selects_packets() {
    let pcap = capture("keepalive.pcap");
    let all = analyze_json(&[&pcap], &[]);
    let one = &all.connections[0];
    let expr = format!("tcp port {}", one.client_port());
    let only = analyze_json(&[&pcap], &["--filter", &expr]);
    assert_eq!(only.summary.connections, 1);
    assert_eq!(only.summary.requests, one.requests);
    let none = analyze_json(&[&pcap], &["--filter", "udp"]);
    assert_eq!(none.summary.connections, 0);
    assert_eq!(none.summary.packets, 0);

    let bad = connscope(&["analyze", "--filter", "tcp port", pcap.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("filter"), "{err}");
}

#[test]
fn not_a_capture_is_a_clear_error() {
    let dir = tempdir();
    let f = dir.join("notes.txt");
    std::fs::write(&f, "this is not a capture\n").unwrap();
    let out = connscope(&["analyze", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("notes.txt") && err.contains("not a pcap"),
        "{err}"
    );

    let missing = connscope(&["analyze", "/nonexistent/x.pcap"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/x.pcap"));
}

#[test]
fn unsupported_link_type_is_named() {
    // A pcap header with link type 105 (IEEE 802.11).
    let dir = tempdir();
    let f = dir.join("wifi.pcap");
    let mut h = vec![
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0,
    ];
    h.extend_from_slice(&105u32.to_le_bytes());
    std::fs::write(&f, &h).unwrap();
    let out = connscope(&["analyze", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("IEEE802_11") && err.contains("105"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn truncated_capture_reports_partial_results_and_exit_3() {
    let pcap = capture("keepalive.pcap");
    let bytes = std::fs::read(&pcap).unwrap();
    let dir = tempdir();
    let f = dir.join("cut.pcap");
    // Every record is longer than 10 bytes: this cuts only the last one.
    std::fs::write(&f, &bytes[..bytes.len() - 10]).unwrap();
    let out = connscope(&["analyze", "--format", "json", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let r: crate::schema::Report = serde_json::from_slice(&out.stdout).unwrap();
    let full = analyze_json(&[&pcap], &[]);
    assert_eq!(
        r.summary.packets,
        full.summary.packets - 1,
        "all but the cut record"
    );
    assert_eq!(r.summary.damage.len(), 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cut.pcap") && err.contains("damaged at byte"),
        "{err}"
    );
}

#[test]
fn closed_pipe_is_not_an_error() {
    // Output far larger than a pipe buffer (64 KiB), so writing must hit the closed pipe.
    let pcap = capture("keepalive.pcap");
    let mut args = vec![
        "analyze".to_string(),
        "--format".into(),
        "jsonl".into(),
        "--requests".into(),
    ];
    args.extend(std::iter::repeat_n(pcap.display().to_string(), 40));
    let mut child = Command::new(env!("CARGO_BIN_EXE_connscope"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then close our end, as `| head -1` does.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    std::io::Read::read(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn text_report_fits_80_columns() {
    for name in ["keepalive", "proxy-close", "request-cap", "ipv6"] {
        let pcap = capture(&format!("{name}.pcap"));
        let out = connscope(&["analyze", pcap.to_str().unwrap()]);
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("reuse ratio"));
        for line in text.lines() {
            assert!(line.chars().count() <= 80, "{name}: {line:?}");
        }
        assert!(!text.contains('\x1b'), "no colour when not a terminal");
    }
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "connscope-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_full_disk_is_reported() {
    let pcap = capture("keepalive.pcap");
    for format in ["text", "json", "jsonl"] {
        let out = Command::new(env!("CARGO_BIN_EXE_connscope"))
            .args(["analyze", "--format", format, pcap.to_str().unwrap()])
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{format}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("No space left on device"), "{format}: {err}");
    }
}
