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

/// How much recently written data is kept for a replay (1 MiB).
pub(crate) const REPLAY_BYTES: usize = 1024 * 1024;

/// How old written data may be and still be resent after a break: older data has surely been read.
pub(crate) const REPLAY_AGE: Duration = Duration::from_secs(10);

/// Recently written framed batches, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    batches: VecDeque<(Instant, Vec<u8>)>,
    bytes: usize,
    /// The connection these batches were written on broke: resend them before anything else.
    due: bool,
}

// === impl Replay ===

impl Replay {
    /// Remembers a batch written (and flushed) on the current connection. Returns a spare buffer for the next
    /// batch (an evicted one when the window overflowed).
    pub(crate) fn written(&mut self, batch: Vec<u8>) -> Vec<u8> {
        self.due = false;
        self.bytes += batch.len();
        self.batches.push_back((Instant::now(), batch));
        // Keep at least the newest batch, whatever its size.
        let mut spare = self.forget(|bytes, _| bytes > REPLAY_BYTES);
        spare.clear();
        spare
    }

    /// The connection broke: the recent batches are to be written again on the next one.
    pub(crate) fn connection_broken(&mut self) {
        self.connection_broken_at(Instant::now());
    }

    fn connection_broken_at(&mut self, now: Instant) {
        self.forget(|_, written| now.duration_since(written) > REPLAY_AGE);
        self.due = !self.batches.is_empty();
    }

    /// Drops the oldest batches while `drop(total bytes, written at)` holds for the oldest, keeping the
    /// newest; returns the last dropped buffer (for reuse).
    fn forget(&mut self, drop: impl Fn(usize, Instant) -> bool) -> Vec<u8> {
        let mut spare = Vec::new();
        while let Some((written, _)) = self.batches.front() {
            if self.batches.len() == 1 || !drop(self.bytes, *written) {
                break;
            }
            if let Some((_, oldest)) = self.batches.pop_front() {
                self.bytes -= oldest.len();
                spare = oldest;
            }
        }
        spare
    }

    /// The bytes to resend before the next batch, when a replay is due.
    pub(crate) fn due(&self) -> Option<Vec<u8>> {
        if !self.due {
            return None;
        }
        let mut bytes = Vec::with_capacity(self.bytes);
        for (_, batch) in &self.batches {
            bytes.extend_from_slice(batch);
        }
        Some(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_connection_makes_the_window_due_once() {
        let mut replay = Replay::default();
        replay.connection_broken();
        assert_eq!(replay.due(), None, "nothing written, nothing to resend");
        replay.written(b"one ".to_vec());
        replay.written(b"two ".to_vec());
        assert_eq!(replay.due(), None);
        replay.connection_broken();
        assert_eq!(replay.due().as_deref(), Some(&b"one two "[..]));
        replay.written(b"three ".to_vec());
        assert_eq!(replay.due(), None, "resent together with the next batch");
        replay.connection_broken();
        assert_eq!(replay.due().as_deref(), Some(&b"one two three "[..]));
    }

    #[test]
    fn the_window_is_bounded_but_keeps_the_newest_batch() {
        let mut replay = Replay::default();
        for _ in 0..5 {
            replay.written(vec![b'x'; REPLAY_BYTES / 2]);
        }
        assert!(replay.bytes <= REPLAY_BYTES);
        assert_eq!(replay.batches.len(), 2);
        replay.written(vec![b'y'; REPLAY_BYTES * 2]);
        assert_eq!(replay.batches.len(), 1);
        replay.connection_broken();
        assert_eq!(
            replay.due().map(|bytes| bytes.len()),
            Some(REPLAY_BYTES * 2)
        );
    }
}

#[cfg(test)]
mod age_tests {
    use super::*;

    #[test]
    fn batches_older_than_the_replay_age_are_not_resent() {
        let mut replay = Replay::default();
        replay.written(b"old ".to_vec());
        let later = Instant::now() + REPLAY_AGE + Duration::from_secs(1);
        replay.batches[0].0 = Instant::now();
        replay.written(b"new ".to_vec());
        replay.batches[1].0 = later;
        replay.connection_broken_at(later);
        assert_eq!(replay.due().as_deref(), Some(&b"new "[..]));
    }
}
