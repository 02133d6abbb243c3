//! Byte scanning shared by the decoders and the encoders: where a JSON string's plain run ends
//! ([`first_special`]), and, for 64-byte blocks, masks of compared bytes ([`lanes`], [`bits`]) and which
//! bytes are escaped ([`escaped`], for text dense in escapes such as AIR's embedded documents); on top of
//! those, where a string with escapes ends ([`escaped_string_end`], used by the header reader and the AIR
//! document decoder) and its text ([`unescape_short`]); and JSON text copied onto one line
//! ([`copy_one_line`]).
//!
//! Compares use `wide`'s safe SIMD (SSE2 on x86_64, NEON on aarch64, plain code elsewhere); the last bytes
//! of a slice are compared in a padded copy, so short strings take one step.

use wide::u8x16;

/// Copies JSON text, turning CR and LF (which valid JSON only has between tokens) into spaces, so that a
/// document received on several lines goes out on one.
pub(crate) fn copy_one_line(out: &mut Vec<u8>, json: &[u8]) {
    if memchr::memchr2(b'\n', b'\r', json).is_none() {
        out.extend_from_slice(json);
    } else {
        out.extend(
            json.iter()
                .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
        );
    }
}

/// The index of the first byte a JSON string cannot hold as is — `"`, `\` or a control character — or
/// `None` when there is none.
///
/// 16 bytes at a time; the last bytes of a slice of 16 or more are compared as its last 16 (overlapping bytes
/// already found plain), and a shorter slice byte by byte, so no call copies a tail into a padded block.
#[inline]
pub(crate) fn first_special(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..).and_then(|rest| rest.first_chunk::<16>()) {
        if let Some(index) = special_in(*chunk) {
            return Some(at + index);
        }
        at += 16;
    }
    if at == bytes.len() {
        return None;
    }
    match bytes.last_chunk::<16>() {
        Some(last) => special_in(*last).map(|index| bytes.len() - 16 + index),
        None => bytes.iter().position(|&byte| SPECIAL[usize::from(byte)]),
    }
}

/// The bytes [`first_special`] looks for: `"`, `\` and the control characters.
static SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

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

/// The backslashes among the [`BLOCK`] bytes of `bytes` from `at` on, as a mask (bit `i` is byte `at + i`);
/// past the end of `bytes` there are none.
#[inline]
pub(crate) fn backslashes_at(bytes: &[u8], at: usize) -> u64 {
    let rest = bytes.get(at..).unwrap_or_default();
    let block = match rest.first_chunk::<BLOCK>() {
        Some(block) => *block,
        None => {
            let mut padded = [0u8; BLOCK];
            padded[..rest.len()].copy_from_slice(rest);
            padded
        }
    };
    bits(lanes(&block).map(|lane| lane.simd_eq(u8x16::splat(b'\\'))))
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

/// The position of the closing quote of a string whose escapes start at `pos`; `None` for a control
/// character, an invalid or `\u` escape, or no closing quote.
///
/// Strings with escapes are often long runs of them (AIR's `Data` is JSON inside a JSON string): 64 bytes
/// at a time, the escaped bytes are found with the splitter's backslash arithmetic ([`escaped`])
/// instead of stopping at each escape.
pub(crate) fn escaped_string_end(bytes: &[u8], mut pos: usize) -> Option<usize> {
    let mut first_escaped = false;
    while let Some(block) = bytes
        .get(pos..)
        .and_then(|rest| rest.first_chunk::<BLOCK>())
    {
        let masks = StringMasks::of(block);
        let (escaped, next_escaped) = escaped(masks.backslash, first_escaped);
        let quotes = masks.quote & !escaped;
        // The bytes of the block that are still inside the string.
        let inside = if quotes == 0 {
            u64::MAX
        } else {
            (quotes & quotes.wrapping_neg()) - 1
        };
        if masks.control & inside != 0 {
            return None;
        }
        // An escaped quote or backslash is a valid escape: only the other escaped bytes are looked at, one
        // by one (an embedded document's escapes are nearly all `\"` and `\\`).
        let mut codes = escaped & inside & !(masks.quote | masks.backslash);
        while codes != 0 {
            let at = codes.trailing_zeros() as usize;
            codes &= codes - 1;
            if !is_short_escape(block[at]) {
                return None;
            }
        }
        if quotes != 0 {
            return Some(pos + quotes.trailing_zeros() as usize);
        }
        first_escaped = next_escaped;
        pos += BLOCK;
    }
    // The last bytes (under a block), one at a time.
    string_end_bytewise(bytes, pos, first_escaped)
}

/// [`escaped_string_end`] one byte at a time from `pos` (escaped when `first_escaped`): the bytes after the
/// last whole block, and the tests' reference for the blocks.
fn string_end_bytewise(bytes: &[u8], mut pos: usize, mut first_escaped: bool) -> Option<usize> {
    loop {
        let byte = *bytes.get(pos)?;
        if first_escaped {
            if !is_short_escape(byte) {
                return None;
            }
            first_escaped = false;
        } else {
            match byte {
                b'"' => return Some(pos),
                b'\\' => first_escaped = true,
                0..=0x1F => return None,
                _ => {}
            }
        }
        pos += 1;
    }
}

/// An escape JSON allows, except `\u` (left to serde_json).
fn is_short_escape(byte: u8) -> bool {
    short_escape(byte).is_some()
}

/// Quotes, backslashes and control characters of a block.
struct StringMasks {
    quote: u64,
    backslash: u64,
    control: u64,
}

impl StringMasks {
    fn of(block: &[u8; BLOCK]) -> StringMasks {
        let lanes = lanes(block);
        let find = |byte: u8| bits(lanes.map(|lane| lane.simd_eq(u8x16::splat(byte))));
        let last_control = u8x16::splat(0x1F);
        StringMasks {
            quote: find(b'"'),
            backslash: find(b'\\'),
            control: bits(lanes.map(|lane| lane.min(last_control).simd_eq(lane))),
        }
    }
}

/// Appends the text of a JSON string's contents `body` (without its quotes) that uses only the short escapes
/// (`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`) to `out`; `None` (with `out` as it was) on anything
/// else: a `\u` escape, an invalid one, a backslash at the end. Control characters are not looked for: `body`
/// has passed [`escaped_string_end`] or a JSON parser.
///
/// Text, not bytes: every cut is next to an ASCII backslash or escape letter, so the pieces are `str`s and the
/// result needs no second UTF-8 check. The backslashes are found 64 bytes at a time: an embedded document
/// (AIR's `Data`, JSON inside a JSON string) has one every few bytes, too many to look for one by one.
pub(crate) fn unescape_short(body: &str, out: &mut String) -> Option<()> {
    let before = out.len();
    let unescaped = unescape_short_onto(body, out);
    if unescaped.is_none() {
        out.truncate(before);
    }
    unescaped
}

fn unescape_short_onto(body: &str, out: &mut String) -> Option<()> {
    let bytes = body.as_bytes();
    out.reserve(body.len());
    // Where the text not yet copied starts: just past the last escape.
    let mut copied: usize = 0;
    let mut block: usize = 0;
    while block < bytes.len() {
        // A backslash escaped by one at the end of the previous block is text, not an escape.
        let mut backslashes = bits_from(backslashes_at(bytes, block), copied.saturating_sub(block));
        while backslashes != 0 {
            let at = block + backslashes.trailing_zeros() as usize;
            push_run(out, body, copied, at)?;
            out.push(char::from(short_escape(*bytes.get(at + 1)?)?));
            copied = at + 2;
            backslashes = bits_from(backslashes, copied - block);
        }
        block += BLOCK;
    }
    out.push_str(body.get(copied..)?);
    Some(())
}

/// Appends `body[from..to]` (`to` at a backslash, so a char boundary). The runs between escapes of an embedded
/// document are a few bytes long: one that fits is copied as the 16 bytes from `from` (a fixed-size move, not
/// a call) and cut back to its length.
#[inline]
fn push_run(out: &mut String, body: &str, from: usize, to: usize) -> Option<()> {
    let (len, run) = (out.len(), to.checked_sub(from)?);
    match body.get(from..from + 16) {
        Some(block) if run <= block.len() => {
            out.push_str(block);
            out.truncate(len + run);
        }
        _ => out.push_str(body.get(from..to)?),
    }
    Some(())
}

/// The byte a short JSON escape (`\` followed by `escape`) stands for; `None` for `\u` and invalid escapes.
fn short_escape(escape: u8) -> Option<u8> {
    Some(match escape {
        b'"' => b'"',
        b'\\' => b'\\',
        b'/' => b'/',
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        _ => return None,
    })
}

/// `mask` without its bits below `first`.
fn bits_from(mask: u64, first: usize) -> u64 {
    if first >= 64 {
        0
    } else {
        mask & (u64::MAX << first)
    }
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

    #[test]
    fn backslash_masks_cover_one_block_and_stop_at_the_end() {
        let mut bytes = vec![b'a'; 150];
        for at in [0, 63, 64, 100, 149] {
            bytes[at] = b'\\';
        }
        assert_eq!(backslashes_at(&bytes, 0), 1 | 1 << 63);
        assert_eq!(backslashes_at(&bytes, 64), 1 | 1 << 36);
        assert_eq!(backslashes_at(&bytes, 128), 1 << 21);
        assert_eq!(backslashes_at(&bytes, 149), 1);
        assert_eq!(backslashes_at(&bytes, 150), 0);
        assert_eq!(backslashes_at(&bytes, 999), 0);
    }

    #[test]
    fn unescaping_appends_or_leaves_the_text_as_it_was() {
        let mut out = String::from("x");
        assert_eq!(unescape_short(r#"a\"b\\c\/d\n"#, &mut out), Some(()));
        assert_eq!(out, "xa\"b\\c/d\n");
        for refused in [r"caf\u00e9", r"a\", r"a\x"] {
            assert_eq!(unescape_short(refused, &mut out), None, "{refused}");
            assert_eq!(out, "xa\"b\\c/d\n", "{refused}");
        }
    }

    /// Text with escapes at every distance from each other and from the 64-byte block boundaries.
    fn escaped_text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            "[a-zé中 ]{0,40}",
            Just(r#"\""#.to_owned()),
            Just(r"\\".to_owned()),
            Just(r"\/".to_owned()),
            Just(r"\n".to_owned()),
            Just(r"\t".to_owned()),
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn unescaping_gives_what_serde_json_reads(body in escaped_text()) {
            let expected: String = serde_json::from_str(&format!("\"{body}\"")).expect("valid string");
            let mut appended = String::from("x");
            prop_assert_eq!(unescape_short(&body, &mut appended), Some(()));
            prop_assert_eq!(appended.get(1..), Some(expected.as_str()));
        }
    }

    proptest! {
        #[test]
        fn the_end_of_a_string_with_escapes_is_found_as_byte_by_byte(
            // Runs of backslashes of any length, every escape letter (valid or not) and quotes, across
            // the 64-byte blocks.
            bytes in proptest::collection::vec(
                prop_oneof![
                    100 => prop::sample::select(b"\\\\\\\\/bfnrtuxaaaaa".to_vec()),
                    2 => Just(b'"'),
                    1 => Just(b'\n'),
                ],
                0..300,
            ),
            pos in 0usize..8,
        ) {
            prop_assert_eq!(escaped_string_end(&bytes, pos), string_end_bytewise(&bytes, pos, false));
        }

        #[test]
        fn an_embedded_document_ends_at_its_closing_quote(body in escaped_text(), tail in "[a-z\"]{0,3}") {
            let text = format!("{body}\"{tail}");
            prop_assert_eq!(escaped_string_end(text.as_bytes(), 0), Some(body.len()));
        }
    }

    proptest! {
        #[test]
        fn agrees_with_a_byte_loop(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            prop_assert_eq!(first_special(&bytes), naive(&bytes));
        }
    }
}
