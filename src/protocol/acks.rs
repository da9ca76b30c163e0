//! The acknowledgement side of a [`Sink`](super::Sink): each group
//! of messages handed on gets a sender, the task that makes the group durable answers on it,
//! and the check takes the answers as they come.

use tokio::sync::mpsc;

/// Acknowledgements on their way back, and how many groups still wait for one.
pub struct AckQueue<T> {
    tx: mpsc::UnboundedSender<T>,
    rx: mpsc::UnboundedReceiver<T>,
    in_flight: usize,
}

impl<T> Default for AckQueue<T> {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        AckQueue {
            tx,
            rx,
            in_flight: 0,
        }
    }
}

impl<T> AckQueue<T> {
    /// Where one group just handed on will be acknowledged (it counts as in flight until
    /// then). A sender dropped without sending leaves the group in flight: "not done".
    pub fn expect_one(&mut self) -> mpsc::UnboundedSender<T> {
        self.in_flight += 1;
        self.tx.clone()
    }

    /// The acknowledgements that have arrived, without waiting.
    pub fn ready(&mut self) -> Vec<T> {
        let mut out = Vec::new();
        while let Ok(ack) = self.rx.try_recv() {
            self.in_flight -= 1;
            out.push(ack);
        }
        out
    }

    /// Waits for the next acknowledgement and takes every other one that has arrived too;
    /// `None` once nothing is in flight.
    pub async fn next(&mut self) -> Option<Vec<T>> {
        if self.in_flight == 0 {
            return None;
        }
        let first = self.rx.recv().await?;
        self.in_flight -= 1;
        let mut out = vec![first];
        out.extend(self.ready());
        Some(out)
    }

    /// True while some group waits for its acknowledgement.
    pub fn in_flight(&self) -> bool {
        self.in_flight > 0
    }
}
