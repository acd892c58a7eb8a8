//! What identifies a request across connections (method, target, Host), kept inline so that
//! every exchange can carry it without a heap allocation: each part whole up to a bound, and
//! a hash of the whole part, so that two long targets that share their first bytes still
//! differ.

use rustc_hash::FxHasher;
use std::hash::Hasher;

/// Bytes of a text kept inline; longer texts keep this many and are marked truncated.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Inline<const N: usize> {
    bytes: [u8; N],
    /// Length of the whole text (may exceed N).
    len: u32,
    hash: u64,
}

impl<const N: usize> Inline<N> {
    pub fn new(text: &[u8]) -> Self {
        let mut bytes = [0u8; N];
        let n = text.len().min(N);
        bytes[..n].copy_from_slice(&text[..n]);
        let mut h = FxHasher::default();
        h.write(text);
        Inline {
            bytes,
            len: text.len().min(u32::MAX as usize) as u32,
            hash: h.finish(),
        }
    }

    /// The text as kept (at most N bytes).
    pub fn kept(&self) -> &[u8] {
        &self.bytes[..(self.len as usize).min(N)]
    }

    pub fn truncated(&self) -> bool {
        self.len as usize > N
    }

    /// A hash of the whole text.
    pub fn hash(&self) -> u64 {
        self.hash
    }
}

impl<const N: usize> Default for Inline<N> {
    fn default() -> Self {
        Inline::new(b"")
    }
}

impl<const N: usize> std::fmt::Debug for Inline<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.kept()))?;
        if self.truncated() {
            write!(f, "...")?;
        }
        Ok(())
    }
}

/// A request's method, target and Host (empty when the request had none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RequestKey {
    pub method: Inline<12>,
    pub target: Inline<80>,
    pub host: Inline<48>,
}

impl RequestKey {
    pub fn new(method: &[u8], target: &[u8], host: Option<&[u8]>) -> RequestKey {
        RequestKey {
            method: Inline::new(method),
            target: Inline::new(target),
            host: Inline::new(host.unwrap_or_default()),
        }
    }

    /// Same method and target (whole, by hash and by the bytes kept).
    pub fn same_request(&self, o: &RequestKey) -> bool {
        self.method == o.method && self.target == o.target
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_keep_a_prefix_and_differ_by_hash() {
        let a = format!("/{}", "x".repeat(200));
        let b = format!("/{}y", "x".repeat(199));
        let ka = RequestKey::new(b"GET", a.as_bytes(), Some(b"example.com"));
        let kb = RequestKey::new(b"GET", b.as_bytes(), Some(b"example.com"));
        assert!(ka.target.truncated());
        assert_eq!(ka.target.kept(), kb.target.kept());
        assert!(!ka.same_request(&kb));
        assert!(ka.same_request(&RequestKey::new(b"GET", a.as_bytes(), None)));
        assert_eq!(ka.host.kept(), b"example.com");
        assert_eq!(ka.method.kept(), b"GET");
    }
}
