//! `GET /ws`: one task per client. It sends the `hello`, then every message the hub
//! publishes, in order. A client that falls behind the hub's channel gets a fresh
//! `hello` (resynchronised); one that stops reading for [`SEND_TIMEOUT`] is dropped.
//! Either way the collector never waits for it.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;

/// How long one message may take to go out before the client is dropped.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// `GET /ws`: upgrades the request and serves the client until it or the session ends.
pub async fn upgrade(State(app): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| serve(app, socket))
}

async fn send(socket: &mut WebSocket, message: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await,
        Ok(Ok(()))
    )
}

async fn serve(app: AppState, mut socket: WebSocket) {
    let mut closing = app.hub.closing();
    let (hello, mut rx) = app.hub.subscribe();
    if !send(&mut socket, Message::Text(hello)).await {
        return;
    }
    loop {
        tokio::select! {
            message = rx.recv() => match message {
                Ok(text) => {
                    if !send(&mut socket, Message::Text(text)).await {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    let (hello, again) = app.hub.subscribe();
                    rx = again;
                    if !send(&mut socket, Message::Text(hello)).await {
                        return;
                    }
                }
                Err(RecvError::Closed) => break,
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
            _ = closing.changed() => break,
        }
    }
    let close = CloseFrame {
        code: close_code::AWAY,
        reason: "metrics watch is stopping".into(),
    };
    let _ = send(&mut socket, Message::Close(Some(close))).await;
}
