//! One frame through `decode_bytes`: the first byte picks the link type (every supported one,
//! plus one unsupported), the rest is the frame.

#![no_main]

use connscope::capture::LinkType;
use connscope::decode::decode_bytes;
use libfuzzer_sys::fuzz_target;

/// Supported link types (README), then 105 (802.11) for the refusal path.
const LINKS: [u32; 11] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 105];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let link = LinkType(LINKS[usize::from(pick) % LINKS.len()]);
    if let Ok((seg, _via)) = decode_bytes(link, frame) {
        // The payload borrows the frame and is bounded by it.
        let start = seg.payload.as_ptr() as usize;
        let base = frame.as_ptr() as usize;
        assert!(start >= base && start + seg.payload.len() <= base + frame.len());
        let _ = seg.wire_len();
    }
});
