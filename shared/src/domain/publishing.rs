//! Publishing the outbox: entries go in order (`occurred_at`, then id), a
//! batch at a time. After each batch the entries up to the first one the sink
//! refused are marked published; the first refusal ends the run, so nothing
//! is sent ahead of an entry still waiting, and the next run starts again from
//! it. An entry sent whose marking then fails is sent again: delivery is at
//! least once, and consumers de-duplicate on the event id, which never changes.

use serde::Serialize;

use super::error::DomainError;
use super::ports::{EventSink, Outbox};

/// EventBridge's limit of entries per `PutEvents` call.
pub const BATCH_SIZE: usize = 10;
/// Batches per run at most, so one run stays well inside its timeout; the
/// schedule picks up the rest a minute later.
pub const MAX_BATCHES_PER_RUN: usize = 50;

/// The answer of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub published: u64,
    pub remaining: u64,
}

/// Sends what the outbox holds, in order, until it is empty, a send fails, or
/// the run's budget is spent. A refused send is not an error of the run: the
/// entries wait for the next one (`remaining` says how many).
pub async fn publish<S: Outbox, E: EventSink>(store: &S, sink: &E) -> Result<Summary, DomainError> {
    let mut published = 0;
    for _ in 0..MAX_BATCHES_PER_RUN {
        let batch = store.unpublished(BATCH_SIZE).await?;
        if batch.is_empty() {
            break;
        }
        let sent = sink.send(&batch).await.min(batch.len());
        let ids: Vec<_> = batch[..sent].iter().map(|entry| entry.id).collect();
        if !ids.is_empty() {
            store.mark_published(&ids).await?;
        }
        published += sent as u64;
        if sent < batch.len() {
            break;
        }
    }
    let remaining = store.count_unpublished().await?;
    tracing::info!(published, remaining, "outbox published");
    Ok(Summary {
        published,
        remaining,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::domain::events::Event;
    use crate::domain::ports::OutboxEntry;
    use crate::domain::values::UserId;
    use crate::memory::MemoryStore;

    /// Accepts up to `accept` entries in all, then refuses every one.
    struct Sink {
        accept: Mutex<usize>,
        seen: Mutex<Vec<String>>,
    }

    impl Sink {
        fn accepting(accept: usize) -> Self {
            Self {
                accept: Mutex::new(accept),
                seen: Mutex::new(Vec::new()),
            }
        }
    }

    impl EventSink for Sink {
        async fn send(&self, batch: &[OutboxEntry]) -> usize {
            let mut left = self.accept.lock().unwrap();
            let accepted = batch.len().min(*left);
            *left -= accepted;
            let mut seen = self.seen.lock().unwrap();
            seen.extend(batch[..accepted].iter().map(|entry| entry.id.to_hex()));
            accepted
        }
    }

    fn store_with(events: usize) -> (MemoryStore, Vec<String>) {
        let store = MemoryStore::default();
        let ids = (0..events)
            .map(|_| {
                store
                    .record(Event::UserRegistered {
                        user_id: UserId::new(),
                    })
                    .to_hex()
            })
            .collect();
        (store, ids)
    }

    #[tokio::test]
    async fn everything_goes_out_once_in_order() {
        let (store, ids) = store_with(23);
        let sink = Sink::accepting(usize::MAX);
        let summary = publish(&store, &sink).await.unwrap();
        assert_eq!(
            summary,
            Summary {
                published: 23,
                remaining: 0
            }
        );
        assert_eq!(*sink.seen.lock().unwrap(), ids);
        let again = publish(&store, &sink).await.unwrap();
        assert_eq!(
            again,
            Summary {
                published: 0,
                remaining: 0
            }
        );
    }

    #[tokio::test]
    async fn a_refusal_halfway_ends_the_run_and_the_next_sends_only_the_rest() {
        let (store, ids) = store_with(15);
        let sink = Sink::accepting(12);
        assert_eq!(
            publish(&store, &sink).await.unwrap(),
            Summary {
                published: 12,
                remaining: 3
            }
        );
        *sink.accept.lock().unwrap() = usize::MAX;
        assert_eq!(
            publish(&store, &sink).await.unwrap(),
            Summary {
                published: 3,
                remaining: 0
            }
        );
        assert_eq!(*sink.seen.lock().unwrap(), ids, "in order, each once");
    }
}
