//! The unit a sink sends: events encoded in the sink's format, in one buffer.
//!
//! Each payload is followed by `\n` in the buffer (not part of the payload), so a line-oriented sink (file,
//! stdout) writes the buffer as it is ([`EncodedBatch::lines`]) instead of copying every payload again.
//!
//! The `json` format is the record exactly as received, so its batch has no buffer: each payload is the
//! event's own record bytes (shared, not copied), and the lines are those records with a `\n` after each.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use super::lines::Lines;
use crate::encode::{self, Format};
use crate::event::Event;

/// One encoded event of a batch: which event it is and where its payload lies in the batch buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedItem {
    /// Index into the batch's events.
    pub event: usize,
    /// The payload's bytes in the batch buffer (of a `json` batch: in the event's record).
    pub payload: Range<usize>,
}

/// Events encoded in one format, sharing one buffer (no allocation per event).
#[derive(Debug, Clone)]
pub struct EncodedBatch {
    tenant: Arc<str>,
    events: EventList,
    items: Vec<EncodedItem>,
    payloads: Payloads,
    /// Bytes of every payload, with a `\n` after each.
    encoded_len: usize,
}

/// Where a batch's payloads are.
#[derive(Debug, Clone)]
enum Payloads {
    /// In one buffer: every item's payload followed by `\n`, in item order.
    Buffer(Bytes),
    /// Each item's payload is its event's record, as received (`json`).
    Records,
}

/// The events a batch is encoded from, numbered from 0: one blob chunk's events, or several chunks' (an HTTP
/// sink's gathered send). The chunks are shared, never copied: joining copied every event of every gathered
/// batch (its strings and models) once per send.
#[derive(Debug, Clone, Default)]
pub struct EventList {
    chunks: Vec<Arc<Vec<Event>>>,
    /// Where each chunk ends in the joined numbering (ascending; the last is the length).
    ends: Vec<usize>,
}

// === impl EventList ===

impl EventList {
    /// The events of several chunks, numbered in order.
    pub fn joined(chunks: impl IntoIterator<Item = Arc<Vec<Event>>>) -> EventList {
        let mut list = EventList::default();
        for chunk in chunks {
            let end = list.len() + chunk.len();
            list.chunks.push(chunk);
            list.ends.push(end);
        }
        list
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }

    /// True when there is no event.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Which chunk event `index` is in (the position in [`joined`](Self::joined)'s order).
    pub fn chunk_of(&self, index: usize) -> usize {
        self.ends.partition_point(|&end| end <= index)
    }

    /// Event `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&Event> {
        let chunk = self.chunk_of(index);
        let start = match chunk {
            0 => 0,
            _ => self.ends[chunk - 1],
        };
        self.chunks.get(chunk)?.get(index - start)
    }
}

impl From<Arc<Vec<Event>>> for EventList {
    fn from(chunk: Arc<Vec<Event>>) -> EventList {
        EventList::joined([chunk])
    }
}

impl From<Vec<Event>> for EventList {
    fn from(events: Vec<Event>) -> EventList {
        EventList::joined([Arc::new(events)])
    }
}

impl std::ops::Index<usize> for EventList {
    type Output = Event;

    /// Event `index`; like a slice, out of range is a bug and panics.
    fn index(&self, index: usize) -> &Event {
        match self.get(index) {
            Some(event) => event,
            None => panic!("event {index} of a list of {}", self.len()),
        }
    }
}

/// A first capacity for a batch buffer: the records' own bytes plus room for what a format adds. Growing a
/// buffer of a few hundred KiB by doubling copied it several times per batch. `ecs` carries the record
/// (`event.original`) and its fields, and AIR's `Data` once more as an object: about 2.35 times the
/// records' bytes in the benchmark's mix, so it gets 2.5 times.
fn estimated_bytes(format: Format, events: &EventList) -> usize {
    let raw: usize = events
        .chunks
        .iter()
        .flat_map(|chunk| chunk.iter())
        .map(|event| event.record.raw.len() + 512)
        .sum();
    match format {
        Format::Ecs => raw.saturating_mul(5) / 2,
        Format::Json | Format::Cef | Format::Leef => raw,
    }
}

// === impl EncodedBatch ===

impl EncodedBatch {
    /// Encodes the events at `indices` of `events` in `format`.
    pub fn encode(
        format: Format,
        tenant: Arc<str>,
        events: impl Into<EventList>,
        indices: impl IntoIterator<Item = usize>,
    ) -> EncodedBatch {
        let events = events.into();
        if format == Format::Json {
            return EncodedBatch::records(tenant, events, indices);
        }
        let mut buf = Vec::with_capacity(estimated_bytes(format, &events));
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
            buf.push(b'\n');
        }
        EncodedBatch {
            tenant,
            events,
            items,
            encoded_len: buf.len(),
            payloads: Payloads::Buffer(buf.into()),
        }
    }

    /// A `json` batch: each payload is the event's record as received, which [`encode::encode`] would
    /// only copy.
    fn records(
        tenant: Arc<str>,
        events: EventList,
        indices: impl IntoIterator<Item = usize>,
    ) -> EncodedBatch {
        let mut items = Vec::with_capacity(events.len());
        let mut encoded_len = 0;
        for index in indices {
            let Some(event) = events.get(index) else {
                debug_assert!(false, "encoded index {index} out of range");
                continue;
            };
            let length = event.record.raw.len();
            items.push(EncodedItem {
                event: index,
                payload: 0..length,
            });
            encoded_len += length + 1;
        }
        EncodedBatch {
            tenant,
            events,
            items,
            payloads: Payloads::Records,
            encoded_len,
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
        match &self.payloads {
            Payloads::Buffer(buf) => &buf[item.payload.clone()],
            Payloads::Records => {
                &self.events[item.event].record.raw.as_bytes()[item.payload.clone()]
            }
        }
    }

    /// The item's payload as a shared slice of the batch buffer or of its record (no copy; it keeps the
    /// buffer or the record alive).
    pub fn shared_payload(&self, item: &EncodedItem) -> Bytes {
        match &self.payloads {
            Payloads::Buffer(buf) => buf.slice(item.payload.clone()),
            Payloads::Records => self.events[item.event]
                .record
                .raw
                .as_bytes()
                .slice(item.payload.clone()),
        }
    }

    /// Bytes of every payload, with a `\n` after each.
    pub fn encoded_len(&self) -> usize {
        self.encoded_len
    }

    /// Every payload followed by `\n`, in order: the batch as lines, shared, not copied (the buffer, or
    /// each record and a `\n`). [`Lines::write_to`] writes them with as few calls as it can.
    pub fn lines(&self) -> Lines {
        match &self.payloads {
            Payloads::Buffer(buf) => Lines::joined(buf.clone()),
            Payloads::Records => Lines::each(
                self.items
                    .iter()
                    .map(|item| self.shared_payload(item))
                    .collect(),
            ),
        }
    }

    /// The event an item was encoded from.
    pub fn event(&self, item: &EncodedItem) -> &Event {
        &self.events[item.event]
    }

    /// Each item's event and payload, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Event, &[u8])> + '_ {
        self.items
            .iter()
            .map(|item| (&self.events[item.event], self.payload(item)))
    }

    /// A batch of the same events limited to the items at `positions` (for resending part of a batch).
    pub fn subset(&self, positions: &[usize]) -> EncodedBatch {
        if let Payloads::Records = self.payloads {
            let indices = positions
                .iter()
                .filter_map(|&position| self.items.get(position))
                .map(|item| item.event);
            return EncodedBatch::records(self.tenant.clone(), self.events.clone(), indices);
        }
        let mut buf = Vec::new();
        let mut items = Vec::with_capacity(positions.len());
        for &position in positions {
            let Some(item) = self.items.get(position) else {
                continue;
            };
            let start = buf.len();
            buf.extend_from_slice(self.payload(item));
            items.push(EncodedItem {
                event: item.event,
                payload: start..buf.len(),
            });
            buf.push(b'\n');
        }
        EncodedBatch {
            tenant: self.tenant.clone(),
            events: self.events.clone(),
            items,
            encoded_len: buf.len(),
            payloads: Payloads::Buffer(buf.into()),
        }
    }
}

/// Tests: one pass-through event (type 28, tenant `contoso`) per Id, as one blob chunk.
#[cfg(test)]
pub(crate) fn test_chunk(ids: &[&str]) -> Arc<Vec<Event>> {
    use crate::event::{NormalizeContext, Record};

    let context = NormalizeContext::new("contoso");
    let events = ids
        .iter()
        .map(|id| {
            let raw = format!(r#"{{"Id":"{id}","RecordType":28}}"#);
            let record = Record::from_json(raw.into_bytes()).expect("record");
            Event::passthrough(record, &context)
        })
        .collect();
    Arc::new(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_chunks_are_numbered_in_order_without_copies() {
        let first = test_chunk(&["a", "b"]);
        let second = test_chunk(&[]);
        let third = test_chunk(&["c"]);
        let list = EventList::joined([first.clone(), second, third.clone()]);
        assert_eq!(list.len(), 3);
        let ids: Vec<&str> = (0..3).map(|i| list[i].record.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(
            (0..3).map(|i| list.chunk_of(i)).collect::<Vec<_>>(),
            [0, 0, 2]
        );
        assert!(list.get(3).is_none());
        assert!(std::ptr::eq(&list[2], &third[0]), "shared, not copied");
        assert!(std::ptr::eq(&list[1], &first[1]));
        assert!(EventList::default().is_empty());
    }

    #[test]
    fn a_batch_over_joined_chunks_encodes_each_event_once() {
        let list = EventList::joined([test_chunk(&["a"]), test_chunk(&["b", "c"])]);
        let batch = EncodedBatch::encode(Format::Json, "contoso".into(), list, [2, 0]);
        let ids: Vec<&str> = batch
            .iter()
            .map(|(event, _)| event.record.id.as_str())
            .collect();
        assert_eq!(ids, ["c", "a"]);
        assert_eq!(
            batch.payload(&batch.items()[0]),
            br#"{"Id":"c","RecordType":28}"#
        );
    }

    #[test]
    fn a_json_batch_is_its_records_shared_as_lines_and_as_payloads_and_in_a_subset() {
        let list = EventList::joined([test_chunk(&["a"]), test_chunk(&["b", "c"])]);
        let batch = EncodedBatch::encode(Format::Json, "contoso".into(), list.clone(), [2, 0, 1]);
        let raw = |id: &str| format!(r#"{{"Id":"{id}","RecordType":28}}"#);
        let expected = format!("{}\n{}\n{}\n", raw("c"), raw("a"), raw("b"));
        assert_eq!(batch.lines().to_bytes(), expected.as_bytes());
        assert_eq!(batch.encoded_len(), expected.len());
        let first = &batch.items()[0];
        assert_eq!(batch.payload(first), raw("c").as_bytes());
        assert_eq!(
            batch.shared_payload(first).as_ptr(),
            list[2].record.raw.as_bytes().as_ptr(),
            "the record's own bytes, not a copy"
        );

        let retry = batch.subset(&[2, 0, 7]);
        let ids: Vec<&str> = retry
            .iter()
            .map(|(event, _)| event.record.id.as_str())
            .collect();
        assert_eq!(ids, ["b", "c"], "a position out of range is skipped");
        assert_eq!(
            retry.lines().to_bytes(),
            format!("{}\n{}\n", raw("b"), raw("c")).as_bytes()
        );
        assert_eq!(retry.encoded_len(), raw("b").len() + raw("c").len() + 2);
    }
}
