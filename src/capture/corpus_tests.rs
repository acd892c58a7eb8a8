//! Agreement of the reader with tshark over the public corpus (../shared/corpus or
//! $CONNSCOPE_CORPUS). A missing corpus fails the tests, unless CONNSCOPE_NO_CORPUS=1 is set
//! (then they are skipped with a note); on CI (CI set) it fails regardless.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

fn corpus_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("CONNSCOPE_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    };
    if dir.join("MANIFEST.tsv").is_file() {
        return Some(dir);
    }
    // Skipping is opt-in, and never on CI: a corpus that went missing must not pass quietly.
    let ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
    if !ci && std::env::var_os("CONNSCOPE_NO_CORPUS").is_some_and(|v| v == "1") {
        eprintln!(
            "note: capture corpus not found at {}; skipping (CONNSCOPE_NO_CORPUS=1)",
            dir.display()
        );
        return None;
    }
    panic!(
        "capture corpus not found at {} (no MANIFEST.tsv): set CONNSCOPE_CORPUS to its \
         directory, or CONNSCOPE_NO_CORPUS=1 to skip the corpus tests (not honoured when CI \
         is set)",
        dir.display()
    );
}

struct Row {
    path: String,
    format: String,
    link_type: String,
    packets: u64,
}

fn manifest(dir: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("read MANIFEST.tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("MANIFEST.tsv has no column {name}"))
    };
    let (c_path, c_format, c_link, c_packets) =
        (col("path"), col("format"), col("link_type"), col("packets"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row {
                path: f[c_path].to_string(),
                format: f[c_format].to_string(),
                link_type: f[c_link].to_string(),
                packets: f[c_packets].parse().unwrap_or_else(|_| {
                    panic!(
                        "MANIFEST.tsv: bad packet count {:?} for {}",
                        f[c_packets], f[c_path]
                    )
                }),
            }
        })
        .collect()
}

/// Files in the corpus that are damaged, as found from their bytes and confirmed by tshark:
/// (path, frames before the damage, damage offset, bytes skipped).
const KNOWN_DAMAGED: &[(&str, u64, u64, u64)] = &[
    // A single 0x0a byte follows the last complete record (a newline appended to the file,
    // as by a text tool); tshark and capinfos read the same 2696 packets and then report
    // "appears to have been cut short in the middle of a packet".
    (
        "suricata-verify/http-mime-truncated/input.pcap",
        2696,
        2_715_459,
        1,
    ),
];

/// tshark's (capinfos') encapsulation name -> the LINKTYPE values it stands for, and
/// whether connscope supports it.
fn manifest_link(name: &str) -> Option<(&'static [u32], bool)> {
    Some(match name {
        "ether" => (&[1], true),
        "linux-sll" => (&[113], true),
        "linux-sll2" => (&[276], true),
        "null" => (&[0], true),
        "loop" => (&[108], true),
        "rawip" => (&[101, 12, 14], true),
        "rawip4" => (&[228], true),
        "rawip6" => (&[229], true),
        "arcnet_linux" => (&[129], false),
        "chdlc" => (&[104], false),
        "ppi" => (&[192], false),
        _ => return None,
    })
}

/// What reading one file gave.
#[derive(Debug)]
enum Outcome {
    Frames {
        n: u64,
        links: Vec<u32>,
        damage: Option<Damage>,
    },
    Unsupported(LinkType),
    Error(String),
}

fn read_file(path: &Path) -> Outcome {
    let mut src = match Source::open(path) {
        Ok(s) => s,
        Err(CaptureError::UnsupportedLinkType { link, .. }) => return Outcome::Unsupported(link),
        Err(e) => return Outcome::Error(e.to_string()),
    };
    let mut n = 0;
    let mut links = Vec::new();
    loop {
        match src.next_frame() {
            Ok(Some(f)) => {
                n += 1;
                if !links.contains(&f.link.0) {
                    links.push(f.link.0);
                }
            }
            Ok(None) => break,
            Err(CaptureError::UnsupportedLinkType { link, .. }) => {
                return Outcome::Unsupported(link)
            }
            Err(e) => return Outcome::Error(e.to_string()),
        }
    }
    if src.damage().is_none() {
        assert_eq!(Some(src.position()), src.total_len(), "{}", path.display());
    }
    links.sort_unstable();
    Outcome::Frames {
        n,
        links,
        damage: src.damage().cloned(),
    }
}

/// Whether the reader's outcome agrees with the manifest row; `None` if it does.
fn disagreement(row: &Row, outcome: &Outcome) -> Option<String> {
    let names: Vec<&str> = match row.link_type.strip_prefix("per-packet:") {
        Some(list) => list.split('+').collect(),
        None => vec![row.link_type.as_str()],
    };
    let mut wanted = Vec::new();
    let mut supported = true;
    for n in &names {
        let Some((values, ok)) = manifest_link(n) else {
            return Some(format!("manifest link type {n:?} not known to this test"));
        };
        wanted.push(values);
        supported &= ok;
    }
    let known = KNOWN_DAMAGED.iter().find(|k| k.0 == row.path);
    match outcome {
        Outcome::Unsupported(link) if !supported => {
            if wanted.iter().any(|v| v.contains(&link.0)) {
                None
            } else {
                Some(format!(
                    "unsupported link type {link}, manifest says {}",
                    row.link_type
                ))
            }
        }
        Outcome::Frames { n, links, damage } if supported => {
            if *n != row.packets {
                return Some(format!("{n} frames, manifest says {}", row.packets));
            }
            // Every link type the manifest names is seen, and nothing else.
            if links.len() != wanted.len()
                || !links.iter().all(|l| wanted.iter().any(|v| v.contains(l)))
            {
                return Some(format!(
                    "link types {links:?}, manifest says {}",
                    row.link_type
                ));
            }
            match (damage, known) {
                (None, None) => None,
                (Some(d), Some(&(_, frames, offset, skipped))) => {
                    if (*n, d.offset, d.bytes_skipped) == (frames, offset, skipped) {
                        None
                    } else {
                        Some(format!("damage {d:?} differs from the known damage"))
                    }
                }
                (Some(d), None) => Some(format!("unexpected damage: {d}")),
                (None, Some(_)) => Some("known damaged, but no damage reported".into()),
            }
        }
        _ => Some(format!(
            "manifest link type {} ({}), reader: {outcome:?}",
            row.link_type,
            if supported {
                "supported"
            } else {
                "unsupported"
            }
        )),
    }
}

#[test]
fn corpus_frame_counts_agree_with_manifest() {
    let Some(dir) = corpus_dir() else { return };
    let rows = manifest(&dir);
    let (mut files, mut frames, mut unsupported, mut damaged) = (0, 0u64, 0, 0);
    let mut mismatches = Vec::new();
    for row in rows.iter().filter(|r| r.format.starts_with("pcap")) {
        let outcome = read_file(&dir.join(&row.path));
        files += 1;
        match &outcome {
            Outcome::Frames { n, damage, .. } => {
                frames += n;
                damaged += usize::from(damage.is_some());
            }
            Outcome::Unsupported(_) => unsupported += 1,
            Outcome::Error(e) => eprintln!("{}: error {e}", row.path),
        }
        if let Some(why) = disagreement(row, &outcome) {
            mismatches.push(format!("{}: {why}", row.path));
        }
    }
    eprintln!(
        "corpus: {files} pcap/pcapng files read, {frames} frames, {unsupported} with unsupported \
         link types, {damaged} damaged, {} disagreements with the manifest",
        mismatches.len()
    );
    for m in &mismatches {
        eprintln!("MISMATCH {m}");
    }
    assert!(files > 0, "no pcap or pcapng rows in the manifest");
    assert!(
        mismatches.is_empty(),
        "{} mismatches (listed above)",
        mismatches.len()
    );
    assert_eq!(damaged, KNOWN_DAMAGED.len());
}

/// Files whose every frame's timestamp and lengths are compared with tshark: both pcap byte
/// orders, nanosecond pcap, pcapng with nanosecond and microsecond interfaces (two link types
/// in one file, 22 interfaces in another), SLL2, raw IP and a damaged file.
const TSHARK_FILES: &[&str] = &[
    "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/nanosecs_big_endian.pcap",
    "nDPI/default/pcap/fuzz-2006-09-29-28586.pcap",
    "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng",
    "nDPI/default/pcap/http_asymmetric.pcapng",
    "nDPI/default/pcap/sites.pcapng",
    "nDPI/default/pcap/http2.pcapng",
    "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/sll2.pcap",
    "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/raw_ip.pcap",
    "suricata-verify/alert-distance-within-1/input.pcap",
    "suricata-verify/http-mime-truncated/input.pcap",
    // A record with a microsecond field of 1011041 (over a second).
    "suricata-verify/transform-base64-7296/input.pcap",
];

/// "1234.5678" (tshark's frame.time_epoch) as nanoseconds. tshark prints seconds, a dot and
/// the nanoseconds field padded to 9 digits, so a pcap record whose microsecond field is
/// 1,000,000 or more shows up as e.g. "1701999731.1011041000" (1701999731 s + 1011041000 ns).
fn parse_epoch(s: &str) -> Option<i128> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i128 = int.parse().ok()?;
    let mut ns: i128 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..9 {
        ns *= 10;
    }
    let v = secs.checked_mul(1_000_000_000)?.checked_add(ns)?;
    Some(if neg { -v } else { v })
}

/// (timestamp ns, frame.len, frame.cap_len) of every frame, from tshark; `None` if tshark
/// cannot be run.
fn tshark_frames(path: &Path) -> Option<Vec<(i64, u32, usize)>> {
    let out = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(path)
        .args([
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "frame.len",
            "-e",
            "frame.cap_len",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (
                    // Beyond i64 nanoseconds (after 2262) the reader gives the value modulo
                    // 2^64; within range this is the value itself.
                    parse_epoch(f[0]).unwrap_or_else(|| panic!("tshark time {:?}", f[0])) as i64,
                    f[1].parse().expect("frame.len"),
                    f[2].parse().expect("frame.cap_len"),
                )
            })
            .collect(),
    )
}

fn ours(path: &Path) -> Vec<(i64, u32, usize)> {
    let mut src = Source::open(path).expect("open");
    let mut v = Vec::new();
    while let Some(f) = src.next_frame().expect("read") {
        v.push((f.ts.0, f.orig_len, f.data.len()));
    }
    v
}

/// Compares every frame's timestamp (to the nanosecond), length and captured length with
/// tshark. Set CONNSCOPE_TSHARK_ALL=1 to do it for every supported file in the corpus.
#[test]
fn corpus_timestamps_agree_with_tshark() {
    let Some(dir) = corpus_dir() else { return };
    if Command::new("tshark").arg("-v").output().is_err() {
        eprintln!("note: tshark not found; skipping the timestamp comparison");
        return;
    }
    let all = std::env::var_os("CONNSCOPE_TSHARK_ALL").is_some();
    let files: Vec<String> = if all {
        manifest(&dir)
            .into_iter()
            .filter(|r| {
                r.format.starts_with("pcap")
                    && r.link_type
                        .trim_start_matches("per-packet:")
                        .split('+')
                        .all(|n| manifest_link(n).is_some_and(|(_, ok)| ok))
            })
            .map(|r| r.path)
            .collect()
    } else {
        TSHARK_FILES.iter().map(|s| s.to_string()).collect()
    };
    let threads = std::thread::available_parallelism()
        .map_or(4, |n| n.get())
        .min(16);
    let per = files.len().div_ceil(threads).max(1);
    let results: Vec<(String, usize, Option<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(per)
            .map(|chunk| {
                let dir = &dir;
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|rel| {
                            let path = dir.join(rel);
                            let theirs = tshark_frames(&path).expect("run tshark");
                            let mine = ours(&path);
                            let bad = if mine.len() != theirs.len() {
                                Some(format!("{} frames, tshark {}", mine.len(), theirs.len()))
                            } else {
                                mine.iter()
                                    .zip(&theirs)
                                    .enumerate()
                                    .find(|(_, (a, b))| a != b)
                                    .map(|(i, (a, b))| {
                                        format!(
                                            "frame {}: ours (ts, len, caplen) {a:?}, tshark {b:?}",
                                            i + 1
                                        )
                                    })
                            };
                            (rel.clone(), mine.len(), bad)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let frames: usize = results.iter().map(|r| r.1).sum();
    let bad: Vec<_> = results
        .iter()
        .filter_map(|r| r.2.as_ref().map(|b| format!("{}: {b}", r.0)))
        .collect();
    eprintln!(
        "tshark agreement: {} files, {frames} frames, {} disagreements",
        results.len(),
        bad.len()
    );
    for b in &bad {
        eprintln!("TSHARK MISMATCH {b}");
    }
    assert!(bad.is_empty());
}

#[test]
fn epoch_parsing() {
    assert_eq!(
        parse_epoch("1031854484.481540000"),
        Some(1_031_854_484_481_540_000)
    );
    assert_eq!(parse_epoch("1.5"), Some(1_500_000_000));
    assert_eq!(parse_epoch("-1.000000001"), Some(-1_000_000_001));
    assert_eq!(parse_epoch("7"), Some(7_000_000_000));
    assert_eq!(
        parse_epoch("1701999731.1011041000"),
        Some(1_701_999_732_011_041_000)
    );
}
