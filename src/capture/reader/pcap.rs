//! The file header (which of pcap's and pcapng's formats this is) and pcap's records.

use super::*;

impl Source {
    // ----- file header -----

    pub(super) fn read_file_header(&mut self) -> Result<(), CaptureError> {
        let n = self.fill(4)?;
        if n == 0 {
            // An empty input is an empty capture: no frames, no damage.
            self.done = true;
            return Ok(());
        }
        if n < 4 {
            return Err(self.not_a_capture());
        }
        let m = rd32(&self.buf[self.start..], false);
        if m == PCAPNG_SHB {
            return self.read_shb_at_open();
        }
        let (big, ff) = match m {
            PCAP_MAGIC_US => (false, FileFormat::Pcap),
            PCAP_MAGIC_NS => (false, FileFormat::PcapNanos),
            PCAP_MAGIC_MODIFIED => (false, FileFormat::PcapModified),
            _ => match m.swap_bytes() {
                PCAP_MAGIC_US => (true, FileFormat::Pcap),
                PCAP_MAGIC_NS => (true, FileFormat::PcapNanos),
                PCAP_MAGIC_MODIFIED => (true, FileFormat::PcapModified),
                _ => return Err(self.not_a_capture()),
            },
        };
        let n = self.fill(24)?;
        if n < 24 {
            return Err(self.bad_header(format!("pcap file header cut short: {n} of 24 bytes")));
        }
        let h = &self.buf[self.start..self.start + 24];
        let snaplen = rd32(&h[16..], big);
        // Bits 26-31 carry FCS information; the link type is in the low bits (libpcap's
        // LT_LINKTYPE mask), and the reserved bits 16-25 must be zero for a link type we know.
        let link = LinkType(rd32(&h[20..], big) & 0x03ff_ffff);
        if !link.is_supported() {
            return Err(CaptureError::UnsupportedLinkType {
                path: self.path.clone(),
                link,
            });
        }
        self.consume(24);
        self.file_format = ff;
        self.format = Format::Pcap {
            big,
            nanos: ff == FileFormat::PcapNanos,
            rec_hdr: if ff == FileFormat::PcapModified {
                24
            } else {
                16
            },
            snaplen,
            link,
        };
        Ok(())
    }

    // ----- pcap records -----

    pub(super) fn next_pcap(&mut self) -> Result<Option<Meta>, CaptureError> {
        let Format::Pcap {
            big,
            nanos,
            rec_hdr,
            snaplen,
            link,
        } = self.format
        else {
            return Ok(None);
        };
        let offset = self.position();
        let n = self.fill(rec_hdr)?;
        if n == 0 {
            return Ok(None);
        }
        if n < rec_hdr {
            self.set_damage(
                offset,
                format!("truncated record header: {n} of {rec_hdr} bytes"),
            );
            return Ok(None);
        }
        let h = &self.buf[self.start..self.start + 16];
        let sec = rd32(h, big);
        let frac = rd32(&h[4..], big);
        let caplen = rd32(&h[8..], big);
        let orig_len = rd32(&h[12..], big);
        let limit = snaplen.max(PCAP_TOLERATED_CAPLEN);
        if caplen > limit || caplen as usize > MAX_RECORD - rec_hdr {
            self.set_damage(
                offset,
                format!("bogus record: captured length {caplen} with snaplen {snaplen}"),
            );
            return Ok(None);
        }
        let total = rec_hdr + caplen as usize;
        let n = self.fill(total)?;
        if n < total {
            self.set_damage(
                offset,
                format!(
                    "truncated record: {caplen} captured bytes announced, {} present",
                    n - rec_hdr
                ),
            );
            return Ok(None);
        }
        let mult: i64 = if nanos { 1 } else { 1_000 };
        let ts = Timestamp(i64::from(sec) * 1_000_000_000 + i64::from(frac) * mult);
        let start = self.start + rec_hdr;
        self.consume(total);
        Ok(Some(Meta {
            start,
            len: caplen as usize,
            ts,
            link,
            orig_len: orig_len.max(caplen),
        }))
    }
}
