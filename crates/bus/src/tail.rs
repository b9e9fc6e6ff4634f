//! A service following its own store, for in-memory indexes of its own
//! events (not a durable consumer: it starts from the first event each time).

use std::time::Duration;

use futures::StreamExt as _;
use hongxin_eventstore::{EventStore, RecordedEvent};

/// Hands every event of `store`, from the first and then live, to `apply`
/// until `shutdown`; after a read failure it goes on from the last event
/// applied.
pub async fn tail(
    store: EventStore,
    shutdown: impl Future<Output = ()>,
    mut apply: impl FnMut(&RecordedEvent),
) {
    tokio::pin!(shutdown);
    let mut position = 0;
    loop {
        let mut events = store.follow(position);
        loop {
            let next = tokio::select! {
                _ = &mut shutdown => return,
                n = events.next() => n,
            };
            match next {
                Some(Ok(e)) => {
                    position = e.global_position;
                    apply(&e);
                }
                Some(Err(err)) => {
                    tracing::warn!(error = %err, "reading the store failed; retrying");
                    break;
                }
                None => return,
            }
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
