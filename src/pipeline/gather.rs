//! Gathering batches for one send. Streams queue one batch per blob chunk; a request-based sink (HTTP) is
//! better served by fewer, fuller requests, so its driver joins the queued batches of one tenant until it
//! has the sink's `batch_max_events` or its `batch_timeout` has passed since the first one arrived.
//! Stream sinks (file, stdout, syslog) send each batch as it comes.
//!
//! A joined group keeps every batch it took, so each event's acknowledgement, dead letter and blob tracker
//! stay those of its own blob; its events are the batches' own, numbered across them ([`EventList`]).

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::deliver::Batch;
use crate::sink::{EventList, Gathering};

/// The batches of one send, and their events in order.
pub(crate) struct Group {
    /// The tenant of every batch in the group.
    pub tenant: Arc<str>,
    /// The events of all batches, in arrival order (shared with the batches, not copied).
    pub events: EventList,
    /// The batches, released together once the group is delivered.
    pub batches: Vec<Arc<Batch>>,
}

// === impl Group ===

impl Group {
    /// Batches of one tenant (one or more) joined into one list of events.
    fn join(batches: Vec<Arc<Batch>>) -> Group {
        debug_assert!(!batches.is_empty());
        debug_assert!(batches
            .iter()
            .all(|batch| batch.tenant == batches[0].tenant));
        Group {
            tenant: batches[0].tenant.clone(),
            events: EventList::joined(batches.iter().map(|batch| batch.events.clone())),
            batches,
        }
    }

    /// The batch that event `index` of the group came from.
    pub fn batch_of(&self, index: usize) -> &Batch {
        let owner = self.events.chunk_of(index);
        debug_assert!(owner < self.batches.len());
        &self.batches[owner.min(self.batches.len() - 1)]
    }
}

/// Takes batches off a sink's queue and groups them.
pub(crate) struct Gatherer {
    queue: mpsc::Receiver<Arc<Batch>>,
    gathering: Option<Gathering>,
    /// A batch taken off the queue that did not fit the previous group: it starts the next one.
    carried: Option<Arc<Batch>>,
}

// === impl Gatherer ===

impl Gatherer {
    pub(crate) fn new(queue: mpsc::Receiver<Arc<Batch>>, gathering: Option<Gathering>) -> Gatherer {
        Gatherer {
            queue,
            gathering,
            carried: None,
        }
    }

    /// Batches still queued (for the queue-depth gauge).
    pub(crate) fn queued(&self) -> usize {
        self.queue.len() + usize::from(self.carried.is_some())
    }

    /// The next group to send; `None` once the queue is closed and empty, or on `abort`.
    pub(crate) async fn next(&mut self, abort: &CancellationToken) -> Option<Group> {
        let first = match self.carried.take() {
            Some(batch) => batch,
            None => tokio::select! {
                batch = self.queue.recv() => batch?,
                () = abort.cancelled() => return None,
            },
        };
        let Some(gathering) = self.gathering else {
            return Some(Group::join(vec![first]));
        };
        let deadline = Instant::now() + gathering.timeout;
        let mut count = first.events.len();
        let mut batches = vec![first];
        while count < gathering.max_events {
            let next = tokio::select! {
                next = tokio::time::timeout_at(deadline, self.queue.recv()) => next,
                () = abort.cancelled() => break,
            };
            let Ok(Some(batch)) = next else {
                break; // the time is up, or the queue closed
            };
            if batch.tenant != batches[0].tenant
                || count + batch.events.len() > gathering.max_events
            {
                self.carried = Some(batch);
                break;
            }
            count += batch.events.len();
            batches.push(batch);
        }
        Some(Group::join(batches))
    }
}
