//! File hashes: SHA256 arrives as upper- or lowercase hex or as base64; outputs use lowercase hex.

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::{alphabet, Engine as _};

/// Lenient base64: padding optional, and non-zero trailing bits accepted (redacted samples end in `7777=`).
const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_allow_trailing_bits(true)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// A SHA256 as sent and, when it is one, as lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sha256 {
    /// The value as it appeared in the record.
    pub original: String,
    /// Lowercase hex of the 32 bytes; `None` when the original is neither hex nor base64 of 32 bytes.
    pub hex: Option<String>,
}

impl Sha256 {
    /// Normalizes `original`, keeping it.
    pub fn new(original: String) -> Sha256 {
        let hex = to_hex(&original);
        Sha256 { original, hex }
    }

    /// The hex form when there is one, else the original.
    pub fn best(&self) -> &str {
        self.hex.as_deref().unwrap_or(&self.original)
    }
}

/// Lowercase hex of a SHA256 given as hex (any case) or base64 (standard or URL-safe, padded or not).
pub fn to_hex(value: &str) -> Option<String> {
    let value = value.trim();
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(value.to_ascii_lowercase());
    }
    if !(43..=44).contains(&value.len()) {
        return None;
    }
    let mut bytes = [0u8; 33];
    let len = [STANDARD, URL_SAFE]
        .iter()
        .find_map(|engine| engine.decode_slice(value, &mut bytes).ok())?;
    (len == 32).then(|| hex(&bytes[..32]))
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// A hash of another algorithm (SHA1, MD5 in AIR entities): hex is lowercased, anything else kept.
pub fn normalize_other(value: &str) -> String {
    let value = value.trim();
    if value.bytes().all(|b| b.is_ascii_hexdigit()) {
        value.to_ascii_lowercase()
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uppercase_hex_becomes_lowercase() {
        let h =
            Sha256::new("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855".into());
        assert_eq!(
            h.hex.as_deref(),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(
            h.original,
            "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
        );
    }

    #[test]
    fn base64_becomes_hex() {
        let h = Sha256::new("SnltYq0lbVwFlAIf+lQugPXaMcDNV9t9pN/Zkhx7hQ8=".into());
        assert_eq!(
            h.hex.as_deref(),
            Some("4a796d62ad256d5c0594021ffa542e80f5da31c0cd57db7da4dfd9921c7b850f")
        );
    }

    #[test]
    fn url_safe_and_unpadded_base64_are_accepted() {
        let h = Sha256::new("SnltYq0lbVwFlAIf-lQugPXaMcDNV9t9pN_Zkhx7hQ8".into());
        assert_eq!(
            h.hex.as_deref(),
            Some("4a796d62ad256d5c0594021ffa542e80f5da31c0cd57db7da4dfd9921c7b850f")
        );
    }

    #[test]
    fn base64_with_nonzero_trailing_bits_is_accepted() {
        let h = Sha256::new("G2RPEZx++scsgqDs6wo6GyZpJuWbzRj0iPDSaGE7777=".into());
        assert_eq!(h.hex.as_deref().map(str::len), Some(64));
    }

    #[test]
    fn something_else_keeps_only_the_original() {
        for bad in ["", "abc", "not a hash at all, not a hash at all, nope!"] {
            assert_eq!(Sha256::new(bad.into()).hex, None, "{bad}");
        }
    }
}
