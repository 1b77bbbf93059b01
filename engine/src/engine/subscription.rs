//! A live stream of result events.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::broadcast;
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

use crate::model::ResultEvent;

/// Result events as they are committed. Implements [`Stream`]; [`Subscription::recv`]
/// is the same without a stream extension trait. A subscriber that falls behind skips the
/// events it missed (logged); the durable outbox keeps them.
#[derive(Debug)]
pub struct Subscription {
    inner: BroadcastStream<ResultEvent>,
}

impl Subscription {
    pub(crate) fn new(rx: broadcast::Receiver<ResultEvent>) -> Self {
        Self {
            inner: BroadcastStream::new(rx),
        }
    }

    /// The next event; `None` when the engine is gone.
    pub async fn recv(&mut self) -> Option<ResultEvent> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl Stream for Subscription {
    type Item = ResultEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ResultEvent>> {
        loop {
            match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(event))) => return Poll::Ready(Some(event)),
                Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(missed)))) => {
                    tracing::warn!(missed, "a result subscriber fell behind and skipped events; they remain in the outbox");
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
