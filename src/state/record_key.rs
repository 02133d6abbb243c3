//! A record Id as the de-duplication maps hold it: a GUID as its 128 bits, anything else as text.
//!
//! Every real Id is a lowercase GUID. Keeping it as a number instead of a `String` saves an allocation
//! (and its free) for each map an Id enters (the blob's sent set, the tenant's in-flight map, the claimed
//! list), and hashing 16 bytes instead of 36. The key is exact: only the canonical lowercase spelling parses
//! as a GUID, so two different strings never share a key, and [`RecordKey`]'s `Display` gives the Id back
//! byte for byte.

use std::fmt;

/// A record Id, exactly (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RecordKey {
    /// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lowercase hex.
    Guid(u128),
    /// Any other spelling.
    Text(Box<str>),
}

// === impl RecordKey ===

impl RecordKey {
    /// The key of `id`.
    pub fn new(id: &str) -> RecordKey {
        match parse_guid(id) {
            Some(guid) => RecordKey::Guid(guid),
            None => RecordKey::Text(id.into()),
        }
    }

    /// Whether a set row can hold the Id: not empty and without `\n` (see `state::sqlite::seen`).
    pub(crate) fn is_storable(&self) -> bool {
        match self {
            RecordKey::Guid(_) => true,
            RecordKey::Text(text) => !text.is_empty() && !text.contains('\n'),
        }
    }

    /// Appends the Id to `out`, byte for byte as it came (without `fmt`'s machinery, once per record at
    /// commit).
    pub fn write_to(&self, out: &mut String) {
        self.with_text(|text| out.push_str(text));
    }

    /// Runs `use_text` on the Id's text (a GUID spelled out on the stack).
    fn with_text<R>(&self, use_text: impl FnOnce(&str) -> R) -> R {
        match self {
            RecordKey::Guid(guid) => {
                let mut text = [0u8; 36];
                format_guid(*guid, &mut text);
                // Only ASCII hex digits and dashes were written.
                use_text(std::str::from_utf8(&text).unwrap_or_default())
            }
            RecordKey::Text(text) => use_text(text),
        }
    }
}

impl From<&str> for RecordKey {
    fn from(id: &str) -> RecordKey {
        RecordKey::new(id)
    }
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_text(|text| f.write_str(text))
    }
}

/// Where the 32 hex digits of a canonical GUID are (dashes at 8, 13, 18 and 23).
const DIGITS: [usize; 32] = [
    0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16, 17, 19, 20, 21, 22, 24, 25, 26, 27, 28, 29,
    30, 31, 32, 33, 34, 35,
];

/// Lowercase hex digit → its value; anything else → `INVALID`.
const HEX_VALUE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut digit = 0;
    while digit < 10 {
        table[b'0' as usize + digit] = digit as u8;
        digit += 1;
    }
    let mut letter = 0;
    while letter < 6 {
        table[b'a' as usize + letter] = 10 + letter as u8;
        letter += 1;
    }
    table
};
const INVALID: u8 = 0x10;

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in lowercase hex → its 128 bits; `None` for any other spelling
/// (so two different strings never share a key).
pub(crate) fn parse_guid(id: &str) -> Option<u128> {
    let bytes: &[u8; 36] = id.as_bytes().try_into().ok()?;
    if bytes[8] != b'-' || bytes[13] != b'-' || bytes[18] != b'-' || bytes[23] != b'-' {
        return None;
    }
    // Two 64-bit halves: shifting a u128 by 4 32 times costs twice as much.
    let mut seen = 0u8;
    let mut half = |digits: &[usize]| {
        digits.iter().fold(0u64, |value, &at| {
            let digit = HEX_VALUE[usize::from(bytes[at])];
            seen |= digit;
            (value << 4) | u64::from(digit)
        })
    };
    let (high, low) = (half(&DIGITS[..16]), half(&DIGITS[16..]));
    if seen & INVALID != 0 {
        return None;
    }
    Some((u128::from(high) << 64) | u128::from(low))
}

/// The canonical spelling of `guid` into `out` (the inverse of [`parse_guid`]).
fn format_guid(guid: u128, out: &mut [u8; 36]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    *out = [b'-'; 36];
    // Two 64-bit halves, as in `parse_guid`.
    let halves = [(guid >> 64) as u64, guid as u64];
    for (half, digits) in halves.iter().zip(DIGITS.chunks_exact(16)) {
        for (position, &at) in digits.iter().enumerate() {
            let shift = 60 - 4 * position;
            out[at] = HEX[((half >> shift) & 0xf) as usize];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn canonical_guids_become_numbers_and_everything_else_stays_text() {
        let guid = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
        assert_eq!(
            RecordKey::new(guid),
            RecordKey::Guid(0x0a1b2c3d_4e5f_6789_abcd_ef0123456789)
        );
        for other in [
            "0A1B2C3D-4E5F-6789-ABCD-EF0123456789", // upper case is another string
            "0a1b2c3d4e5f6789abcdef0123456789",     // no dashes
            "{0a1b2c3d-4e5f-6789-abcd-ef0123456789}",
            "0a1b2c3d-4e5f-6789-abcd-ef012345678g",
            "0a1b2c3d-4e5f-6789-abcd_ef0123456789",
            "",
            "r1",
        ] {
            assert_eq!(
                RecordKey::new(other),
                RecordKey::Text(other.into()),
                "{other}"
            );
        }
    }

    proptest! {
        #[test]
        fn the_key_gives_the_id_back(id in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-fA-F-]{0,40}|.{0,40}") {
            prop_assert_eq!(RecordKey::new(&id).to_string(), id);
        }

        #[test]
        fn different_ids_have_different_keys(a in "[0-9a-fA-F-]{36}", b in "[0-9a-fA-F-]{36}") {
            prop_assert_eq!(RecordKey::new(&a) == RecordKey::new(&b), a == b);
        }
    }
}
