//! Merging the results of a batch's requests into one [`SendOutcome`].

use crate::sink::{ItemOutcome, SendOutcome, SinkError};

/// One outcome slot per item of a batch, filled as requests complete.
#[derive(Debug)]
pub(crate) struct Outcomes {
    sink: String,
    items: Vec<Option<ItemOutcome>>,
}

// === impl Outcomes ===

impl Outcomes {
    /// Empty slots for a batch of `len` items of sink `sink`.
    pub(crate) fn new(sink: &str, len: usize) -> Outcomes {
        Outcomes {
            sink: sink.to_string(),
            items: vec![None; len],
        }
    }

    /// Sets the outcome of the item at `position`.
    pub(crate) fn set(&mut self, position: usize, outcome: ItemOutcome) {
        if let Some(slot) = self.items.get_mut(position) {
            *slot = Some(outcome);
        }
    }

    /// True when the item at `position` has an outcome already.
    pub(crate) fn is_set(&self, position: usize) -> bool {
        self.items.get(position).is_some_and(Option::is_some)
    }

    /// Sets the same outcome for every item at `positions`.
    pub(crate) fn set_all(&mut self, positions: &[usize], outcome: &ItemOutcome) {
        for &position in positions {
            self.set(position, outcome.clone());
        }
    }

    /// One outcome for the batch: `Delivered` / `Retry` / `Rejected` when every item agrees, `Partial`
    /// otherwise. An item left without an outcome (a bug) is retried, never counted as delivered.
    pub(crate) fn finish(self) -> SendOutcome {
        let items: Vec<ItemOutcome> = self
            .items
            .into_iter()
            .map(|slot| {
                slot.unwrap_or(ItemOutcome::Retry {
                    reason: "no result recorded for this event".into(),
                    retry_after: None,
                })
            })
            .collect();
        if items.iter().all(|item| *item == ItemOutcome::Delivered) {
            return SendOutcome::Delivered;
        }
        if items
            .iter()
            .all(|item| matches!(item, ItemOutcome::Retry { .. }))
        {
            let retry_after = items
                .iter()
                .filter_map(|item| match item {
                    ItemOutcome::Retry { retry_after, .. } => *retry_after,
                    _ => None,
                })
                .max();
            let message = match &items[0] {
                ItemOutcome::Retry { reason, .. } => reason.clone(),
                _ => String::new(),
            };
            return SendOutcome::Retry {
                error: SinkError::Protocol {
                    sink: self.sink,
                    message,
                },
                retry_after,
            };
        }
        if let Some(ItemOutcome::Rejected { reason }) = items.first() {
            if items.iter().all(|item| item == &items[0]) {
                return SendOutcome::Rejected {
                    reason: reason.clone(),
                };
            }
        }
        SendOutcome::Partial(items)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn retry(seconds: u64) -> ItemOutcome {
        ItemOutcome::Retry {
            reason: "busy".into(),
            retry_after: Some(Duration::from_secs(seconds)),
        }
    }

    #[test]
    fn an_empty_batch_is_delivered() {
        assert!(matches!(
            Outcomes::new("s", 0).finish(),
            SendOutcome::Delivered
        ));
    }

    #[test]
    fn uniform_retries_become_one_retry_with_the_longest_wait() {
        let mut outcomes = Outcomes::new("s", 3);
        outcomes.set_all(&[0, 1], &retry(1));
        outcomes.set(2, retry(2));
        match outcomes.finish() {
            SendOutcome::Retry { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(2)))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mixed_results_are_partial_and_a_missing_one_is_retried() {
        let mut outcomes = Outcomes::new("s", 3);
        outcomes.set(0, ItemOutcome::Delivered);
        outcomes.set(1, ItemOutcome::Rejected { reason: "x".into() });
        match outcomes.finish() {
            SendOutcome::Partial(items) => {
                assert_eq!(items[0], ItemOutcome::Delivered);
                assert!(matches!(items[2], ItemOutcome::Retry { .. }));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_shared_rejection_rejects_the_batch() {
        let mut outcomes = Outcomes::new("s", 2);
        let rejected = ItemOutcome::Rejected {
            reason: "HTTP 400".into(),
        };
        outcomes.set_all(&[0, 1], &rejected);
        assert!(matches!(outcomes.finish(), SendOutcome::Rejected { .. }));
    }
}
