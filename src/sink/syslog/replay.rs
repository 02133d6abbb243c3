//! Replay of recently written stream data after a broken connection.
//!
//! A completed write on TCP or TLS only means the bytes reached our kernel. When the receiver stops or resets,
//! what sat in its socket buffer (or in its memory, not yet processed) is gone, and the sink has already
//! reported those batches as delivered. So the sink keeps what it wrote on the current connection during the
//! last [`REPLAY_AGE`] (at most [`REPLAY_BYTES`]) and, when that connection breaks, writes it again first on
//! the next one. The price is duplicates after a reconnect (at most that window); the gain is that a receiver
//! stop or restart loses nothing it had not read yet (a receiver reads within milliseconds unless stalled).
//! A crash of this daemon still loses the window: that is what RELP's application-level acknowledgements
//! are for.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// How much recently written data is kept for a replay (1 MiB).
pub(crate) const REPLAY_BYTES: usize = 1024 * 1024;

/// How old written data may be and still be resent after a break: older data has surely been read.
pub(crate) const REPLAY_AGE: Duration = Duration::from_secs(10);

/// Recently written framed batches, oldest first.
///
/// A batch is kept as the segments it was written from (see `framing`): its payloads stay slices of the
/// encoded batch's buffer, so keeping a batch keeps that buffer. The window is bounded by what it keeps in
/// memory (`retained`), which is at least what was written.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    batches: VecDeque<Written>,
    /// Memory the kept batches hold.
    retained: usize,
    /// The connection these batches were written on broke: resend them before anything else.
    due: bool,
}

/// One batch written on the current connection.
#[derive(Debug)]
struct Written {
    at: Instant,
    segments: Vec<Bytes>,
    retained: usize,
}

// === impl Replay ===

impl Replay {
    /// Remembers a batch written (and flushed) on the current connection: its `segments`, and the memory
    /// they hold (`retained` bytes: the buffers they are slices of).
    pub(crate) fn written(&mut self, segments: Vec<Bytes>, retained: usize) {
        debug_assert!(retained >= segments.iter().map(Bytes::len).sum::<usize>());
        self.due = false;
        self.retained += retained;
        self.batches.push_back(Written {
            at: Instant::now(),
            segments,
            retained,
        });
        // Keep at least the newest batch, whatever its size.
        self.forget(|retained, _| retained > REPLAY_BYTES);
    }

    /// The connection broke: the recent batches are to be written again on the next one.
    pub(crate) fn connection_broken(&mut self) {
        self.connection_broken_at(Instant::now());
    }

    fn connection_broken_at(&mut self, now: Instant) {
        self.forget(|_, written| now.duration_since(written) > REPLAY_AGE);
        self.due = !self.batches.is_empty();
    }

    /// Drops the oldest batches while `drop(memory retained, written at)` holds for the oldest, keeping the
    /// newest.
    fn forget(&mut self, drop: impl Fn(usize, Instant) -> bool) {
        while let Some(oldest) = self.batches.front() {
            if self.batches.len() == 1 || !drop(self.retained, oldest.at) {
                break;
            }
            self.retained -= oldest.retained;
            self.batches.pop_front();
        }
    }

    /// The segments to resend before the next batch, when a replay is due (shared, not copied).
    pub(crate) fn due(&self) -> Option<Vec<Bytes>> {
        if !self.due {
            return None;
        }
        let segments = self
            .batches
            .iter()
            .flat_map(|batch| batch.segments.iter().cloned())
            .collect();
        Some(segments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::syslog::framing::concat;

    fn write(replay: &mut Replay, bytes: &[u8]) {
        replay.written(vec![Bytes::copy_from_slice(bytes)], bytes.len());
    }

    fn due(replay: &Replay) -> Option<Vec<u8>> {
        replay.due().map(|segments| concat(&segments))
    }

    #[test]
    fn a_broken_connection_makes_the_window_due_once() {
        let mut replay = Replay::default();
        replay.connection_broken();
        assert_eq!(due(&replay), None, "nothing written, nothing to resend");
        write(&mut replay, b"one ");
        write(&mut replay, b"two ");
        assert_eq!(due(&replay), None);
        replay.connection_broken();
        assert_eq!(due(&replay).as_deref(), Some(&b"one two "[..]));
        write(&mut replay, b"three ");
        assert_eq!(due(&replay), None, "resent together with the next batch");
        replay.connection_broken();
        assert_eq!(due(&replay).as_deref(), Some(&b"one two three "[..]));
    }

    #[test]
    fn the_window_is_bounded_but_keeps_the_newest_batch() {
        let mut replay = Replay::default();
        for _ in 0..5 {
            write(&mut replay, &vec![b'x'; REPLAY_BYTES / 2]);
        }
        assert!(replay.retained <= REPLAY_BYTES);
        assert_eq!(replay.batches.len(), 2);
        write(&mut replay, &vec![b'y'; REPLAY_BYTES * 2]);
        assert_eq!(replay.batches.len(), 1);
        replay.connection_broken();
        assert_eq!(
            due(&replay).map(|bytes| bytes.len()),
            Some(REPLAY_BYTES * 2)
        );
    }

    #[test]
    fn the_bound_counts_the_buffers_a_batch_keeps_not_only_what_it_wrote() {
        let mut replay = Replay::default();
        // 1 KiB written from a batch whose buffer is 600 KiB (its other payloads were truncated away).
        let buffer = Bytes::from(vec![b'z'; 600 * 1024]);
        for _ in 0..3 {
            replay.written(vec![buffer.slice(0..1024)], buffer.len());
        }
        assert_eq!(
            replay.batches.len(),
            1,
            "two such batches already hold more than the bound"
        );
        assert_eq!(replay.retained, buffer.len());
    }
}

#[cfg(test)]
mod age_tests {
    use super::*;
    use crate::sink::syslog::framing::concat;

    #[test]
    fn batches_older_than_the_replay_age_are_not_resent() {
        let mut replay = Replay::default();
        replay.written(vec![Bytes::from_static(b"old ")], 4);
        let later = Instant::now() + REPLAY_AGE + Duration::from_secs(1);
        replay.batches[0].at = Instant::now();
        replay.written(vec![Bytes::from_static(b"new ")], 4);
        replay.batches[1].at = later;
        replay.connection_broken_at(later);
        let due = replay.due().map(|segments| concat(&segments));
        assert_eq!(due.as_deref(), Some(&b"new "[..]));
    }
}
