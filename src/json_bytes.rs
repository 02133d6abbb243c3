//! Byte scanning shared by the decoders and the encoders: where a JSON string's plain run ends.
//!
//! 16 bytes at a time with `wide`'s safe SIMD compares (SSE2 on x86_64, NEON on aarch64, plain code
//! elsewhere); the last bytes of a slice are compared in a padded copy, so short strings take one step.

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
