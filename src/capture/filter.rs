//! BPF capture filters, compiled by libpcap and run with `pcap_offline_filter`.
//!
//! libpcap compiles a filter for one link-layer header type, and a pcapng file may hold
//! interfaces of several, so a [`Filter`] compiles its expression lazily, once per link type
//! it meets.

use pcap::{BpfProgram, Capture, Linktype};

use super::{CaptureError, Frame, LinkType};

/// A BPF filter expression and its compiled programs, one per link type seen.
pub struct Filter {
    expr: String,
    /// An empty expression matches everything without asking libpcap.
    match_all: bool,
    programs: Vec<(LinkType, BpfProgram)>,
    /// Index in `programs` of the last link type used (frames mostly share one).
    last: usize,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("expr", &self.expr)
            .field(
                "compiled_for",
                &self.programs.iter().map(|(l, _)| l.0).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Filter {
    /// A filter for `expr`; nothing is compiled yet.
    pub fn new(expr: &str) -> Self {
        Filter {
            expr: expr.to_string(),
            match_all: expr.trim().is_empty(),
            programs: Vec::new(),
            last: 0,
        }
    }

    /// Compiles the expression for `link` (if not done already); `CaptureError::Filter` if
    /// libpcap rejects it.
    #[cfg(test)]
    pub fn check(&mut self, expr_ok_for: LinkType) -> Result<(), CaptureError> {
        self.program_index(expr_ok_for).map(|_| ())
    }

    /// Whether the frame passes the filter, compiling for its link type on first use.
    pub fn matches(&mut self, frame: &Frame) -> Result<bool, CaptureError> {
        if self.match_all {
            return Ok(true);
        }
        let i = self.program_index(frame.link)?;
        Ok(self.programs[i].1.filter(frame.data))
    }

    fn program_index(&mut self, link: LinkType) -> Result<usize, CaptureError> {
        if self.match_all {
            return Ok(0);
        }
        if let Some((l, _)) = self.programs.get(self.last) {
            if *l == link {
                return Ok(self.last);
            }
        }
        if let Some(i) = self.programs.iter().position(|(l, _)| *l == link) {
            self.last = i;
            return Ok(i);
        }
        let prog = compile(&self.expr, link)?;
        self.programs.push((link, prog));
        self.last = self.programs.len() - 1;
        Ok(self.last)
    }
}

/// The DLT value libpcap's compiler expects for a LINKTYPE value stored in a file. They are
/// equal except for raw IP (LINKTYPE 101, DLT 12, or 14 on OpenBSD) and, on OpenBSD, LOOP.
fn dlt_for(link: LinkType) -> i32 {
    const DLT_RAW: i32 = if cfg!(target_os = "openbsd") { 14 } else { 12 };
    match link.0 {
        12 | 14 | 101 => DLT_RAW,
        108 if cfg!(target_os = "openbsd") => 12,
        other => i32::try_from(other).unwrap_or(i32::MAX),
    }
}

fn compile(expr: &str, link: LinkType) -> Result<BpfProgram, CaptureError> {
    let err = |e: pcap::Error| CaptureError::Filter {
        expr: expr.to_string(),
        msg: format!("{e} (compiling for link type {link})"),
    };
    let dead = Capture::dead(Linktype(dlt_for(link))).map_err(err)?;
    dead.compile(expr, true).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    fn eth_tcp(dport: u16) -> Vec<u8> {
        let mut p = vec![0u8; 14 + 20 + 20];
        p[12] = 0x08; // IPv4
        p[14] = 0x45;
        p[16] = 0;
        p[17] = 40; // total length
        p[22] = 64;
        p[23] = 6; // TCP
        p[26..30].copy_from_slice(&[10, 0, 0, 1]);
        p[30..34].copy_from_slice(&[10, 0, 0, 2]);
        p[34..36].copy_from_slice(&40000u16.to_be_bytes());
        p[36..38].copy_from_slice(&dport.to_be_bytes());
        p[46] = 0x50;
        p
    }

    fn frame(link: LinkType, data: &[u8]) -> Frame<'_> {
        Frame {
            ts: Timestamp(0),
            link,
            data,
            orig_len: data.len() as u32,
        }
    }

    #[test]
    fn filter_matches_per_link_type() {
        let mut f = Filter::new("tcp port 80");
        f.check(LinkType::ETHERNET).unwrap();
        let p80 = eth_tcp(80);
        let p443 = eth_tcp(443);
        assert!(f.matches(&frame(LinkType::ETHERNET, &p80)).unwrap());
        assert!(!f.matches(&frame(LinkType::ETHERNET, &p443)).unwrap());
        // The same packets without the Ethernet header, as raw IP (LINKTYPE_RAW = 101).
        assert!(f.matches(&frame(LinkType::RAW, &p80[14..])).unwrap());
        assert!(!f.matches(&frame(LinkType::RAW, &p443[14..])).unwrap());
        assert!(f.matches(&frame(LinkType::IPV4, &p80[14..])).unwrap());
        assert!(f.matches(&frame(LinkType::ETHERNET, &p80)).unwrap());
    }

    #[test]
    fn filter_compiles_for_every_supported_link_type() {
        for lt in [0u32, 1, 12, 14, 101, 108, 113, 228, 229, 276] {
            let link = LinkType(lt);
            assert!(link.is_supported());
            let mut f = Filter::new("tcp port 80 or ip6");
            f.check(link)
                .unwrap_or_else(|e| panic!("link type {lt}: {e}"));
        }
    }

    #[test]
    fn bad_filter_is_an_error() {
        let mut f = Filter::new("tcp port eighty and (");
        match f.check(LinkType::ETHERNET) {
            Err(CaptureError::Filter { expr, msg }) => {
                assert_eq!(expr, "tcp port eighty and (");
                assert!(!msg.is_empty());
            }
            other => panic!("expected a filter error, got {other:?}"),
        }
        let p = eth_tcp(80);
        assert!(f.matches(&frame(LinkType::ETHERNET, &p)).is_err());
    }

    #[test]
    fn empty_filter_matches_all() {
        let mut f = Filter::new("  ");
        f.check(LinkType(9999)).unwrap();
        assert!(f.matches(&frame(LinkType(9999), b"xyz")).unwrap());
    }
}
