//! A notifier that keeps what it receives, for tests of code that raises alerts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Notifier, NotifyFuture};
use crate::alert::AlertEvent;

/// Keeps every event it is sent, in order; clones share the list. For tests (cargo feature
/// `testing`).
///
/// ```
/// use pulsecheck::alert::notify::{Dispatcher, InMemoryNotifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), pulsecheck::alert::notify::NotifyConfigError> {
/// let received = InMemoryNotifier::new("memory");
/// let dispatcher = Dispatcher::builder().notifier(received.clone()).build()?;
/// // ... submit events, then:
/// dispatcher.shutdown(std::time::Duration::from_secs(1)).await;
/// assert!(received.events().is_empty());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct InMemoryNotifier {
    name: String,
    repeat: Option<Duration>,
    events: Arc<Mutex<Vec<AlertEvent>>>,
}

impl InMemoryNotifier {
    /// An empty notifier called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            repeat: None,
            events: Arc::default(),
        }
    }

    /// Asks the dispatcher to repeat firing alerts this often. Defaults to the dispatcher's
    /// interval.
    pub fn repeat_every(mut self, every: Duration) -> Self {
        self.repeat = Some(every);
        self
    }

    /// What it received so far.
    pub fn events(&self) -> Vec<AlertEvent> {
        match self.events.lock() {
            Ok(events) => events.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Forgets what it received.
    pub fn clear(&self) {
        match self.events.lock() {
            Ok(mut events) => events.clear(),
            Err(poisoned) => poisoned.into_inner().clear(),
        }
    }
}

impl Notifier for InMemoryNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(&'a self, event: &'a AlertEvent) -> NotifyFuture<'a> {
        Box::pin(async move {
            match self.events.lock() {
                Ok(mut events) => events.push(event.clone()),
                Err(poisoned) => poisoned.into_inner().push(event.clone()),
            }
            Ok(())
        })
    }

    fn repeat_interval(&self) -> Option<Duration> {
        self.repeat
    }
}
