//! Opens a live capture the way `connscope live` does and reports what it yields, until the
//! time runs out: a check of the capture layer on its own, before the engine is attached.
//!
//!     cargo run --release --example live_probe -- IFACE [FILTER] [SECS] [WRITE.pcap]
//!
//! IFACE `-` takes libpcap's default interface. Prints one line when the capture is open and
//! a summary at the end; an error prints its message and exits 2.

use std::process::ExitCode;
use std::time::Duration;

use connscope::capture::{FrameSource, LiveOptions, LiveSource, Next};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(interface) = args.first() else {
        eprintln!("usage: live_probe IFACE [FILTER] [SECS] [WRITE.pcap]");
        return ExitCode::from(2);
    };
    let secs: f64 = match args.get(2).map(|s| s.parse()) {
        None => 5.0,
        Some(Ok(s)) => s,
        Some(Err(_)) => {
            eprintln!("live_probe: SECS must be a number");
            return ExitCode::from(2);
        }
    };
    let opts = LiveOptions {
        interface: (interface != "-").then(|| interface.clone()),
        filter: args.get(1).cloned(),
        duration: Some(Duration::from_secs_f64(secs)),
        write: args.get(3).map(Into::into),
        ..LiveOptions::default()
    };
    let mut src = match LiveSource::open(opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("live_probe: {e}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "listening on {}, link type {}, {} timestamps",
        src.interface(),
        src.link(),
        if src.nanosecond_timestamps() {
            "nanosecond"
        } else {
            "microsecond"
        }
    );
    let (mut frames, mut bytes, mut ticks) = (0u64, 0u64, 0u64);
    let (mut first, mut last) = (None, None);
    loop {
        match src.next() {
            Ok(Next::Frame { frame, .. }) => {
                frames += 1;
                bytes += frame.data.len() as u64;
                first.get_or_insert(frame.ts);
                last = Some(frame.ts);
            }
            Ok(Next::Tick(_)) => ticks += 1,
            Ok(Next::End) => break,
            Err(e) => {
                eprintln!("live_probe: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let span = match (first, last) {
        (Some(a), Some(b)) => b.millis_since(a) / 1e3,
        _ => 0.0,
    };
    println!("frames {frames} bytes {bytes} ticks {ticks} span {span:.3} s");
    if let Some(s) = src.capture_stats() {
        println!(
            "libpcap: received {} dropped_kernel {} dropped_interface {}",
            s.received, s.dropped_kernel, s.dropped_interface
        );
    }
    ExitCode::SUCCESS
}
