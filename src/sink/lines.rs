//! A batch as lines, for the line-oriented sinks (file, stdout): either one buffer that already holds every
//! payload and its `\n`, or the payloads as they are (the `json` format's records, shared), each to be
//! followed by a `\n`. Writing the second kind with vectored writes spares copying every record into a
//! buffer first, which was 4 % of the `json` benchmark's daemon CPU.

use std::io::{self, IoSlice, Write};

use bytes::Bytes;

/// At most this many segments go into one `writev` (Linux's `IOV_MAX`; the kernel refuses more). The
/// syslog transport's async writes use it too.
pub(crate) const MAX_SEGMENTS_PER_WRITE: usize = 1024;

/// The lines of one batch, owned (shared buffers), so they can move to a blocking thread.
#[derive(Debug, Clone)]
pub struct Lines {
    parts: Parts,
}

#[derive(Debug, Clone)]
enum Parts {
    /// Every line, `\n` included, in one buffer.
    Joined(Bytes),
    /// One payload per line, without its `\n`.
    Each(Vec<Bytes>),
}

// === impl Lines ===

impl Lines {
    /// Lines already joined in one buffer, each with its `\n`.
    pub(crate) fn joined(buf: Bytes) -> Lines {
        Lines {
            parts: Parts::Joined(buf),
        }
    }

    /// One line per payload; the `\n` after each is added when written.
    pub(crate) fn each(payloads: Vec<Bytes>) -> Lines {
        Lines {
            parts: Parts::Each(payloads),
        }
    }

    /// Writes every line to `out`, `\n` after each, with as few calls as `out` takes (a `writev` of up to
    /// [`MAX_SEGMENTS_PER_WRITE`] buffers for separate payloads). Does not flush. `std` has no stable
    /// `write_all_vectored`, so this loop advances over partial writes itself, as the syslog transport's
    /// async `write_vectored_all` does for a socket.
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        let payloads = match &self.parts {
            Parts::Joined(buf) => return out.write_all(buf),
            Parts::Each(payloads) => payloads,
        };
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(payloads.len() * 2);
        for payload in payloads {
            slices.push(IoSlice::new(payload));
            slices.push(IoSlice::new(b"\n"));
        }
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            let end = rest.len().min(MAX_SEGMENTS_PER_WRITE);
            match out.write_vectored(&rest[..end]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => IoSlice::advance_slices(&mut rest, written),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// The lines in one buffer (joined lines as they are; separate payloads copied).
    pub fn to_bytes(&self) -> Bytes {
        match &self.parts {
            Parts::Joined(buf) => buf.clone(),
            Parts::Each(_) => {
                let mut buf = Vec::new();
                // Writing into a `Vec` cannot fail.
                let _ = self.write_to(&mut buf);
                buf.into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `most` bytes per call, notes the most buffers one call was given, and
    /// is interrupted every other call.
    struct Trickle {
        written: Vec<u8>,
        most: usize,
        slices_seen: usize,
        calls: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls % 2 == 0 {
                return Err(io::ErrorKind::Interrupted.into());
            }
            self.slices_seen = self.slices_seen.max(bufs.len());
            let mut taken = 0;
            for buf in bufs {
                let take = buf.len().min(self.most - taken);
                self.written.extend_from_slice(&buf[..take]);
                taken += take;
                if taken == self.most {
                    break;
                }
            }
            Ok(taken)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn separate_payloads_are_written_whole_in_order_each_with_a_newline_across_partial_writes() {
        let payloads: Vec<Bytes> = (0..700)
            .map(|n| Bytes::from(format!("{{\"Id\":\"{n}\"}}")))
            .collect();
        let expected: Vec<u8> = payloads
            .iter()
            .flat_map(|payload| payload.iter().copied().chain([b'\n']))
            .collect();
        let lines = Lines::each(payloads);
        let mut out = Trickle {
            written: Vec::new(),
            most: 1000,
            slices_seen: 0,
            calls: 0,
        };
        lines.write_to(&mut out).expect("written");
        assert_eq!(out.written, expected);
        assert!(
            out.slices_seen <= MAX_SEGMENTS_PER_WRITE,
            "{}",
            out.slices_seen
        );
        assert_eq!(lines.to_bytes(), expected);
        assert_eq!(Lines::joined(expected.clone().into()).to_bytes(), expected);
    }

    #[test]
    fn a_writer_that_takes_nothing_is_an_error_not_a_loop() {
        let lines = Lines::each(vec![Bytes::from_static(b"{}")]);
        let mut full: &mut [u8] = &mut [];
        let error = lines.write_to(&mut full).expect_err("no room");
        assert_eq!(error.kind(), io::ErrorKind::WriteZero);
    }
}
