//! Serving the router on a listener (plain TCP, or [`super::tls::TlsListener`]) as
//! `axum::serve` does, with a deadline on every request's header. `axum::serve`
//! gives hyper no timer, so a client that opens a connection and sends nothing,
//! or half a header, holds it for ever: enough of them (a slowloris) use up the
//! process's file descriptors, and with them the dashboard and Prometheus'
//! scrapes, whatever password guards the requests themselves. hyper's deadline
//! starts at a request's first byte, so a connection must also send its first
//! byte in time (`FirstByteBy`). An upgraded WebSocket is no longer read as
//! HTTP, so neither deadline touches it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::Sleep;

/// How long a client has to send a request's whole header, from when its
/// connection opens or its last response was sent (a connection kept alive and
/// idle for that long is closed; browsers open another when they need one).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `stopped` completes, then stops accepting,
/// lets every connection finish the request it is on and returns once all have
/// closed.
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    stopped: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
{
    // Each connection holds a `closed` receiver, dropped when it ends; `stop`
    // tells them all to finish.
    let (stop, stopping) = watch::channel(());
    let (all_closed, closed) = watch::channel(());
    tokio::pin!(stopped);
    loop {
        let io = tokio::select! {
            (io, _) = listener.accept() => io,
            () = &mut stopped => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let mut stopping = stopping.clone();
        let closed = closed.clone();
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            // The CONNECT protocol carries WebSockets over HTTP/2.
            builder
                .http2()
                .timer(TokioTimer::new())
                .enable_connect_protocol();
            let io = TokioIo::new(FirstByteBy::new(io, HEADER_TIMEOUT));
            let connection = builder.serve_connection_with_upgrades(io, service);
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::trace!("connection ended: {e}");
                    }
                }
                _ = stopping.changed() => {
                    connection.as_mut().graceful_shutdown();
                    if let Err(e) = connection.await {
                        tracing::trace!("connection ended: {e}");
                    }
                }
            }
            drop(closed);
        });
    }
    drop(listener);
    drop(stop);
    drop(closed);
    all_closed.closed().await;
    Ok(())
}

/// A connection that fails its reads unless its first byte comes within a
/// deadline of its opening; after that byte, it is the connection itself.
struct FirstByteBy<I> {
    io: I,
    /// Until the first byte.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<I> FirstByteBy<I> {
    fn new(io: I, within: Duration) -> FirstByteBy<I> {
        FirstByteBy {
            io,
            deadline: Some(Box::pin(tokio::time::sleep(within))),
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for FirstByteBy<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.io).poll_read(cx, buf);
        match &read {
            Poll::Ready(Ok(())) if buf.filled().len() > before => self.deadline = None,
            Poll::Pending => {
                if let Some(deadline) = self.deadline.as_mut()
                    && deadline.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request within the header deadline",
                    )));
                }
            }
            _ => {}
        }
        read
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for FirstByteBy<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
