//! Byte scanning shared by the decoders and the encoders: where a JSON string's plain run ends
//! ([`first_special`]), and, for 64-byte blocks, masks of compared bytes ([`lanes`], [`bits`]) and which
//! bytes are escaped ([`escaped`], for text dense in escapes such as AIR's embedded documents).
//!
//! Compares use `wide`'s safe SIMD (SSE2 on x86_64, NEON on aarch64, plain code elsewhere); the last bytes
//! of a slice are compared in a padded copy, so short strings take one step.

use wide::u8x16;

/// The index of the first byte a JSON string cannot hold as is — `"`, `\` or a control character — or
/// `None` when there is none.
pub(crate) fn first_special(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..).and_then(|rest| rest.first_chunk::<16>()) {
        if let Some(index) = special_in(*chunk) {
            return Some(at + index);
        }
        at += 16;
    }
    let rest = bytes.get(at..)?;
    debug_assert!(rest.len() < 16);
    // A space is no special byte: the padding is never found.
    let mut padded = [b' '; 16];
    padded[..rest.len()].copy_from_slice(rest);
    special_in(padded).map(|index| at + index)
}

/// Bytes per block for [`lanes`], [`bits`] and [`escaped`].
pub(crate) const BLOCK: usize = 64;

/// A block as four 16-byte vectors, for compares.
#[inline]
pub(crate) fn lanes(block: &[u8; BLOCK]) -> [u8x16; 4] {
    let mut lanes = [u8x16::splat(0); 4];
    for (lane, bytes) in lanes.iter_mut().zip(block.chunks_exact(16)) {
        let mut array = [0u8; 16];
        array.copy_from_slice(bytes);
        *lane = u8x16::from(array);
    }
    lanes
}

/// The 64-bit mask (bit `i` is byte `i` of the block) of four per-lane compare results.
#[inline]
pub(crate) fn bits(compared: [u8x16; 4]) -> u64 {
    compared.iter().enumerate().fold(0, |mask, (lane, found)| {
        mask | u64::from(found.to_bitmask()) << (lane * 16)
    })
}

/// Odd bit positions (1, 3, 5, …).
const ODD_BITS: u64 = 0xAAAA_AAAA_AAAA_AAAA;

/// The bytes escaped by a backslash (the byte after an odd run of backslashes), and whether the first
/// byte of the next block is; `first_escaped` says whether this block's first byte is.
///
/// simdjson's `json_escape_scanner::next`: subtracting the run starts from the odd bits turns even runs
/// and odd runs of backslashes into opposite patterns, which the XOR with the odd bits tells apart.
#[inline]
pub(crate) fn escaped(backslash: u64, first_escaped: bool) -> (u64, bool) {
    let carried = u64::from(first_escaped);
    if backslash == 0 {
        return (carried, false);
    }
    // A backslash escaped by the previous block's last one does not escape anything itself.
    let potential = backslash & !carried;
    let escape_and_code = ((potential << 1) | ODD_BITS).wrapping_sub(potential) ^ ODD_BITS;
    let escaped = escape_and_code ^ (backslash | carried);
    let escape = escape_and_code & backslash;
    (escaped, escape >> 63 == 1)
}

fn special_in(chunk: [u8; 16]) -> Option<usize> {
    let vector = u8x16::from(chunk);
    let special = vector.simd_eq(u8x16::splat(b'"'))
        | vector.simd_eq(u8x16::splat(b'\\'))
        | vector.min(u8x16::splat(0x1F)).simd_eq(vector);
    let mask = special.to_bitmask();
    (mask != 0).then(|| mask.trailing_zeros() as usize)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn naive(bytes: &[u8]) -> Option<usize> {
        bytes
            .iter()
            .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
    }

    #[test]
    fn finds_quotes_backslashes_and_control_characters_anywhere() {
        for len in 0..40 {
            let plain = vec![b'a'; len];
            assert_eq!(first_special(&plain), None, "{len}");
            for at in 0..len {
                for special in [b'"', b'\\', 0x00, 0x1F] {
                    let mut bytes = plain.clone();
                    bytes[at] = special;
                    assert_eq!(first_special(&bytes), Some(at), "{len} {at} {special}");
                }
            }
        }
        assert_eq!(first_special("é\u{7f} \u{1}".as_bytes()), Some(4));
    }

    proptest! {
        #[test]
        fn agrees_with_a_byte_loop(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            prop_assert_eq!(first_special(&bytes), naive(&bytes));
        }
    }
}
