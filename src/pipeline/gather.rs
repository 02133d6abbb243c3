//! Gathering batches for one send. Streams queue one batch per blob chunk; a request-based sink (HTTP) is
//! better served by fewer, fuller requests, so its driver joins the queued batches of one tenant until it
//! has the sink's `batch_max_events` or its `batch_timeout` has passed since the first one arrived.
//! Stream sinks (file, stdout, syslog) never wait: each send takes the batch that came and those of its
//! tenant already queued behind it. An HTTP sink without gathering (`batch_timeout = "0s"`) sends each
//! batch as it comes.
//!
//! A joined group keeps every batch it took, so each event's acknowledgement, dead letter and blob tracker
//! stay those of its own blob; its events are the batches' own, numbered across them ([`EventList`]).

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::deliver::Batch;
use crate::sink::{EventList, Grouping};

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
    grouping: Grouping,
    /// A batch taken off the queue that did not fit the previous group: it starts the next one.
    carried: Option<Arc<Batch>>,
}

// === impl Gatherer ===

impl Gatherer {
    pub(crate) fn new(queue: mpsc::Receiver<Arc<Batch>>, grouping: Grouping) -> Gatherer {
        Gatherer {
            queue,
            grouping,
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
        let gathering = match self.grouping {
            Grouping::Each => return Some(Group::join(vec![first])),
            Grouping::Queued => return Some(self.join_queued(first)),
            Grouping::Gather(gathering) => gathering,
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

    /// A stream sink's group: `first` and the batches of its tenant already queued behind it, taken
    /// without waiting. A stream sink never waits for a batch, but one write of what is there costs one
    /// hand-off to the blocking pool (file) or one `writev` (syslog) instead of one per batch. The group
    /// holds at most the queue's capacity and one more batch, all of which were in memory already.
    fn join_queued(&mut self, first: Arc<Batch>) -> Group {
        debug_assert_eq!(self.grouping, Grouping::Queued);
        let most = self.queue.max_capacity() + 1;
        let mut batches = vec![first];
        while batches.len() < most {
            let Ok(batch) = self.queue.try_recv() else {
                break; // nothing more is queued (or the queue closed)
            };
            if batch.tenant != batches[0].tenant {
                self.carried = Some(batch);
                break;
            }
            batches.push(batch);
        }
        Group::join(batches)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::pipeline::commit::test_tracker;
    use crate::pipeline::progress::InFlightIds;
    use crate::sink::test_chunk;

    /// A gatherer for a stream sink, and the sender of its queue of `capacity`.
    fn stream_sink(capacity: usize) -> (mpsc::Sender<Arc<Batch>>, Gatherer) {
        let (sender, queue) = mpsc::channel(capacity);
        (sender, Gatherer::new(queue, Grouping::Queued))
    }

    /// A batch of tenant `tenant` holding one event per id.
    fn batch(tenant: &str, ids: &[&str]) -> Arc<Batch> {
        let (committer, _inbox) = mpsc::channel(1);
        Arc::new(Batch {
            tenant: tenant.into(),
            events: test_chunk(ids),
            tracker: test_tracker("blob", &Arc::new(InFlightIds::default()), &committer),
        })
    }

    /// The ids of a group's events, in order.
    fn ids(group: &Group) -> Vec<String> {
        (0..group.events.len())
            .filter_map(|index| group.events.get(index))
            .map(|event| event.record.id.to_string())
            .collect()
    }

    async fn next(gatherer: &mut Gatherer) -> Group {
        let abort = CancellationToken::new();
        tokio::time::timeout(Duration::from_secs(5), gatherer.next(&abort))
            .await
            .expect("a stream sink's group comes without waiting")
            .expect("a group")
    }

    #[tokio::test]
    async fn a_stream_sink_takes_the_batches_of_its_tenant_already_queued_in_one_group() {
        let (sender, mut gatherer) = stream_sink(4);
        for queued in [
            batch("contoso", &["1", "2"]),
            batch("contoso", &["3"]),
            batch("fabrikam", &["4"]),
            batch("contoso", &["5"]),
        ] {
            sender.send(queued).await.expect("queued");
        }

        let first = next(&mut gatherer).await;
        assert_eq!(&*first.tenant, "contoso");
        assert_eq!(ids(&first), ["1", "2", "3"]);
        assert_eq!(first.batches.len(), 2);
        assert!(std::ptr::eq(first.batch_of(2), &*first.batches[1]));

        let other_tenant = next(&mut gatherer).await;
        assert_eq!(&*other_tenant.tenant, "fabrikam");
        assert_eq!(ids(&other_tenant), ["4"], "a group holds one tenant");
        assert_eq!(gatherer.queued(), 1);

        let last = next(&mut gatherer).await;
        assert_eq!(ids(&last), ["5"]);
        assert_eq!(gatherer.queued(), 0);
    }

    #[tokio::test]
    async fn a_stream_sink_sends_a_lone_batch_at_once_and_a_carried_one_with_the_queue_behind_it() {
        let (sender, mut gatherer) = stream_sink(2);
        sender.send(batch("contoso", &["1"])).await.expect("queued");
        assert_eq!(
            ids(&next(&mut gatherer).await),
            ["1"],
            "nothing else queued: no wait"
        );

        sender.send(batch("contoso", &["2"])).await.expect("queued");
        sender
            .send(batch("fabrikam", &["3"]))
            .await
            .expect("queued");
        assert_eq!(ids(&next(&mut gatherer).await), ["2"]);
        for id in ["4", "5"] {
            sender.send(batch("fabrikam", &[id])).await.expect("queued");
        }
        let group = next(&mut gatherer).await;
        assert_eq!(
            ids(&group),
            ["3", "4", "5"],
            "the carried batch and the full queue: the most a group holds"
        );
        assert_eq!(group.batches.len(), 3);
    }

    #[tokio::test]
    async fn an_http_sink_without_gathering_sends_one_batch_at_a_time_even_with_more_queued() {
        let (sender, queue) = mpsc::channel(4);
        let mut gatherer = Gatherer::new(queue, Grouping::Each);
        for id in ["1", "2"] {
            sender.send(batch("contoso", &[id])).await.expect("queued");
        }
        assert_eq!(ids(&next(&mut gatherer).await), ["1"]);
        assert_eq!(ids(&next(&mut gatherer).await), ["2"]);
    }
}
