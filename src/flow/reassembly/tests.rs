//! Unit tests over literal segments, and property tests over random cuts, reorderings and
//! duplicates of a stream.

use super::*;

mod unit {
    use super::*;

    /// Collects what the reassembler delivers; gaps become '?' bytes so tests compare strings.
    #[derive(Default)]
    pub(crate) struct Collect {
        pub out: Vec<u8>,
        pub gaps: u64,
        pub fin: bool,
    }

    impl StreamSink for Collect {
        fn data(&mut self, bytes: &[u8]) {
            assert!(!self.fin, "data after fin");
            self.out.extend_from_slice(bytes);
        }
        fn gap(&mut self, len: u64) {
            self.gaps += len;
            self.out.extend(std::iter::repeat_n(b'?', len as usize));
        }
        fn fin(&mut self) {
            self.fin = true;
        }
    }

    const ISN: u32 = u32::MAX - 10_000; // exercise wraparound, as smoltcp's tests do
    const LIMIT: usize = 1 << 20;

    fn seg(r: &mut Reassembler, c: &mut Collect, off: u32, data: &[u8]) {
        r.segment(Seq(ISN).plus(off), data, 0, false, false, LIMIT, c);
    }

    #[test]
    fn in_order_across_wrap() {
        let (mut r, mut c) = (Reassembler::default(), Collect::default());
        r.init(Seq(ISN));
        let body: Vec<u8> = (0..30_000u32).map(|i| (i % 251) as u8).collect();
        for (i, chunk) in body.chunks(1448).enumerate() {
            seg(&mut r, &mut c, (i * 1448) as u32, chunk);
        }
        assert_eq!(c.out, body);
        assert_eq!(r.stats.bytes, 30_000);
    }

    #[test]
    fn reorder_and_duplicates_first_copy_wins() {
        let (mut r, mut c) = (Reassembler::default(), Collect::default());
        r.init(Seq(ISN));
        seg(&mut r, &mut c, 6, b"world");
        seg(&mut r, &mut c, 6, b"WORLD"); // duplicate of held data: first copy wins
        seg(&mut r, &mut c, 0, b"hello ");
        seg(&mut r, &mut c, 3, b"LO WO"); // retransmitted overlap
        assert_eq!(c.out, b"hello world");
        assert_eq!(r.stats.out_of_order, 2);
        assert_eq!(r.stats.retransmitted_bytes, 5 + 5);
    }

    #[test]
    fn overlapping_held_segments_fill_between() {
        let (mut r, mut c) = (Reassembler::default(), Collect::default());
        r.init(Seq(ISN));
        seg(&mut r, &mut c, 2, b"cd");
        seg(&mut r, &mut c, 6, b"gh");
        seg(&mut r, &mut c, 1, b"BCDEFGHI"); // spans both held pieces
        seg(&mut r, &mut c, 0, b"a");
        assert_eq!(c.out, b"aBcdEFghI");
    }

    #[test]
    fn ack_beyond_hole_declares_gap() {
        let (mut r, mut c) = (Reassembler::default(), Collect::default());
        r.init(Seq(ISN));
        seg(&mut r, &mut c, 0, b"abc");
        seg(&mut r, &mut c, 6, b"ghi"); // "def" never captured
        for _ in 0..REORDER_SLACK {
            r.acked(Seq(ISN).plus(9), &mut c);
            assert_eq!(c.out, b"abc", "still within the reordering slack");
        }
        r.acked(Seq(ISN).plus(9), &mut c);
        assert_eq!(c.out, b"abc???ghi");
        assert_eq!(r.stats.gap_bytes, 3);
        r.acked(Seq(ISN).plus(12), &mut c); // acked past everything: remembered...
        assert_eq!(c.out, b"abc???ghi");
        for i in 0..=REORDER_SLACK {
            r.acked(Seq(ISN).plus(12), &mut c);
            if i == 0 {
                seg(&mut r, &mut c, 12, b"m"); // ...data waits beyond the hole...
            }
        }
        assert_eq!(c.out, b"abc???ghi???m"); // ...and the slack ran out
    }

    /// A capture can show an ACK a moment before the data it acknowledges (pipelining.pcap
    /// with the client's ACK moved one packet earlier lost a response this way).
    #[test]
    fn ack_just_before_its_data_loses_nothing() {
        let (mut r, mut c) = (Reassembler::default(), Collect::default());
        r.init(Seq(ISN));
        r.acked(Seq(ISN).plus(3), &mut c);
        seg(&mut r, &mut c, 0, b"abc");
        seg(&mut r, &mut c, 3, b"def");
        assert_eq!(c.out, b"abcdef");
        assert_eq!(r.stats.gap_bytes, 0);
        // Acknowledged but never captured at all: counted when the stream ends.
        r.acked(Seq(ISN).plus(10), &mut c);
        r.flush(&mut c);
        assert_eq!(c.out, b"abcdef????");
    }

    #[test]
    fn keepalive_and_zero_window_probes() {
        let (mut r, mut c) = (Reassembler::default(), Collect::default());
        r.init(Seq(ISN));
        seg(&mut r, &mut c, 0, b"abc");
        r.segment(Seq(ISN).plus(2), b"c", 0, false, false, LIMIT, &mut c);
        r.segment(Seq(ISN).plus(2), b"", 0, false, false, LIMIT, &mut c);
        assert_eq!(r.stats.keepalive_probes, 2);
        // Zero window: the probe byte is set aside, then retransmitted when the window opens.
        r.segment(Seq(ISN).plus(3), b"d", 0, false, true, LIMIT, &mut c);
        assert_eq!(r.stats.zero_window_probes, 1);
        assert_eq!(c.out, b"abc");
        seg(&mut r, &mut c, 3, b"def");
        assert_eq!(c.out, b"abcdef");
        // Zero window probe that the receiver accepted: the next segment starts after it.
        r.segment(Seq(ISN).plus(6), b"g", 0, false, true, LIMIT, &mut c);
        seg(&mut r, &mut c, 7, b"hi");
        assert_eq!(c.out, b"abcdefghi");
        assert_eq!(r.stats.retransmitted_bytes, 0);
    }

    #[test]
    fn fin_after_hole_waits_then_flush() {
        let (mut r, mut c) = (Reassembler::default(), Collect::default());
        r.init(Seq(ISN));
        seg(&mut r, &mut c, 0, b"ab");
        r.segment(Seq(ISN).plus(4), b"ef", 0, true, false, LIMIT, &mut c);
        assert!(!c.fin);
        seg(&mut r, &mut c, 2, b"cd");
        assert!(c.fin);
        assert_eq!(c.out, b"abcdef");

        let (mut r, mut c) = (Reassembler::default(), Collect::default());
        r.init(Seq(ISN));
        r.segment(Seq(ISN).plus(4), b"ef", 0, true, false, LIMIT, &mut c);
        r.flush(&mut c);
        assert_eq!(c.out, b"????ef");
        assert!(c.fin);
    }

    #[test]
    fn snaplen_missing_bytes_are_gaps() {
        let (mut r, mut c) = (Reassembler::default(), Collect::default());
        r.init(Seq(ISN));
        r.segment(Seq(ISN), b"ab", 3, false, false, LIMIT, &mut c);
        r.segment(Seq(ISN).plus(8), b"xy", 2, false, false, LIMIT, &mut c);
        r.segment(Seq(ISN).plus(5), b"123", 0, false, false, LIMIT, &mut c);
        assert_eq!(c.out, b"ab???123xy??");
    }

    #[test]
    fn held_limit_skips_oldest_hole() {
        let (mut r, mut c) = (Reassembler::default(), Collect::default());
        r.init(Seq(ISN));
        for i in 0..10u32 {
            r.segment(
                Seq(ISN).plus(10 + i * 10),
                &[b'x'; 10],
                0,
                false,
                false,
                50,
                &mut c,
            );
        }
        assert!(r.held_bytes() <= 50);
        assert_eq!(r.stats.gap_bytes, 10);
        assert!(c.out.starts_with(b"??????????xxxx"));
    }

    /// scapy http_chunk.pcap: a connection picked up mid-stream whose first client segment
    /// is a keep-alive probe byte; starting the stream there put a NUL before the request.
    #[test]
    fn single_byte_first_segment_mid_stream_is_a_probe() {
        let (mut r, mut c) = (Reassembler::default(), Collect::default());
        r.segment(Seq(ISN).plus(99), b"\0", 0, false, false, LIMIT, &mut c);
        r.segment(Seq(ISN).plus(100), b"GET", 0, false, false, LIMIT, &mut c);
        assert_eq!(c.out, b"GET");
        assert_eq!(r.stats.keepalive_probes, 1);
    }

    /// After a RST that may be ignored: data is held, not delivered, until the stream
    /// resumes (then in order, overlaps counted) or ends (then dropped).
    #[test]
    fn suspended_stream_holds_until_resumed_or_flushed() {
        for resume in [true, false] {
            let (mut r, mut c) = (Reassembler::default(), Collect::default());
            r.init(Seq(ISN));
            seg(&mut r, &mut c, 0, b"ab");
            r.segment(Seq(ISN).plus(3), b"d", 0, false, false, LIMIT, &mut c);
            r.suspend(&mut c);
            assert_eq!(c.out, b"ab?d", "held data is delivered as at any end");
            seg(&mut r, &mut c, 4, b"ef");
            seg(&mut r, &mut c, 3, b"DEFg"); // one byte delivered, two held: overlaps
            r.segment(Seq(ISN).plus(7), b"", 0, true, false, LIMIT, &mut c);
            r.acked(Seq(ISN).plus(8), &mut c);
            assert_eq!(c.out, b"ab?d");
            assert!(!c.fin);
            assert_eq!(r.held_bytes(), 3);
            if resume {
                r.resume(&mut c);
                assert_eq!(c.out, b"ab?defg");
                assert!(c.fin);
                assert_eq!(r.stats.retransmitted_bytes, 3);
            } else {
                r.flush(&mut c);
                assert_eq!(c.out, b"ab?d");
                assert!(!c.fin);
                assert_eq!(r.stats.retransmitted_bytes, 0);
                assert_eq!(r.stats.after_fin_bytes, 3);
                r.segment(Seq(ISN).plus(7), b"h", 0, false, false, LIMIT, &mut c);
                assert_eq!(c.out, b"ab?d", "ended");
            }
            assert_eq!(r.held_bytes(), 0);
        }
    }

    #[test]
    fn suspended_stream_holds_no_more_than_its_limit() {
        let (mut r, mut c) = (Reassembler::default(), Collect::default());
        r.init(Seq(ISN));
        r.suspend(&mut c);
        for i in 0..10u32 {
            r.segment(
                Seq(ISN).plus(i * 10),
                &[b'x'; 10],
                0,
                false,
                false,
                30,
                &mut c,
            );
        }
        assert_eq!(r.held_bytes(), 30);
        r.resume(&mut c);
        r.flush(&mut c);
        assert_eq!(
            c.out, [b'x'; 30],
            "what was refused is unknown, not invented"
        );
    }

    #[test]
    fn far_away_segments_are_ignored() {
        let (mut r, mut c) = (Reassembler::default(), Collect::default());
        r.init(Seq(ISN));
        seg(&mut r, &mut c, 0, b"ab");
        r.segment(
            Seq(ISN).plus(0x8000_0000),
            b"zz",
            0,
            false,
            false,
            LIMIT,
            &mut c,
        );
        assert_eq!(r.stats.out_of_window, 1);
        assert_eq!(r.held_bytes(), 0);
    }
}

mod props {
    use super::unit::Collect;
    use super::*;
    use proptest::prelude::*;

    /// A stream, its cut points, a permutation and duplicated pieces.
    fn scenario() -> impl Strategy<Value = (Vec<u8>, Vec<usize>, Vec<usize>, Vec<usize>, u32)> {
        (1usize..4000).prop_flat_map(|n| {
            (
                proptest::collection::vec(any::<u8>(), n),
                proptest::collection::vec(1usize..n.max(2), 0..40),
                Just(n),
            )
                .prop_flat_map(|(data, cuts, _)| {
                    let pieces = cuts.len() + 1;
                    (
                        Just(data),
                        Just(cuts),
                        Just((0..pieces).collect::<Vec<_>>()).prop_shuffle(),
                        proptest::collection::vec(0..pieces, 0..5),
                        any::<u32>(),
                    )
                })
        })
    }

    fn pieces(data: &[u8], cuts: &[usize]) -> Vec<(u32, Vec<u8>)> {
        let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(data.len())).collect();
        cuts.push(0);
        cuts.push(data.len());
        cuts.sort_unstable();
        cuts.dedup();
        cuts.windows(2)
            .map(|w| (w[0] as u32, data[w[0]..w[1]].to_vec()))
            .collect()
    }

    proptest! {
        /// Any segmentation, order and duplication of a stream reassembles to the stream.
        #[test]
        fn reorder_duplicate_gives_stream((data, cuts, order, dups, isn) in scenario()) {
            let ps = pieces(&data, &cuts);
            let (mut r, mut c) = (Reassembler::default(), Collect::default());
            r.init(Seq(isn));
            let sequence = order.iter().filter(|&&i| i < ps.len()).chain(dups.iter().filter(|&&i| i < ps.len()));
            for &i in sequence {
                let (off, bytes) = &ps[i];
                r.segment(Seq(isn).plus(*off), bytes, 0, false, false, usize::MAX, &mut c);
            }
            r.flush(&mut c);
            prop_assert_eq!(c.out, data);
            prop_assert_eq!(c.gaps, 0);
        }

        /// Dropped pieces come out as gaps of exactly their length, the rest intact.
        #[test]
        fn drops_become_gaps((data, cuts, order, _dups, isn) in scenario(), drop_mask in any::<u64>()) {
            let ps = pieces(&data, &cuts);
            let mut expect = data.clone();
            let (mut r, mut c) = (Reassembler::default(), Collect::default());
            r.init(Seq(isn));
            for &i in order.iter().filter(|&&i| i < ps.len()) {
                let (off, bytes) = &ps[i];
                let last = i == ps.len() - 1; // keep the end so the stream length is known
                if !last && drop_mask & (1 << (i % 64)) != 0 {
                    for b in &mut expect[*off as usize..*off as usize + bytes.len()] { *b = b'?'; }
                    continue;
                }
                r.segment(Seq(isn).plus(*off), bytes, 0, false, false, usize::MAX, &mut c);
            }
            r.flush(&mut c);
            prop_assert_eq!(c.out, expect);
        }
    }
}
