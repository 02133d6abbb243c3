//! Stream framing (RFC 6587): octet counting, or a trailing LF.
//!
//! Octet counting (`MSG-LEN SP SYSLOG-MSG`) carries any byte, newlines included; it is mandatory over TLS
//! (RFC 5425). With LF framing a receiver ends the message at the first LF, so every LF inside a message is
//! replaced by a space before the terminating LF is appended (JSON stays equivalent: a raw LF can only be
//! whitespace between tokens there; CEF and LEEF escape their newlines).

use super::config::Framing;

/// Appends the message `header` + `body` framed for a stream to `out` (two parts, so that the body, the
/// encoded event, is copied once: straight from the batch into the send buffer).
pub(crate) fn frame(framing: Framing, header: &[u8], body: &[u8], out: &mut Vec<u8>) {
    match framing {
        Framing::OctetCounting => {
            out.extend_from_slice(
                itoa::Buffer::new()
                    .format(header.len() + body.len())
                    .as_bytes(),
            );
            out.push(b' ');
            out.extend_from_slice(header);
            out.extend_from_slice(body);
        }
        Framing::Lf => {
            for part in [header, body] {
                let mut rest = part;
                while let Some(at) = memchr::memchr(b'\n', rest) {
                    out.extend_from_slice(&rest[..at]);
                    out.push(b' ');
                    rest = &rest[at + 1..];
                }
                out.extend_from_slice(rest);
            }
            out.push(b'\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octet_counting_prefixes_the_byte_length() {
        let mut out = Vec::new();
        frame(
            Framing::OctetCounting,
            b"<14>1 - - - - - - ",
            "é\nx".as_bytes(),
            &mut out,
        );
        assert_eq!(out, "22 <14>1 - - - - - - é\nx".as_bytes());
    }

    #[test]
    fn lf_framing_turns_inner_newlines_into_spaces() {
        let mut out = Vec::new();
        frame(Framing::Lf, b"h\n", b"a\nb\r\nc", &mut out);
        frame(Framing::Lf, b"", b"d", &mut out);
        frame(Framing::Lf, b"\n\n", b"", &mut out);
        assert_eq!(out, b"h a b\r c\nd\n  \n");
    }

    #[test]
    fn octet_counted_frames_split_back_into_the_messages() {
        let messages: [&[u8]; 3] = [b"one\ntwo", b"", "três ]\"".as_bytes()];
        let mut out = Vec::new();
        for message in messages {
            let (header, body) = message.split_at(message.len() / 2);
            frame(Framing::OctetCounting, header, body, &mut out);
        }
        let mut rest = &out[..];
        let mut parsed = Vec::new();
        while !rest.is_empty() {
            let space = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
            let len: usize = std::str::from_utf8(&rest[..space])
                .ok()
                .and_then(|text| text.parse().ok())
                .unwrap_or(usize::MAX);
            assert!(space + 1 + len <= rest.len(), "frame length out of range");
            parsed.push(&rest[space + 1..space + 1 + len]);
            rest = &rest[space + 1 + len..];
        }
        assert_eq!(parsed, messages);
    }
}
