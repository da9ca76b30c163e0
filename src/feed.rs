//! A durable feed of stored messages for one subscriber: at least once, in store order,
//! from a cursor kept in the store and moved by cumulative acknowledgements.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::model::MessageMeta;
use crate::store::{Store, StoreError, StoredRecord};

/// One stored message as a feed delivers it.
#[derive(Clone, Debug)]
pub struct FeedMessage {
    /// The store id: [`Feed::ack`] takes it.
    pub id: u64,
    /// The metadata the Inbox report shows.
    pub meta: MessageMeta,
    /// Addressees from `To:`.
    pub to: Vec<String>,
    /// Addressees from `Cc:`.
    pub cc: Vec<String>,
    /// The exact bytes as downloaded.
    pub raw: Vec<u8>,
}

impl FeedMessage {
    /// The readable text of the message.
    pub fn text(&self) -> String {
        crate::parse::text_of(&self.raw)
    }
}

/// Stored messages in store order, at least once, from a durable cursor.
pub struct Feed {
    name: String,
    store: Arc<Store>,
    committed: Arc<Notify>,
    /// The last id handed out.
    position: u64,
    buffer: VecDeque<FeedMessage>,
}

impl Feed {
    /// A feed for subscriber `name`, resuming after its last acknowledged message.
    pub(crate) fn new(
        name: &str,
        store: Arc<Store>,
        committed: Arc<Notify>,
    ) -> Result<Self, StoreError> {
        store.register_subscriber(name)?;
        let position = store.cursor(name)?;
        Ok(Feed {
            name: name.into(),
            store,
            committed,
            position,
            buffer: VecDeque::new(),
        })
    }

    /// The next stored message, waiting for one to arrive; `None` only if the store fails.
    pub async fn next(&mut self) -> Option<FeedMessage> {
        loop {
            if let Some(m) = self.buffer.pop_front() {
                self.position = m.id;
                return Some(m);
            }
            let notified = self.committed.notified();
            let (store, after) = (self.store.clone(), self.position);
            let page = tokio::task::spawn_blocking(move || load_page(&store, after))
                .await
                .ok()?
                .ok()?;
            if page.is_empty() {
                // Wake on the next commit; the timeout covers a commit between read and wait.
                let _ = tokio::time::timeout(Duration::from_secs(1), notified).await;
            }
            self.buffer.extend(page);
        }
    }

    /// Acknowledges everything up to and including `id` (cumulative, durable: it blocks
    /// the caller for one synced commit).
    pub fn ack(&mut self, id: u64) -> Result<(), StoreError> {
        self.store.set_cursor(&self.name, id)?;
        Ok(())
    }
}

/// Most messages one page of a feed reads at once...
const PAGE_MESSAGES: usize = 64;
/// ...and most raw bytes (a page always holds at least one message).
pub const PAGE_BYTES: u64 = 8 << 20;

/// The next page after message `after`: up to [`PAGE_MESSAGES`] messages and
/// [`PAGE_BYTES`] of raw bytes, whichever comes first.
fn load_page(store: &Store, after: u64) -> Result<Vec<FeedMessage>, StoreError> {
    let records: Vec<StoredRecord> = store.messages_after(after, PAGE_MESSAGES)?;
    let mut bytes = 0;
    let mut page = Vec::new();
    for r in records {
        if !page.is_empty() && bytes + r.meta.size > PAGE_BYTES {
            break;
        }
        bytes += r.meta.size;
        let raw = store.raw(r.meta.id)?.unwrap_or_default();
        page.push(FeedMessage {
            id: r.meta.id,
            meta: r.meta,
            to: r.to,
            cc: r.cc,
            raw,
        });
    }
    Ok(page)
}
