//! Live capture on this machine's interfaces. These tests need root (or CAP_NET_RAW): CI runs
//! as root, and a test that cannot open an interface fails, it does not skip.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::live::{LiveOptions, LiveSource};
use super::source::{FrameSource, Next};
use super::{CaptureError, LinkType, Source, Timestamp};

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: connscope.test\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 204 No Content\r\n\r\n";

/// What the source yielded, owned so that it outlives the next call.
#[derive(Debug)]
enum Ev {
    Frame {
        number: u64,
        ts: Timestamp,
        link: LinkType,
        data: Vec<u8>,
        orig_len: u32,
    },
    Tick(Timestamp),
    End,
}

fn open(opts: LiveOptions) -> LiveSource {
    let name = opts.interface.clone().unwrap_or_else(|| "(default)".into());
    LiveSource::open(opts)
        .unwrap_or_else(|e| panic!("opening {name} (these tests need root or CAP_NET_RAW): {e}"))
}

fn lo(filter: &str) -> LiveOptions {
    LiveOptions {
        interface: Some("lo".into()),
        filter: Some(filter.into()),
        tick: Duration::from_millis(100),
        ..LiveOptions::default()
    }
}

fn next_ev(src: &mut LiveSource) -> Ev {
    match src.next() {
        Ok(Next::Frame { number, frame, map }) => {
            assert!(map.is_none(), "a live frame lies in no file");
            Ev::Frame {
                number,
                ts: frame.ts,
                link: frame.link,
                data: frame.data.to_vec(),
                orig_len: frame.orig_len,
            }
        }
        Ok(Next::Tick(ts)) => Ev::Tick(ts),
        Ok(Next::End) => Ev::End,
        Err(e) => panic!("reading the live source: {e}"),
    }
}

/// Reads until `done` says so, the source ends, or `limit` passes.
fn collect(src: &mut LiveSource, limit: Duration, mut done: impl FnMut(&[Ev]) -> bool) -> Vec<Ev> {
    let start = Instant::now();
    let mut evs = Vec::new();
    while start.elapsed() < limit && !done(&evs) {
        let ev = next_ev(src);
        let end = matches!(ev, Ev::End);
        evs.push(ev);
        if end {
            break;
        }
    }
    evs
}

fn now() -> Timestamp {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    Timestamp(d.as_nanos() as i64)
}

fn assert_recent(ts: Timestamp, what: &str) {
    let diff = (now().0 - ts.0).abs();
    assert!(
        diff < 5_000_000_000,
        "{what} timestamp {ts:?} is {:.3} s away from the wall clock",
        diff as f64 / 1e9
    );
}

/// TCP flags and payload of an IPv4 TCP frame of the link types a live capture on Linux gives.
fn tcp_of(link: LinkType, data: &[u8]) -> Option<(u8, &[u8])> {
    let (ethertype_at, ip_at) = match link {
        LinkType::ETHERNET => (12, 14),
        LinkType::LINUX_SLL => (14, 16),
        LinkType::LINUX_SLL2 => (0, 20),
        _ => panic!("unexpected link type {link}"),
    };
    if data.get(ethertype_at..ethertype_at + 2)? != [0x08, 0x00] {
        return None;
    }
    let ip = data.get(ip_at..)?;
    if ip.first()? >> 4 != 4 || *ip.get(9)? != 6 {
        return None;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    let tcp = ip.get(ihl..total)?;
    let doff = usize::from(tcp.get(12)? >> 4) * 4;
    Some((*tcp.get(13)?, tcp.get(doff..)?))
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;

/// Whether the frames hold the SYN, the request and a FIN from each side.
fn conversation_seen(evs: &[Ev]) -> bool {
    let (mut syn, mut request, mut fins) = (false, false, 0);
    for ev in evs {
        if let Ev::Frame { link, data, .. } = ev {
            if let Some((flags, payload)) = tcp_of(*link, data) {
                syn |= flags & SYN != 0;
                request |= payload == REQUEST;
                fins += usize::from(flags & FIN != 0);
            }
        }
    }
    syn && request && fins >= 2
}

fn frames(evs: &[Ev]) -> usize {
    evs.iter().filter(|e| matches!(e, Ev::Frame { .. })).count()
}

/// A listener on a free loopback port; its port goes into the filter before any traffic.
fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// One HTTP-looking exchange over a fresh connection, after `delay`; both sides close.
fn conversation(listener: TcpListener, delay: Duration) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            assert_eq!(got, REQUEST);
            s.write_all(RESPONSE).unwrap();
        });
        thread::sleep(delay);
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(REQUEST).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        assert_eq!(got, RESPONSE);
        server.join().unwrap();
    })
}

#[test]
fn frames_on_lo_are_numbered_and_timed() {
    let (l, port) = listener();
    let mut src = open(lo(&format!("tcp port {port}")));
    assert_eq!(src.link(), LinkType::ETHERNET, "lo is Ethernet to libpcap");
    assert!(
        src.nanosecond_timestamps(),
        "libpcap on Linux gives nanoseconds"
    );
    // Some ticks first, so that frames arriving after ticks are checked against them.
    let talk = conversation(l, Duration::from_millis(350));
    let evs = collect(&mut src, Duration::from_secs(5), conversation_seen);
    talk.join().unwrap();

    assert!(
        conversation_seen(&evs),
        "SYN, request, FINs not all seen: {evs:?}"
    );
    assert!(frames(&evs) >= 6, "only {} frames", frames(&evs));
    let mut expected = 1;
    let mut last_tick: Option<Timestamp> = None;
    let mut last_frame: Option<Timestamp> = None;
    let mut ticks = 0;
    for ev in &evs {
        match ev {
            Ev::Frame {
                number,
                ts,
                link,
                data,
                orig_len,
            } => {
                assert_eq!(*number, expected, "frames are numbered 1, 2, 3...");
                expected += 1;
                assert_eq!(*link, LinkType::ETHERNET);
                assert_eq!(*orig_len as usize, data.len(), "small frames are whole");
                assert_recent(*ts, "frame");
                if let Some(t) = last_tick {
                    assert!(
                        *ts >= t,
                        "a frame ({ts:?}) is older than the tick before it ({t:?})"
                    );
                }
                last_frame = Some(*ts);
            }
            Ev::Tick(ts) => {
                ticks += 1;
                assert_recent(*ts, "tick");
                assert!(last_tick.is_none_or(|t| *ts >= t), "ticks went backwards");
                assert!(
                    last_frame.is_none_or(|t| *ts >= t),
                    "a tick went behind a frame"
                );
                last_tick = Some(*ts);
            }
            Ev::End => panic!("the source ended by itself"),
        }
    }
    assert!(ticks >= 1, "no tick in the 350 ms before the connection");
    assert_eq!(src.frames(), expected - 1);
    let stats = src.capture_stats().expect("libpcap's counters");
    assert!(
        stats.received >= expected - 1,
        "libpcap counted {} packets, {} were read",
        stats.received,
        expected - 1
    );
    assert_eq!(stats.dropped_kernel, 0);
}

#[test]
fn quiet_link_ticks_forward() {
    let mut src = open(lo("tcp port 1"));
    let start = Instant::now();
    let evs = collect(&mut src, Duration::from_secs(1), |_| false);
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_millis(1300), "took {elapsed:?}");
    let ticks: Vec<Timestamp> = evs
        .iter()
        .map(|e| match e {
            Ev::Tick(ts) => *ts,
            other => panic!("expected only ticks on port 1, got {other:?}"),
        })
        .collect();
    assert!(
        ticks.len() >= 3,
        "{} ticks in 1 s with tick = 100 ms",
        ticks.len()
    );
    for w in ticks.windows(2) {
        assert!(w[1] >= w[0], "ticks went backwards: {w:?}");
    }
    for t in &ticks {
        assert_recent(*t, "tick");
    }
    // Capture time advances with the wall clock (within the ticks' spacing).
    let span = ticks[ticks.len() - 1].millis_since(ticks[0]);
    assert!(span > 150.0, "ticks over ~1 s span only {span} ms");
}

#[test]
fn stop_flag_ends_and_stays_ended() {
    let mut opts = lo("tcp port 1");
    let stop = Arc::new(AtomicBool::new(false));
    opts.stop = stop.clone();
    let mut src = open(opts);
    assert!(matches!(next_ev(&mut src), Ev::Tick(_)));
    stop.store(true, Ordering::Relaxed);
    assert!(matches!(next_ev(&mut src), Ev::End));
    assert!(matches!(next_ev(&mut src), Ev::End));
    assert!(
        src.capture_stats().is_some(),
        "counters still readable after End"
    );

    // Set from another thread while the source waits on a quiet link (as a signal handler
    // does): the wait is cut short within one timeout.
    let mut opts = lo("tcp port 1");
    opts.tick = Duration::from_secs(3600);
    let stop = opts.stop.clone();
    let mut src = open(opts);
    let start = Instant::now();
    let setter = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
    });
    assert!(matches!(next_ev(&mut src), Ev::End));
    setter.join().unwrap();
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(800),
        "End came after {took:?}"
    );
}

#[test]
fn duration_ends_the_capture() {
    let mut opts = lo("tcp port 1");
    opts.duration = Some(Duration::from_millis(400));
    let mut src = open(opts);
    let start = Instant::now();
    let evs = collect(&mut src, Duration::from_secs(3), |_| false);
    let took = start.elapsed();
    assert!(matches!(evs.last(), Some(Ev::End)), "{evs:?}");
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_millis(1000),
        "End came after {took:?}"
    );
    assert!(evs[..evs.len() - 1]
        .iter()
        .all(|e| matches!(e, Ev::Tick(_))));
    assert!(matches!(next_ev(&mut src), Ev::End));
}

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn written_file_holds_exactly_the_frames_yielded() {
    let (l, port) = listener();
    let tmp = TempFile(
        std::env::temp_dir().join(format!("connscope-live-{}-{port}.pcap", std::process::id())),
    );
    let mut opts = lo(&format!("tcp port {port}"));
    opts.write = Some(tmp.0.clone());
    let stop = opts.stop.clone();
    let mut src = open(opts);
    let talk = conversation(l, Duration::from_millis(100));
    let mut evs = collect(&mut src, Duration::from_secs(5), conversation_seen);
    talk.join().unwrap();
    assert!(conversation_seen(&evs), "{evs:?}");
    // Whatever else is in flight (the last ACK) is read before the End.
    evs.extend(collect(&mut src, Duration::from_millis(300), |_| false));
    stop.store(true, Ordering::Relaxed);
    evs.extend(collect(&mut src, Duration::from_secs(1), |e| {
        matches!(e.last(), Some(Ev::End))
    }));
    assert!(matches!(evs.last(), Some(Ev::End)));

    let yielded: Vec<(Timestamp, LinkType, &[u8], u32)> = evs
        .iter()
        .filter_map(|e| match e {
            Ev::Frame {
                ts,
                link,
                data,
                orig_len,
                ..
            } => Some((*ts, *link, data.as_slice(), *orig_len)),
            _ => None,
        })
        .collect();
    let mut file = Source::open(&tmp.0).unwrap_or_else(|e| panic!("reading the -w file: {e}"));
    let mut written = Vec::new();
    while let Some(f) = file.next_frame().unwrap() {
        written.push((f.ts, f.link, f.data.to_vec(), f.orig_len));
    }
    assert!(file.damage().is_none(), "{:?}", file.damage());
    assert_eq!(
        written.len(),
        yielded.len(),
        "frames in the file vs yielded"
    );
    for (i, (w, y)) in written.iter().zip(&yielded).enumerate() {
        assert_eq!((w.0, w.1, w.2.as_slice(), w.3), *y, "frame {}", i + 1);
    }
}

#[test]
fn any_interface_gives_cooked_frames() {
    let (l, port) = listener();
    let mut opts = lo(&format!("tcp port {port}"));
    opts.interface = Some("any".into());
    let mut src = open(opts);
    eprintln!("any: link type {}", src.link());
    assert!(
        src.link() == LinkType::LINUX_SLL2 || src.link() == LinkType::LINUX_SLL,
        "{}",
        src.link()
    );
    let talk = conversation(l, Duration::from_millis(100));
    let evs = collect(&mut src, Duration::from_secs(5), conversation_seen);
    talk.join().unwrap();
    assert!(conversation_seen(&evs), "{evs:?}");
}

#[test]
fn default_interface_opens() {
    let mut src = open(LiveOptions {
        filter: Some("tcp port 1".into()),
        tick: Duration::from_millis(50),
        ..LiveOptions::default()
    });
    assert!(!src.interface().is_empty());
    assert!(src.link().is_supported(), "{}", src.link());
    eprintln!("default interface: {} ({})", src.interface(), src.link());
    assert!(matches!(next_ev(&mut src), Ev::Tick(_)));
}

#[test]
fn unknown_interface_lists_the_real_ones() {
    let opts = LiveOptions {
        interface: Some("nosuchif0".into()),
        ..LiveOptions::default()
    };
    match LiveSource::open(opts) {
        Err(e @ CaptureError::NoSuchInterface { .. }) => {
            let CaptureError::NoSuchInterface {
                interface,
                available,
            } = &e
            else {
                unreachable!()
            };
            assert_eq!(interface, "nosuchif0");
            assert!(available.iter().any(|n| n == "lo"), "{available:?}");
            let msg = e.to_string();
            assert!(msg.contains("nosuchif0") && msg.contains("lo"), "{msg}");
            assert!(!msg.contains('\n'), "one line: {msg}");
        }
        Err(e) => panic!("expected NoSuchInterface, got {e:?}"),
        Ok(_) => panic!("nosuchif0 opened"),
    }
}

#[test]
fn bad_filter_is_a_filter_error() {
    match LiveSource::open(lo("tcp port eighty and (")) {
        Err(CaptureError::Filter { expr, msg }) => {
            assert_eq!(expr, "tcp port eighty and (");
            assert!(!msg.is_empty());
        }
        Err(e) => panic!("expected a filter error, got {e:?}"),
        Ok(_) => panic!("a bad filter was accepted"),
    }
}

#[test]
fn unwritable_savefile_is_an_io_error() {
    let mut opts = lo("tcp port 1");
    opts.write = Some("/nonexistent-dir/x.pcap".into());
    match LiveSource::open(opts) {
        Err(CaptureError::Io { path, .. }) => {
            assert_eq!(path, PathBuf::from("/nonexistent-dir/x.pcap"))
        }
        Err(e) => panic!("expected an I/O error, got {e:?}"),
        Ok(_) => panic!("wrote into a directory that does not exist"),
    }
}

const PROBE_ENV: &str = "CONNSCOPE_LIVE_PROBE";

/// Run by `unprivileged_user_is_told_about_setcap` in a child process without privileges;
/// does nothing when run any other way.
#[test]
#[ignore = "run by unprivileged_user_is_told_about_setcap"]
fn unprivileged_probe() {
    let Ok(interface) = std::env::var(PROBE_ENV) else {
        return;
    };
    match LiveSource::open(LiveOptions {
        interface: Some(interface),
        ..LiveOptions::default()
    }) {
        Ok(_) => println!("PROBE-OPENED"),
        Err(e) => {
            let kind = match &e {
                CaptureError::Permission { .. } => "Permission",
                CaptureError::NoSuchInterface { .. } => "NoSuchInterface",
                CaptureError::Live { .. } => "Live",
                _ => "other",
            };
            println!("PROBE-KIND: {kind}");
            println!("PROBE-ERROR: {e}");
        }
    }
}

#[test]
fn unprivileged_user_is_told_about_setcap() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(&exe)
        .args([
            "--exact",
            "capture::live_tests::unprivileged_probe",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PROBE_ENV, "lo")
        .output()
        .unwrap_or_else(|e| panic!("running setpriv (util-linux): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the probe failed ({}): {stdout}{stderr}",
        out.status
    );
    assert!(
        !stdout.contains("panicked") && !stderr.contains("panicked"),
        "{stdout}{stderr}"
    );
    assert!(
        stdout.contains("PROBE-KIND: Permission"),
        "{stdout}{stderr}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("PROBE-ERROR: "))
        .unwrap_or_else(|| panic!("no error line: {stdout}"));
    assert!(line.contains("setcap"), "{line}");
    assert!(line.contains("lo"), "{line}");
    eprintln!("{line}");
}
