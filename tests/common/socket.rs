//! A WebSocket client of `metrics watch`, as the dashboard is one.

use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::{DEADLINE, Watch};

/// A client's connection.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to `watch`.
pub async fn connect(watch: &Watch) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async(watch.ws_url())
        .await
        .unwrap();
    socket
}

/// The next JSON message, or `None` when the server closed the socket.
pub async fn next(socket: &mut Socket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(DEADLINE, socket.next())
            .await
            .expect("no message within the deadline")?;
        match message.ok()? {
            Message::Text(text) => return Some(serde_json::from_str(&text).unwrap()),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

/// Messages up to and including the status saying the replay finished.
pub async fn until_finished(socket: &mut Socket) -> Vec<Value> {
    let mut seen = Vec::new();
    while let Some(m) = next(socket).await {
        // A replay may be over before the client connects: its hello says so.
        let done = (m["type"] == "status" && m["replay_finished"] == true)
            || (m["type"] == "hello" && m["status"]["replay_finished"] == true);
        seen.push(m);
        if done {
            return seen;
        }
    }
    panic!("the socket closed before the replay finished");
}
