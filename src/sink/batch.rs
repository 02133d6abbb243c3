//! The unit a sink sends: events encoded in the sink's format, in one buffer.

use std::ops::Range;
use std::sync::Arc;

use crate::encode::{self, Format};
use crate::event::Event;

/// One encoded event of a batch: which event it is and where its payload lies in the batch buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedItem {
    /// Index into the batch's events.
    pub event: usize,
    /// The payload's bytes in the batch buffer.
    pub payload: Range<usize>,
}

/// Events encoded in one format, sharing one buffer (no allocation per event).
#[derive(Debug, Clone)]
pub struct EncodedBatch {
    tenant: Arc<str>,
    events: Arc<[Event]>,
    items: Vec<EncodedItem>,
    buf: Vec<u8>,
}

/// A first capacity for a batch buffer: the records' own bytes plus room for what a format adds. Growing a
/// buffer of a few hundred KiB by doubling copied it several times per batch.
fn estimated_bytes(events: &[Event]) -> usize {
    events
        .iter()
        .map(|event| event.record.raw.len() + 512)
        .sum()
}

// === impl EncodedBatch ===

impl EncodedBatch {
    /// Encodes the events at `indices` of `events` in `format`.
    pub fn encode(
        format: Format,
        tenant: Arc<str>,
        events: Arc<[Event]>,
        indices: impl IntoIterator<Item = usize>,
    ) -> EncodedBatch {
        let mut buf = Vec::with_capacity(estimated_bytes(&events));
        let mut items = Vec::with_capacity(events.len());
        for index in indices {
            let Some(event) = events.get(index) else {
                debug_assert!(false, "encoded index {index} out of range");
                continue;
            };
            let start = buf.len();
            encode::encode(format, event, &mut buf);
            items.push(EncodedItem {
                event: index,
                payload: start..buf.len(),
            });
        }
        EncodedBatch {
            tenant,
            events,
            items,
            buf,
        }
    }

    /// The tenant (configured name) these events came from.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Number of encoded events.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when the batch holds no event.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The encoded items, in order.
    pub fn items(&self) -> &[EncodedItem] {
        &self.items
    }

    /// The payload bytes of an item.
    pub fn payload(&self, item: &EncodedItem) -> &[u8] {
        &self.buf[item.payload.clone()]
    }

    /// The event an item was encoded from.
    pub fn event(&self, item: &EncodedItem) -> &Event {
        &self.events[item.event]
    }

    /// Each item's event and payload, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Event, &[u8])> + '_ {
        self.items
            .iter()
            .map(|item| (&self.events[item.event], &self.buf[item.payload.clone()]))
    }

    /// A batch of the same events limited to the items at `positions` (for resending part of a batch).
    pub fn subset(&self, positions: &[usize]) -> EncodedBatch {
        let mut buf = Vec::new();
        let mut items = Vec::with_capacity(positions.len());
        for &position in positions {
            let Some(item) = self.items.get(position) else {
                continue;
            };
            let start = buf.len();
            buf.extend_from_slice(&self.buf[item.payload.clone()]);
            items.push(EncodedItem {
                event: item.event,
                payload: start..buf.len(),
            });
        }
        EncodedBatch {
            tenant: self.tenant.clone(),
            events: self.events.clone(),
            items,
            buf,
        }
    }
}
