//! Criterion benchmarks of the hot paths (filled in with the performance work).
use criterion::{criterion_group, criterion_main, Criterion};

fn placeholder(c: &mut Criterion) {
    let frame = [0u8; 64];
    c.bench_function("decode_non_ip", |b| {
        b.iter(|| connscope::decode::decode_bytes(connscope::capture::LinkType::ETHERNET, &frame))
    });
}

criterion_group!(benches, placeholder);
criterion_main!(benches);
