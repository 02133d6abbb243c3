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
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordKey::Guid(guid) => {
                let mut text = [0u8; 36];
                format_guid(*guid, &mut text);
                // Only ASCII hex digits and dashes were written.
                f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
            }
            RecordKey::Text(text) => f.write_str(text),
        }
    }
}

/// Whether a canonical GUID has a dash at `index`.
fn is_dash(index: usize) -> bool {
    matches!(index, 8 | 13 | 18 | 23)
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in lowercase hex → its 128 bits; `None` for any other spelling
/// (so two different strings never share a key).
pub(crate) fn parse_guid(id: &str) -> Option<u128> {
    let bytes = id.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut value: u128 = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        if is_dash(index) {
            if byte != b'-' {
                return None;
            }
            continue;
        }
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            b'a'..=b'f' => byte - b'a' + 10,
            _ => return None,
        };
        value = (value << 4) | u128::from(digit);
    }
    Some(value)
}

/// The canonical spelling of `guid` into `out` (the inverse of [`parse_guid`]).
fn format_guid(guid: u128, out: &mut [u8; 36]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut shift = 128;
    for (index, slot) in out.iter_mut().enumerate() {
        if is_dash(index) {
            *slot = b'-';
            continue;
        }
        shift -= 4;
        *slot = HEX[((guid >> shift) & 0xf) as usize];
    }
    debug_assert_eq!(shift, 0, "32 digits");
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
