//! Live capture from a network interface through libpcap, as a [`FrameSource`].
//!
//! The handle is opened with immediate mode off, so on Linux (TPACKET_V3) the kernel fills
//! blocks of packets and hands a block over when it is full or when `timeout_ms` has passed
//! since it was opened. That timeout does not fire on an idle link: libpcap then blocks in
//! `poll` forever. So the handle is put in non-blocking mode and this module waits on its
//! selectable descriptor itself, with a timeout, which lets it notice `stop`, the end of
//! `duration` and the moments to yield an idle [`Next::Tick`].
//!
//! Time: frames carry libpcap's timestamps (nanoseconds when libpcap can give them). A tick
//! is the one place where the wall clock becomes capture time: the last frame's timestamp
//! plus the monotonic time elapsed since it was read (the wall clock before any frame),
//! minus the longest time a packet can wait in a kernel block before it is handed over, so
//! that a frame still in the kernel when a tick is yielded is not older than the tick. Ticks
//! never go backwards and never go behind the last frame.

use std::ffi::{c_int, c_short};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pcap::{Active, Capture, Device, Linktype, Precision, Savefile};

use super::source::{CaptureStats, FrameSource, Next};
use super::{CaptureError, Frame, LinkType};
use crate::time::Timestamp;

/// How to open a live capture.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Interface name (`eth0`, `lo`, `any`); `None` takes the one libpcap picks.
    pub interface: Option<String>,
    /// BPF expression, compiled by libpcap and run in the kernel.
    pub filter: Option<String>,
    /// Bytes kept of each packet (default 262144, libpcap's maximum).
    pub snaplen: i32,
    /// Kernel buffer for packets not read yet, in bytes (default 32 MiB).
    pub buffer_size: i32,
    /// libpcap's read timeout: how long the kernel may hold packets before handing them over,
    /// and how long one wait lasts before `stop` is looked at again (default 100 ms).
    pub timeout_ms: i32,
    /// Also write every captured frame to this pcap file (`-w`).
    pub write: Option<PathBuf>,
    /// Set by the caller (a signal handler) to end the capture; checked on every call.
    pub stop: Arc<AtomicBool>,
    /// End the capture this long after it was opened.
    pub duration: Option<Duration>,
    /// On a quiet link, yield a tick after this long without a frame or a tick (default 250 ms).
    pub tick: Duration,
    /// Promiscuous mode (default off).
    pub promiscuous: bool,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            interface: None,
            filter: None,
            snaplen: 262_144,
            buffer_size: 32 << 20,
            timeout_ms: 100,
            write: None,
            stop: Arc::new(AtomicBool::new(false)),
            duration: None,
            tick: Duration::from_millis(250),
            promiscuous: false,
        }
    }
}

/// A live capture on one interface (or `any`).
pub struct LiveSource {
    interface: String,
    cap: Capture<Active>,
    fd: c_int,
    link: LinkType,
    /// libpcap gives nanoseconds in `tv_usec` (else microseconds).
    nanos: bool,
    savefile: Option<Savefile>,
    write_path: Option<PathBuf>,
    stop: Arc<AtomicBool>,
    deadline: Option<Instant>,
    tick: Duration,
    wait_ms: c_int,
    /// Longest time a packet may wait in a kernel block before it is handed over.
    delivery_lag_ns: i64,
    number: u64,
    /// Timestamp of the last frame and when it was read.
    last_frame: Option<(Timestamp, Instant)>,
    last_tick: Option<Timestamp>,
    /// When the last frame or tick was yielded (or the capture opened): ticks are due `tick`
    /// after it.
    last_activity: Instant,
    /// `poll` reported an error condition on the descriptor and libpcap then had nothing.
    socket_trouble: bool,
    done: bool,
    stats: StatsTotal,
}

impl std::fmt::Debug for LiveSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSource")
            .field("interface", &self.interface)
            .field("link", &self.link)
            .field("nanos", &self.nanos)
            .field("frames", &self.number)
            .field("write", &self.write_path)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// libpcap's counters are 32 bits and wrap; these are their running 64-bit totals.
#[derive(Default)]
struct StatsTotal {
    raw: [u32; 3],
    total: [u64; 3],
}

impl StatsTotal {
    fn update(&mut self, raw: [u32; 3]) -> CaptureStats {
        for ((last, total), now) in self.raw.iter_mut().zip(&mut self.total).zip(raw) {
            *total += u64::from(now.wrapping_sub(*last));
            *last = now;
        }
        CaptureStats {
            received: self.total[0],
            dropped_kernel: self.total[1],
            dropped_interface: self.total[2],
        }
    }
}

extern "C" {
    // libpcap >= 1.5 (the `pcap` crate links libpcap). Not wrapped by the crate.
    fn pcap_get_tstamp_precision(p: *mut std::ffi::c_void) -> c_int;
    // libpcap >= 0.8 on Unix; -1 when the handle has no descriptor to wait on. (The crate's
    // `AsRawFd` asserts instead.)
    fn pcap_get_selectable_fd(p: *mut std::ffi::c_void) -> c_int;
    // POSIX.
    fn poll(fds: *mut PollFd, nfds: NfdsT, timeout: c_int) -> c_int;
}

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: c_short,
    revents: c_short,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
type NfdsT = std::ffi::c_ulong;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
type NfdsT = std::ffi::c_uint;

const POLLIN: c_short = 0x1;
const POLLERR: c_short = 0x8;
const POLLHUP: c_short = 0x10;
const POLLNVAL: c_short = 0x20;
const PCAP_TSTAMP_PRECISION_NANO: c_int = 1;

impl LiveSource {
    /// Opens and activates the capture; the interface, filter and `-w` file are all checked
    /// here, so that a mistake is reported before anything runs.
    pub fn open(opts: LiveOptions) -> Result<LiveSource, CaptureError> {
        let interface = match &opts.interface {
            Some(name) => name.clone(),
            None => default_interface()?,
        };
        let inactive = Capture::from_device(interface.as_str())
            .map_err(|e| open_error(&interface, &e))?
            .snaplen(opts.snaplen)
            .promisc(opts.promiscuous)
            .timeout(opts.timeout_ms)
            .buffer_size(opts.buffer_size)
            .immediate_mode(false)
            .precision(Precision::Nano);
        let mut cap = inactive.open().map_err(|e| open_error(&interface, &e))?;

        // Linux's `any` (and other cooked interfaces) speak LINUX_SLL by default; SLL2 also
        // carries the interface index and is what tcpdump picks. Either decodes.
        if cap.get_datalink().0 == 113 {
            let sll2 = Linktype(276);
            if cap.list_datalinks().is_ok_and(|l| l.contains(&sll2)) {
                let _ = cap.set_datalink(sll2);
            }
        }
        let link = LinkType(u32::try_from(cap.get_datalink().0).unwrap_or(u32::MAX));
        // Refused here, as `Source::open` refuses such a file, rather than by every frame.
        if !link.is_supported() {
            return Err(CaptureError::UnsupportedLinkType {
                path: interface.into(),
                link,
            });
        }

        if let Some(expr) = opts.filter.as_deref().filter(|e| !e.trim().is_empty()) {
            cap.filter(expr, true).map_err(|e| CaptureError::Filter {
                expr: expr.to_string(),
                msg: format!("{} (on {interface}, link type {link})", message(&e)),
            })?;
        }

        // SAFETY: `cap` is an activated handle; the call only reads its settings.
        let nanos =
            unsafe { pcap_get_tstamp_precision(cap.as_ptr().cast()) } == PCAP_TSTAMP_PRECISION_NANO;

        // After the datalink is set: the file header records the handle's link type,
        // snaplen and timestamp precision.
        let savefile = match &opts.write {
            Some(path) => Some(open_savefile(&cap, path)?),
            None => None,
        };

        let cap = cap.setnonblock().map_err(|e| live_error(&interface, &e))?;
        // SAFETY: `cap` is an activated handle.
        let fd = unsafe { pcap_get_selectable_fd(cap.as_ptr().cast()) };
        if fd < 0 {
            return Err(CaptureError::Live {
                interface,
                message: "libpcap gives no descriptor to wait on for this interface".into(),
            });
        }

        let timeout_ms = if opts.timeout_ms > 0 {
            opts.timeout_ms
        } else {
            100
        };
        let now = Instant::now();
        Ok(LiveSource {
            interface,
            cap,
            fd,
            link,
            nanos,
            savefile,
            write_path: opts.write,
            stop: opts.stop,
            deadline: opts.duration.and_then(|d| now.checked_add(d)),
            tick: opts.tick.max(Duration::from_millis(1)),
            wait_ms: timeout_ms,
            // A block is retired at most one timeout after it was opened; twice that allows
            // for the timer's phase and for scheduling.
            delivery_lag_ns: i64::from(timeout_ms) * 2_000_000,
            number: 0,
            last_frame: None,
            last_tick: None,
            last_activity: now,
            socket_trouble: false,
            done: false,
            stats: StatsTotal::default(),
        })
    }

    /// The interface being captured (the one libpcap picked, when none was named).
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The link-layer header type of the frames.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// Whether libpcap gives nanosecond timestamps (else microseconds).
    pub fn nanosecond_timestamps(&self) -> bool {
        self.nanos
    }

    /// Frames yielded so far.
    pub fn frames(&self) -> u64 {
        self.number
    }

    fn should_end(&self) -> bool {
        self.done
            || self.stop.load(Ordering::Relaxed)
            || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Ends the capture: the `-w` file is flushed and closed, so it is complete.
    fn finish(&mut self) -> Result<Next<'static>, CaptureError> {
        self.done = true;
        if let Some(mut file) = self.savefile.take() {
            let flushed = file.flush();
            drop(file);
            if let Err(e) = flushed {
                return Err(self.write_error(&e));
            }
        }
        Ok(Next::End)
    }

    fn write_error(&self, e: &pcap::Error) -> CaptureError {
        CaptureError::Io {
            path: self.write_path.clone().unwrap_or_default(),
            source: std::io::Error::other(message(e)),
        }
    }

    /// Capture time now, as estimated from the last frame and the monotonic clock.
    fn tick_time(&self) -> Timestamp {
        let estimate = match self.last_frame {
            Some((ts, read_at)) => ts.0.saturating_add(nanos_of(read_at.elapsed())),
            None => wall_clock().0,
        }
        .saturating_sub(self.delivery_lag_ns);
        let floor = self
            .last_tick
            .into_iter()
            .chain(self.last_frame.map(|(ts, _)| ts))
            .max()
            .unwrap_or(Timestamp(i64::MIN));
        Timestamp(estimate).max(floor)
    }

    /// How long until a tick is due (zero: due now).
    fn until_tick(&self) -> Duration {
        self.tick.saturating_sub(self.last_activity.elapsed())
    }

    /// Waits until the descriptor is readable or `ms` passed. Interruption by a signal is a
    /// normal return (the caller looks at `stop` again).
    fn wait(&mut self, ms: c_int) -> Result<(), CaptureError> {
        let mut pfd = PollFd {
            fd: self.fd,
            events: POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, for the duration of the call.
        let n = unsafe { poll(&mut pfd, 1, ms) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                return Ok(());
            }
            self.done = true;
            return Err(CaptureError::Live {
                interface: self.interface.clone(),
                message: format!("waiting for packets: {err}"),
            });
        }
        if n > 0 && pfd.revents & (POLLERR | POLLHUP | POLLNVAL) != 0 {
            // libpcap reads the socket's error on its next call and reports it; if it does
            // not, and the condition stays, give up rather than spin.
            if self.socket_trouble {
                self.done = true;
                return Err(CaptureError::Live {
                    interface: self.interface.clone(),
                    message: "the capture socket reported an error (interface down?)".into(),
                });
            }
            self.socket_trouble = true;
        }
        Ok(())
    }
}

impl FrameSource for LiveSource {
    fn next(&mut self) -> Result<Next<'_>, CaptureError> {
        loop {
            if self.should_end() {
                return self.finish();
            }
            // SAFETY: a raw pointer lets the packet borrowed from the capture be returned
            // from inside the loop; on every path that goes round the loop again the
            // packet is no longer used, so no two borrows of `self.cap` are ever alive at
            // once. This is the case the borrow checker cannot yet see (NLL "problem case
            // #3", accepted by Polonius).
            let cap: *mut Capture<Active> = &mut self.cap;
            match unsafe { &mut *cap }.next_packet() {
                Ok(packet) => {
                    self.socket_trouble = false;
                    let hdr = *packet.header;
                    let ts = timestamp(&hdr, self.nanos);
                    if let Some(file) = self.savefile.as_mut() {
                        file.write(&packet);
                    }
                    let now = Instant::now();
                    self.number += 1;
                    self.last_frame = Some((ts, now));
                    self.last_activity = now;
                    return Ok(Next::Frame {
                        number: self.number,
                        frame: Frame {
                            ts,
                            link: self.link,
                            data: packet.data,
                            orig_len: hdr.len,
                        },
                        map: None,
                    });
                }
                Err(pcap::Error::TimeoutExpired) => {}
                // Some libpcap modules (nfqueue) report a non-blocking read that found
                // nothing as an error, EAGAIN, rather than as no packet.
                Err(pcap::Error::PcapError(m))
                    if m.contains("Resource temporarily unavailable") => {}
                Err(pcap::Error::NoMorePackets) => return self.finish(),
                Err(e) => {
                    self.done = true;
                    return Err(live_error(&self.interface, &e));
                }
            }
            // Nothing buffered.
            let until_tick = self.until_tick();
            if until_tick.is_zero() {
                let ts = self.tick_time();
                self.last_tick = Some(ts);
                self.last_activity = Instant::now();
                // A quiet moment: make what was written so far readable.
                if let Some(file) = self.savefile.as_mut() {
                    if let Err(e) = file.flush() {
                        let err = self.write_error(&e);
                        self.done = true;
                        return Err(err);
                    }
                }
                return Ok(Next::Tick(ts));
            }
            let mut wait = until_tick;
            if let Some(d) = self.deadline {
                wait = wait.min(d.saturating_duration_since(Instant::now()));
            }
            let ms = c_int::try_from(wait.as_millis()).unwrap_or(c_int::MAX);
            self.wait(ms.clamp(1, self.wait_ms))?;
        }
    }

    fn capture_stats(&mut self) -> Option<CaptureStats> {
        let s = self.cap.stats().ok()?;
        Some(self.stats.update([s.received, s.dropped, s.if_dropped]))
    }
}

/// The interface libpcap picks when none is named (the first one `pcap_findalldevs` lists).
fn default_interface() -> Result<String, CaptureError> {
    match Device::lookup() {
        Ok(Some(dev)) => Ok(dev.name),
        Ok(None) => Err(CaptureError::Live {
            interface: "(default)".into(),
            message: "libpcap found no interface to capture on; name one with -i".into(),
        }),
        Err(e) => Err(CaptureError::Live {
            interface: "(default)".into(),
            message: format!("looking for an interface: {}", message(&e)),
        }),
    }
}

fn open_savefile(cap: &Capture<Active>, path: &Path) -> Result<Savefile, CaptureError> {
    let io = |msg: String| CaptureError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(msg),
    };
    // The crate's `savefile` panics on a path that is not UTF-8; libpcap takes a C string.
    if path.to_str().is_none() {
        return Err(io("the -w path must be valid UTF-8".into()));
    }
    cap.savefile(path).map_err(|e| io(message(&e)))
}

/// libpcap's own message, without the crate's "libpcap error: " prefix.
fn message(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(s) if !s.is_empty() => s.clone(),
        other => other.to_string(),
    }
}

fn live_error(interface: &str, e: &pcap::Error) -> CaptureError {
    CaptureError::Live {
        interface: interface.to_string(),
        message: message(e),
    }
}

/// Sorts a failure to create or activate the handle into the errors people can act on.
fn open_error(interface: &str, e: &pcap::Error) -> CaptureError {
    let msg = message(e);
    let lower = msg.to_ascii_lowercase();
    if lower.contains("permission") || lower.contains("operation not permitted") {
        return CaptureError::Permission {
            interface: interface.to_string(),
            message: msg,
        };
    }
    let listed = Device::list()
        .ok()
        .map(|l| l.into_iter().map(|d| d.name).collect::<Vec<String>>());
    let unknown = lower.contains("no such device")
        || lower.contains("siocgifhwaddr")
        || lower.contains("doesn't exist")
        || lower.contains("does not exist");
    // An interface libpcap does not list at all is unknown, whatever the message says.
    let unlisted = listed
        .as_ref()
        .is_some_and(|l| !l.iter().any(|n| n == interface));
    if unknown || unlisted {
        return CaptureError::NoSuchInterface {
            interface: interface.to_string(),
            available: listed.unwrap_or_default(),
        };
    }
    CaptureError::Live {
        interface: interface.to_string(),
        message: msg,
    }
}

/// A packet header's time as capture time; `tv_usec` holds nanoseconds when `nanos`.
// `time_t` and `suseconds_t` are i64 here but narrower on some 32-bit platforms.
#[allow(clippy::unnecessary_cast)]
fn timestamp(hdr: &pcap::PacketHeader, nanos: bool) -> Timestamp {
    let frac = hdr.ts.tv_usec as i64;
    let frac = if nanos {
        frac
    } else {
        frac.saturating_mul(1000)
    };
    Timestamp(
        (hdr.ts.tv_sec as i64)
            .saturating_mul(1_000_000_000)
            .saturating_add(frac),
    )
}

fn nanos_of(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The wall clock as capture time (nanoseconds since the Unix epoch).
fn wall_clock() -> Timestamp {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => Timestamp(nanos_of(d)),
        Err(e) => Timestamp(nanos_of(e.duration()).saturating_neg()),
    }
}
