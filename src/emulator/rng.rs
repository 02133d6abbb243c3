//! Deterministic randomness for the emulator: a tiny, version-stable generator and hash.
//!
//! Everything the emulator generates (content ids, record bodies, fault selection, listing order) is a pure
//! function of the configured seed and a few labels, so the same seed always yields the same history. The
//! generator is SplitMix64 and the hash FNV-1a followed by a SplitMix64 finaliser: both are fixed here, so
//! determinism does not depend on the version of `rand`.

use rand::RngCore;

/// SplitMix64: small, fast, and good enough for test data.
#[derive(Debug, Clone)]
pub(crate) struct DetRng {
    state: u64,
}

impl DetRng {
    /// A generator whose whole output is fixed by `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator derived from a seed and a label (e.g. a content id).
    pub(crate) fn derive(seed: u64, label: &str) -> Self {
        Self::new(hash2(seed, label))
    }

    /// A value in `0..n` (`n` > 0; returns 0 for `n` == 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Multiply-shift: unbiased enough for test data and never panics.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A value in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = hi.abs_diff(lo).saturating_add(1);
        lo.saturating_add_unsigned(self.below(span))
    }

    /// True with probability `p` (clamped to 0..=1).
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        unit(self.next_u64()) < p
    }

    /// One element of a non-empty slice (the first for an empty one would be impossible, so callers pass
    /// constant, non-empty tables).
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let i = self.below(items.len() as u64) as usize;
        &items[i.min(items.len().saturating_sub(1))]
    }

    /// A random-looking but deterministic GUID (version 4 layout).
    pub(crate) fn uuid(&mut self) -> uuid::Uuid {
        let mut b = [0u8; 16];
        self.fill_bytes(&mut b);
        uuid::Builder::from_random_bytes(b).into_uuid()
    }

    /// `n` lowercase hex digits.
    pub(crate) fn hex(&mut self, n: usize) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        (0..n)
            .map(|_| char::from(DIGITS[self.below(16) as usize]))
            .collect()
    }

    /// `n` random bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.fill_bytes(&mut v);
        v
    }
}

impl RngCore for DetRng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// The SplitMix64 finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stable 64-bit hash of a seed and a label.
pub(crate) fn hash2(seed: u64, label: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325 ^ mix(seed);
    for b in label.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    mix(h)
}

/// A stable 64-bit hash of a seed and a number (cheaper than formatting the number as a label).
pub(crate) fn hash_n(seed: u64, n: u64) -> u64 {
    mix(mix(seed) ^ n.wrapping_mul(0xD6E8_FEB8_6659_FD93))
}

/// A stable 64-bit hash of a seed and several labels.
pub(crate) fn hash_all(seed: u64, labels: &[&str]) -> u64 {
    labels.iter().fold(seed, |acc, l| hash2(acc, l))
}

/// Maps a hash to `[0, 1)`.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_yields_the_same_sequence() {
        let a: Vec<u64> = (0..5)
            .scan(DetRng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..5)
            .scan(DetRng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a[0], DetRng::new(8).next_u64());
    }

    #[test]
    fn ranges_stay_in_bounds() {
        let mut r = DetRng::new(1);
        for _ in 0..1000 {
            let v = r.range(-3, 3);
            assert!((-3..=3).contains(&v));
            assert!(r.below(10) < 10);
        }
        assert_eq!(r.below(0), 0);
    }

    #[test]
    fn hashes_are_stable_across_runs() {
        assert_eq!(hash2(1, "abc"), hash2(1, "abc"));
        assert_ne!(hash2(1, "abc"), hash2(2, "abc"));
        assert_ne!(hash_all(1, &["a", "b"]), hash_all(1, &["b", "a"]));
    }
}
