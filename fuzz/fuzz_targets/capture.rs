//! Arbitrary bytes as a whole pcap/pcapng file, read to the end through `Source::from_reader`
//! (with a read size picked from the input's length, so records straddle refills), every
//! frame decoded.

#![no_main]

use std::io::Cursor;

use connscope::capture::Source;
use connscope::decode::decode;
use libfuzzer_sys::fuzz_target;

const CHUNKS: [usize; 4] = [4096, 1, 7, 64];

fuzz_target!(|data: &[u8]| {
    let chunk = CHUNKS[data.len() % CHUNKS.len()];
    let Ok(mut src) = Source::from_reader_with_chunk(Cursor::new(data.to_vec()), "fuzz", chunk)
    else {
        return;
    };
    let mut frames = 0u64;
    while let Ok(Some(frame)) = src.next_frame() {
        assert!(frame.data.len() <= data.len());
        let _ = decode(&frame);
        frames += 1;
    }
    // Every frame consumed at least its record header.
    assert!(frames <= data.len() as u64 / 8 + 1);
    assert!(src.position() <= data.len() as u64);
    let _ = src.damage().map(|d| d.to_string());
});
