//! Websockets as a browser opens them (cookie, `Origin`, optionally the `binary`
//! subprotocol noVNC asks for) or a script with a token, and reads that fail rather than hang: the next frame within
//! a deadline, the close frame, the serial console's hello.

use std::time::Duration;

use corral_api::console::SerialHello;
use futures::StreamExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How a browser would open `url`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Opener<'a> {
    pub cookie: Option<&'a str>,
    pub origin: Option<&'a str>,
    /// An API token, sent as `Authorization: Bearer`.
    pub bearer: Option<&'a str>,
    /// Ask for the `binary` subprotocol, as noVNC does.
    pub binary: bool,
}

/// Opens `url`; a refused upgrade is `Err(its HTTP status)`.
pub async fn open(url: &str, how: Opener<'_>) -> Result<Socket, u16> {
    let mut req = url.into_client_request().expect("a websocket URL");
    let headers = req.headers_mut();
    if let Some(c) = how.cookie {
        headers.insert("cookie", c.parse().expect("a cookie header"));
    }
    if let Some(o) = how.origin {
        headers.insert("origin", o.parse().expect("an origin header"));
    }
    if let Some(t) = how.bearer {
        headers.insert("authorization", format!("Bearer {t}").parse().expect("a bearer header"));
    }
    if how.binary {
        headers.insert("sec-websocket-protocol", "binary".parse().expect("a protocol header"));
    }
    // Browsers write without Nagle's delay; so does this client.
    match tokio_tungstenite::connect_async_with_config(req, None, true).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("websocket {url}: {e}"),
    }
}

/// The next frame within `within`; a socket that ends or says nothing fails, naming `what`
/// was awaited.
pub async fn next_frame(ws: &mut Socket, within: Duration, what: &str) -> Message {
    match tokio::time::timeout(within, ws.next()).await {
        Ok(Some(Ok(m))) => m,
        Ok(other) => panic!("waiting for {what}, the socket ended: {other:?}"),
        Err(_) => panic!("no {what} within {within:?}"),
    }
}

/// Reads past data frames until the socket is closed; the close frame.
pub async fn closed(ws: &mut Socket, within: Duration) -> CloseFrame {
    let deadline = tokio::time::Instant::now() + within;
    let mut skipped = 0;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match next_frame(ws, left, &format!("the close (after {skipped} other frames)")).await {
            Message::Close(Some(f)) => return f,
            Message::Close(None) => panic!("closed without a code"),
            _ => skipped += 1,
        }
    }
}

/// The serial console's first frame: the offset on the console's record it starts from.
pub async fn hello(ws: &mut Socket) -> u64 {
    match next_frame(ws, Duration::from_secs(10), "the serial hello").await {
        Message::Text(t) => serde_json::from_str::<SerialHello>(&t).expect("a serial hello").offset,
        other => panic!("the serial console began with {other:?}, not its hello"),
    }
}
