//! JSON's structure 64 bytes at a time, for the splitter: which bytes lie inside strings, and where the
//! brackets outside strings are, as 64-bit masks (bit `i` is byte `i` of the block).
//!
//! This is the first stage of simdjson (Langdale & Lemire, "Parsing Gigabytes of JSON per Second", 2019):
//! SIMD compares find the quotes, backslashes and brackets; integer arithmetic finds the escaped bytes
//! (odd runs of backslashes) and, by a prefix XOR over the remaining quotes, the bytes inside strings.
//! Written by hand because no maintained crate exposes this stage on its own (simd-json and sonic-rs run it
//! inside their parsers, over a whole document in memory); the compares go through `wide` (SSE2 on x86_64,
//! NEON on aarch64, plain code elsewhere), so the crate keeps `#![forbid(unsafe_code)]`.
//!
//! JSON allows a backslash only inside a string, and this stage assumes it: it treats every backslash as
//! an escape. A block with a backslash outside strings is reported ([`Structure::stray_backslash`]) and the
//! splitter reads that block byte by byte instead, so invalid input splits exactly as before.

use wide::u8x16;

use crate::json_bytes::{self, BLOCK};

/// What one block carries into the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Carry {
    /// The block starts inside a string.
    pub in_string: bool,
    /// The block's first byte is escaped (the previous block ended in an odd run of backslashes).
    pub escaped: bool,
}

/// The structure of one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Structure {
    /// `{` and `[` outside strings.
    pub open: u64,
    /// `}` and `]` outside strings.
    pub close: u64,
    /// A backslash lies outside every string: the masks are not to be trusted for this block.
    pub stray_backslash: bool,
    /// What the next block starts with.
    pub carry: Carry,
}

/// The structure of `block`, which starts in the state `carry`.
#[inline]
pub(super) fn scan(block: &[u8; BLOCK], carry: Carry) -> Structure {
    let masks = Masks::of(block);
    let (escaped, next_escaped) = json_bytes::escaped(masks.backslash, carry.escaped);
    let quotes = masks.quote & !escaped;
    // Bytes from an opening quote up to (not including) its closing quote.
    let inside = prefix_xor(quotes) ^ if carry.in_string { u64::MAX } else { 0 };
    Structure {
        open: masks.open & !inside,
        close: masks.close & !inside,
        stray_backslash: masks.backslash & !inside != 0,
        carry: Carry {
            in_string: inside >> 63 == 1,
            escaped: next_escaped,
        },
    }
}

/// Where the quotes, backslashes and brackets of a block are.
struct Masks {
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
}

impl Masks {
    // Inlined into `scan` whatever the codegen units: called out of line it cost the splitter 7 % more
    // instructions (callgrind, after an unrelated module was added).
    #[inline]
    fn of(block: &[u8; BLOCK]) -> Masks {
        let lanes = json_bytes::lanes(block);
        let find = |byte: u8| json_bytes::bits(lanes.map(|lane| lane.simd_eq(u8x16::splat(byte))));
        // `{` | 0x20 == `{` and `[` | 0x20 == `{`; likewise `}` and `]`: one compare finds both kinds.
        let folded = lanes.map(|lane| lane | u8x16::splat(0x20));
        let find_folded =
            |byte: u8| json_bytes::bits(folded.map(|lane| lane.simd_eq(u8x16::splat(byte))));
        Masks {
            quote: find(b'"'),
            backslash: find(b'\\'),
            open: find_folded(b'{'),
            close: find_folded(b'}'),
        }
    }
}

/// Bit `i` of the result is the XOR of bits `0..=i` of `bits`: set from each opening quote up to, not
/// including, its closing quote.
fn prefix_xor(mut bits: u64) -> u64 {
    bits ^= bits << 1;
    bits ^= bits << 2;
    bits ^= bits << 4;
    bits ^= bits << 8;
    bits ^= bits << 16;
    bits ^= bits << 32;
    bits
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The same masks byte by byte, the way the splitter's byte loop reads the text.
    fn reference(block: &[u8; BLOCK], carry: Carry) -> Structure {
        let (mut in_string, mut escaped) = (carry.in_string, carry.escaped);
        let (mut open, mut close, mut stray) = (0u64, 0u64, false);
        for (index, &byte) in block.iter().enumerate() {
            if in_string {
                if escaped {
                    escaped = false;
                } else if byte == b'\\' {
                    escaped = true;
                } else if byte == b'"' {
                    in_string = false;
                }
                continue;
            }
            match byte {
                b'"' => in_string = true,
                b'{' | b'[' => open |= 1 << index,
                b'}' | b']' => close |= 1 << index,
                b'\\' => stray = true,
                _ => {}
            }
        }
        Structure {
            open,
            close,
            stray_backslash: stray,
            carry: Carry { in_string, escaped },
        }
    }

    fn block_of(bytes: &[u8]) -> [u8; BLOCK] {
        let mut block = [b' '; BLOCK];
        block[..bytes.len()].copy_from_slice(bytes);
        block
    }

    #[test]
    fn brackets_inside_strings_and_escaped_quotes_are_not_structure() {
        let block = block_of(br#"{"a":"}\"]","b":[1,{}],"c":"\\"}"#);
        let found = scan(&block, Carry::default());
        assert_eq!(found, reference(&block, Carry::default()));
        assert_eq!(found.open.count_ones(), 3, "{{ [ {{");
        assert_eq!(found.close.count_ones(), 3, "}} ] }}");
        assert!(!found.stray_backslash);
    }

    #[test]
    fn a_run_of_backslashes_across_blocks_carries_its_parity() {
        // 63 bytes of a string, then a backslash at the very end: the next block's quote is escaped.
        let mut first = [b'x'; BLOCK];
        first[0] = b'"';
        first[63] = b'\\';
        let found = scan(&first, Carry::default());
        assert_eq!(
            found.carry,
            Carry {
                in_string: true,
                escaped: true
            }
        );
        let second = block_of(br#""still inside } "#);
        let next = scan(&second, found.carry);
        assert_eq!(next, reference(&second, found.carry));
        assert_eq!(next.close, 0, "the brace is inside the string");
    }

    #[test]
    fn a_backslash_outside_strings_is_reported() {
        let block = block_of(br#"{\"a":1}"#);
        assert!(scan(&block, Carry::default()).stray_backslash);
    }

    proptest! {
        #[test]
        fn agrees_with_the_byte_loop_wherever_no_backslash_is_stray(
            bytes in proptest::collection::vec(prop::sample::select(b"\"\\{}[]a ,:".to_vec()), BLOCK),
            in_string: bool,
            escaped: bool,
        ) {
            let block: [u8; BLOCK] = bytes.try_into().unwrap();
            let carry = Carry { in_string, escaped: escaped && in_string };
            let expected = reference(&block, carry);
            let found = scan(&block, carry);
            prop_assert_eq!(found.stray_backslash, expected.stray_backslash);
            if !expected.stray_backslash {
                prop_assert_eq!(found, expected);
            }
        }
    }
}
