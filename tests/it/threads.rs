//! Sharding flows across worker threads changes nothing in the results, and files given
//! together are one capture: connections cross file boundaries.

use std::path::Path;

use crate::schema::{capture, connscope, root};

fn all_captures() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(root().join("captures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    v.sort();
    v
}

fn json_with(files: &[&Path], threads: usize, extra: &[&str]) -> serde_json::Value {
    let t = threads.to_string();
    let mut args = vec!["analyze", "--format", "json", "--threads", &t];
    args.extend_from_slice(extra);
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    let out = connscope(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    let files = all_captures();
    assert!(files.len() >= 17);
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    // Each capture alone, and all of them as one capture (many servers, many shards).
    for set in refs
        .iter()
        .map(|p| vec![*p])
        .chain(std::iter::once(refs.clone()))
    {
        let one = json_with(&set, 1, &["--requests"]);
        for threads in [2, 3] {
            let many = json_with(&set, threads, &["--requests"]);
            assert!(
                one == many,
                "{set:?}: --threads {threads} differs from --threads 1"
            );
        }
    }
}

#[test]
fn jsonl_lines_are_the_same_set_with_threads() {
    let pcap = capture("keepalive.pcap");
    let lines = |threads: &str| {
        let out = connscope(&[
            "analyze",
            "--format",
            "jsonl",
            "--requests",
            "--threads",
            threads,
            pcap.to_str().unwrap(),
        ]);
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let last = text.lines().last().unwrap().to_string();
        assert!(
            last.starts_with("{\"type\":\"summary\""),
            "summary comes last"
        );
        let mut v: Vec<String> = text.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert_eq!(lines("1"), lines("3"));
}

/// Copies a little-endian pcap's header and the records in `range` to `to`.
fn write_part(from: &Path, to: &Path, range: std::ops::Range<usize>) -> usize {
    let bytes = std::fs::read(from).unwrap();
    assert_eq!(
        &bytes[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian microsecond pcap"
    );
    let mut out = bytes[..24].to_vec();
    let (mut at, mut i) = (24, 0);
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let end = at + 16 + caplen;
        if range.contains(&i) {
            out.extend_from_slice(&bytes[at..end]);
        }
        at = end;
        i += 1;
    }
    std::fs::write(to, out).unwrap();
    i
}

#[test]
fn a_capture_split_in_two_files_is_one_capture() {
    let dir = std::env::temp_dir().join(format!("connscope-split-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["keepalive.pcap", "midstream.pcap", "request-cap.pcap"] {
        let whole = capture(name);
        let (a, b) = (dir.join("a.pcap"), dir.join("b.pcap"));
        let n = write_part(&whole, &a, 0..usize::MAX);
        // Cut in the middle: most connections are open across the boundary.
        write_part(&whole, &a, 0..n / 2);
        write_part(&whole, &b, n / 2..usize::MAX);
        for threads in [1, 2] {
            let mut joined = json_with(&[&a, &b], threads, &[]);
            let mut single = json_with(&[&whole], threads, &[]);
            for v in [&mut joined, &mut single] {
                v["summary"]["files"] = serde_json::Value::Null;
            }
            assert!(joined == single, "{name}: two halves differ from the whole");
        }
    }
}

/// Writes `copies` copies of a little-endian Ethernet/IPv4 pcap one after another, each
/// `copy` seconds later and with both TCP ports moved up by `copy`, so that every copy's
/// connections are new ones. Returns the file's size.
fn repeat_shifted(from: &Path, to: &Path, copies: u16) -> usize {
    let bytes = std::fs::read(from).unwrap();
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
    let mut out = bytes[..24].to_vec();
    for copy in 0..copies {
        let mut at = 24;
        while at + 16 <= bytes.len() {
            let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
            let mut rec = bytes[at..at + 16 + caplen].to_vec();
            let secs = u32::from_le_bytes(rec[..4].try_into().unwrap()) + u32::from(copy);
            rec[..4].copy_from_slice(&secs.to_le_bytes());
            let frame = &mut rec[16..];
            assert_eq!(&frame[12..14], &[0x08, 0x00], "IPv4 over Ethernet");
            let tcp = 14 + usize::from(frame[14] & 0x0f) * 4;
            for p in [tcp, tcp + 2] {
                let port = u16::from_be_bytes([frame[p], frame[p + 1]]).wrapping_add(copy);
                frame[p..p + 2].copy_from_slice(&port.to_be_bytes());
            }
            out.extend_from_slice(&rec);
            at += 16 + caplen;
        }
    }
    std::fs::write(to, &out).unwrap();
    out.len()
}

/// Large files are read through a memory map that the workers read payloads from directly,
/// and whose pages are handed back only behind every worker. Several such files, and a small
/// one (read, not mapped) between them, give the same results with any number of threads.
#[test]
fn mapped_files_give_the_same_results_with_threads() {
    let dir = std::env::temp_dir().join(format!("connscope-mapped-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.pcap"), dir.join("b.pcap"));
    let large = capture("large.pcap");
    // Over the 1 MiB at which files are mapped, and over the 8 MiB steps of page release.
    assert!(repeat_shifted(&large, &a, 12) > 10 << 20);
    assert!(repeat_shifted(&large, &b, 3) > 2 << 20);
    let alone = json_with(&[&large], 1, &[]);
    let one = json_with(&[&a], 1, &["--requests"]);
    assert_eq!(
        one["summary"]["requests"].as_u64().unwrap(),
        12 * alone["summary"]["requests"].as_u64().unwrap(),
        "every copy counts"
    );
    let small = capture("keepalive.pcap");
    for set in [vec![&a], vec![&a, &small, &b], vec![&small, &b]] {
        let set: Vec<&Path> = set.into_iter().map(|p| p.as_path()).collect();
        let one = json_with(&set, 1, &["--requests"]);
        for threads in [2, 3] {
            let many = json_with(&set, threads, &["--requests"]);
            assert!(one == many, "{set:?}: --threads {threads} differs");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
