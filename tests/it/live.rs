//! `connscope live` on loopback, against nginx's own log: the test starts nginx itself (a
//! private configuration and port, logging `$connection_requests` per request), captures
//! with `connscope live -i lo` while real clients (curl, ab, python) make keep-alive and
//! non-keep-alive traffic, and checks the per-connection request counts against the log,
//! the interval summary lines, and that `analyze` of the packets written with `-w` says the
//! same as the live run. Needs root (CI runs as root) and nginx, ab and curl (`make test`
//! installs them); without them the test fails rather than skip.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::ground_truth::parse_log;

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("connscope-live-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx on 127.0.0.1:port with the captures' log format; stopped on drop.
struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    fn start(dir: &Path, port: u16) -> Nginx {
        let conf = format!(
            r#"worker_processes 1;
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 512; }}
http {{
    log_format connscope '$remote_addr $remote_port $server_addr $server_port $connection $connection_requests $msec "$request" $status $body_bytes_sent "$http_connection"';
    access_log {d}/access.log connscope;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_timeout 30s;
    keepalive_requests 1000;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok\n"; }}
    }}
}}
"#,
            d = dir.display()
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&path)
            .arg("-p")
            .arg(dir)
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx (Debian nginx-light; make test installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// Requests per connection (by client port), from nginx's own log.
    fn requests_per_client_port(&self) -> BTreeMap<u16, u64> {
        let log = std::fs::read_to_string(self.dir.join("access.log")).unwrap();
        let mut per = BTreeMap::new();
        for l in parse_log(&log) {
            let n = per.entry(l.client_port).or_insert(0);
            *n = (*n).max(l.connection_requests);
        }
        per
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("client");
    assert!(out.status.success(), "{cmd:?}: {out:?}");
}

/// Keep-alive and non-keep-alive traffic from real clients.
fn traffic(port: u16) {
    let url = format!("http://127.0.0.1:{port}/");
    // curl: several URLs on one command line share one connection.
    let mut curl = Command::new("curl");
    curl.arg("-s");
    for i in 0..5 {
        curl.arg("-o").arg("/dev/null").arg(format!("{url}k{i}"));
    }
    run(&mut curl);
    run(Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-H", "Connection: close"])
        .arg(&url));
    // ab with and without keep-alive.
    run(Command::new("ab")
        .args(["-q", "-k", "-n", "120", "-c", "3"])
        .arg(&url));
    run(Command::new("ab")
        .args(["-q", "-n", "30", "-c", "2"])
        .arg(&url));
    // python: HTTP/1.1 keep-alive with a pause, then HTTP/1.0.
    let script = format!(
        r#"
import http.client, time
c = http.client.HTTPConnection("127.0.0.1", {port})
for i in range(4):
    c.request("GET", "/py%d" % i); c.getresponse().read()
    time.sleep(0.2)
c.close()
c = http.client.HTTPConnection("127.0.0.1", {port})
c._http_vsn = 10; c._http_vsn_str = "HTTP/1.0"
c.request("GET", "/old"); c.getresponse().read(); c.close()
"#
    );
    run(Command::new("python3").arg("-c").arg(script));
}

/// Runs connscope live on lo for `secs`, driving `traffic` once it is capturing; returns
/// its jsonl lines.
fn live_run(port: u16, secs: f64, write: &Path, traffic: impl FnOnce()) -> Vec<Value> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_connscope"))
        .args(["live", "-i", "lo", "--format", "jsonl", "--interval", "0.5"])
        .arg("--filter")
        .arg(format!("tcp port {port}"))
        .arg("--duration")
        .arg(secs.to_string())
        .arg("-w")
        .arg(write)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
            if v["type"] == "summary" {
                let _ = tx.send(());
            }
            lines.push(v);
        }
        lines
    });
    // The first summary line says the capture is running.
    rx.recv_timeout(Duration::from_secs(10))
        .expect("a summary line within 10 s");
    traffic();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "connscope live: {status} {err}");
    reader.join().unwrap()
}

fn client_port(endpoint: &str) -> u16 {
    endpoint[endpoint.rfind(':').unwrap() + 1..]
        .parse()
        .unwrap()
}

#[test]
fn live_counts_equal_nginx_log_and_analyze_of_the_written_capture() {
    let dir = tempdir("nginx");
    let port = free_port();
    let nginx = Nginx::start(&dir, port);
    let pcap = dir.join("live.pcap");
    let lines = live_run(port, 6.0, &pcap, || traffic(port));
    let truth = nginx.requests_per_client_port();
    drop(nginx);

    // Per connection: connscope's requests equal nginx's $connection_requests, exactly.
    let conns: Vec<&Value> = lines.iter().filter(|v| v["type"] == "connection").collect();
    let seen: BTreeMap<u16, u64> = conns
        .iter()
        .filter(|c| c["requests"].as_u64().unwrap() > 0)
        .map(|c| {
            (
                client_port(c["client"].as_str().unwrap()),
                c["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(truth.len(), 2 + 3 + 30 + 2, "the clients' connections");
    assert_eq!(seen, truth, "requests per connection (by client port)");
    let total: u64 = truth.values().sum();
    assert_eq!(total, 5 + 1 + 120 + 30 + 4 + 1);

    // A summary line every interval, with running totals that end at the log's count.
    let summaries: Vec<&Value> = lines.iter().filter(|v| v["type"] == "summary").collect();
    assert!(
        summaries.len() >= 9,
        "{} summary lines in 6 s at 0.5 s",
        summaries.len()
    );
    let periodic = &summaries[..summaries.len() - 1];
    for s in &periodic[1..] {
        let secs = s["interval"]["seconds"].as_f64().unwrap();
        assert!((secs - 0.5).abs() < 1e-6, "interval of {secs} s");
    }
    let rps: f64 = periodic
        .iter()
        .map(|s| s["interval"]["requests_per_s"].as_f64().unwrap() * 0.5)
        .sum();
    let last = summaries.last().unwrap();
    assert_eq!(last["requests"].as_u64(), Some(total));
    assert!(
        rps <= total as f64 + 1e-6,
        "interval requests add up to at most the total: {rps}"
    );
    assert!(last["capture"]["received"].as_u64().unwrap() > 0);
    assert_eq!(last["capture"]["dropped_kernel"].as_u64(), Some(0));

    // Live equals offline: the packets written with -w, analyzed, give the same records.
    let out = Command::new(env!("CARGO_BIN_EXE_connscope"))
        .args(["analyze", "--format", "jsonl"])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let offline: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_id = |v: &[Value]| -> BTreeMap<u64, String> {
        v.iter()
            .filter(|c| c["type"] == "connection")
            .map(|c| (c["id"].as_u64().unwrap(), c.to_string()))
            .collect()
    };
    let live_conns = by_id(&lines);
    assert_eq!(
        live_conns,
        by_id(&offline),
        "connection records, live vs offline"
    );
    let off = offline.iter().find(|v| v["type"] == "summary").unwrap();
    for field in [
        "packets",
        "connections",
        "handshakes",
        "requests",
        "responses",
        "reuse_ratio",
        "closed_by",
        "close_reasons",
        "time_wait",
        "time_wait_peak",
        "peak_open_connections",
    ] {
        assert_eq!(last[field], off[field], "summary.{field}, live vs offline");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn live_without_permission_names_the_fix() {
    // The binary, where an unprivileged user can run it.
    let dir = tempdir("perm");
    let bin = dir.join("connscope");
    std::fs::copy(env!("CARGO_BIN_EXE_connscope"), &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(&bin)
        .args(["live", "-i", "lo", "--duration", "1"])
        .output()
        .expect("setpriv (util-linux)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("setcap cap_net_raw,cap_net_admin=eip"),
        "{err}"
    );
    assert!(err.contains("root"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn live_on_an_unknown_interface_lists_the_real_ones() {
    let out = Command::new(env!("CARGO_BIN_EXE_connscope"))
        .args(["live", "-i", "nosuchif0", "--duration", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("nosuchif0") && err.contains("lo"), "{err}");
}
