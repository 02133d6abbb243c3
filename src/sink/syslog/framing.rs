//! Stream framing (RFC 6587): octet counting, or a trailing LF.
//!
//! Octet counting (`MSG-LEN SP SYSLOG-MSG`) carries any byte, newlines included; it is mandatory over TLS
//! (RFC 5425). With LF framing a receiver ends the message at the first LF, so every LF inside a message is
//! replaced by a space before the terminating LF is appended (JSON stays equivalent: a raw LF can only be
//! whitespace between tokens there; CEF and LEEF escape their newlines).
//!
//! A framed batch is a list of segments ([`Framed`]), written with one vectored write: the length prefixes,
//! headers and LFs go into one buffer of their own, and each payload is a slice of the batch's buffer, shared
//! and not copied. (Copying every payload into one send buffer was 2 % of the daemon's instructions in the
//! syslog/ecs benchmark, for bytes that were already in memory.)

use bytes::{Bytes, BytesMut};

use super::config::Framing;

/// A batch of framed messages as segments in write order.
#[derive(Debug)]
pub(crate) struct Framed {
    /// The segments complete so far.
    segments: Vec<Bytes>,
    /// Framing bytes not yet cut into a segment (they all go into one allocation).
    pending: BytesMut,
    /// Bytes copied into the framing buffer so far.
    copied: usize,
}

// === impl Framed ===

impl Framed {
    /// An empty batch with room for `messages` messages and `head_bytes` bytes of prefixes and headers.
    pub(crate) fn with_capacity(messages: usize, head_bytes: usize) -> Framed {
        Framed {
            segments: Vec::with_capacity(messages * 2 + 1),
            pending: BytesMut::with_capacity(head_bytes),
            copied: 0,
        }
    }

    /// Appends the message `header` + `body` framed for a stream. `body` (the encoded event) is shared, not
    /// copied, unless LF framing has to replace newlines inside it.
    pub(crate) fn push(&mut self, framing: Framing, header: &[u8], body: Bytes) {
        match framing {
            Framing::OctetCounting => {
                self.copy(
                    itoa::Buffer::new()
                        .format(header.len() + body.len())
                        .as_bytes(),
                );
                self.copy(b" ");
                self.copy(header);
                self.share(body);
            }
            Framing::Lf => {
                self.copy_without_lf(header);
                if memchr::memchr(b'\n', &body).is_some() {
                    self.copy_without_lf(&body);
                } else {
                    self.share(body);
                }
                self.copy(b"\n");
            }
        }
    }

    /// The segments, in order, ready for a vectored write.
    pub(crate) fn into_segments(mut self) -> Vec<Bytes> {
        self.cut();
        self.segments
    }

    /// Bytes framed so far.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.segments.iter().map(Bytes::len).sum::<usize>() + self.pending.len()
    }

    /// Bytes framed so far that were copied into the framing buffer (prefixes, headers, LFs, and payloads
    /// whose newlines LF framing replaced), as opposed to shared payloads.
    pub(crate) fn copied(&self) -> usize {
        self.copied
    }

    fn copy(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        self.copied += bytes.len();
    }

    fn copy_without_lf(&mut self, mut rest: &[u8]) {
        while let Some(at) = memchr::memchr(b'\n', rest) {
            self.copy(&rest[..at]);
            self.copy(b" ");
            rest = &rest[at + 1..];
        }
        self.copy(rest);
    }

    fn share(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        self.cut();
        self.segments.push(bytes);
    }

    /// Ends the pending framing bytes as a segment (sharing the allocation with the next ones).
    fn cut(&mut self) {
        if !self.pending.is_empty() {
            self.segments.push(self.pending.split().freeze());
        }
    }
}

/// The segments joined into one buffer.
#[cfg(test)]
pub(crate) fn concat(segments: &[Bytes]) -> Vec<u8> {
    let mut out = Vec::with_capacity(segments.iter().map(Bytes::len).sum());
    for segment in segments {
        out.extend_from_slice(segment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(framing: Framing, messages: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut framed = Framed::with_capacity(messages.len(), 16);
        for (header, body) in messages {
            framed.push(framing, header, Bytes::copy_from_slice(body));
        }
        let len = framed.len();
        let out = concat(&framed.into_segments());
        assert_eq!(out.len(), len);
        out
    }

    #[test]
    fn octet_counting_prefixes_the_byte_length() {
        let out = framed(
            Framing::OctetCounting,
            &[(b"<14>1 - - - - - - ", "é\nx".as_bytes())],
        );
        assert_eq!(out, "22 <14>1 - - - - - - é\nx".as_bytes());
    }

    #[test]
    fn lf_framing_turns_inner_newlines_into_spaces() {
        let out = framed(
            Framing::Lf,
            &[(b"h\n", b"a\nb\r\nc"), (b"", b"d"), (b"\n\n", b"")],
        );
        assert_eq!(out, b"h a b\r c\nd\n  \n");
    }

    #[test]
    fn payloads_are_shared_and_framing_bytes_merge_into_one_segment_per_gap() {
        let batch = Bytes::from_static(b"first\nsecond\n");
        for framing in [Framing::OctetCounting, Framing::Lf] {
            let mut framed = Framed::with_capacity(2, 64);
            framed.push(framing, b"<14>1 h ", batch.slice(0..5));
            framed.push(framing, b"<14>1 h ", batch.slice(6..12));
            let segments = framed.into_segments();
            // head, payload, (LF +) head, payload (+ LF)
            let expected = if framing == Framing::Lf { 5 } else { 4 };
            assert_eq!(segments.len(), expected, "{framing:?}");
            assert_eq!(segments[1].as_ptr(), batch.as_ptr(), "not copied");
            assert_eq!(segments[3].as_ptr(), batch[6..].as_ptr(), "not copied");
        }
    }

    #[test]
    fn octet_counted_frames_split_back_into_the_messages() {
        let messages: [&[u8]; 3] = [b"one\ntwo", b"", "três ]\"".as_bytes()];
        let split: Vec<(&[u8], &[u8])> = messages
            .iter()
            .map(|message| message.split_at(message.len() / 2))
            .collect();
        let out = framed(Framing::OctetCounting, &split);
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
