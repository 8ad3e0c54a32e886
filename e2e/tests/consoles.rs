//! Consoles through the backend on a real TCG guest: the serial line in a websocket (type a
//! command, see its output; a reconnect from an offset replays exactly what was missed; a
//! second user takes it over and the first is told), and the VNC stream's RFB greeting.

use std::time::Duration;

use corral_api::MachineId;
use corral_api::console::{SerialHello, close};
use corral_e2e::{Api, TinyGuest};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A ticket, then the websocket it opens (`extra` is appended to the query).
async fn console(api: &Api, id: MachineId, kind: &str, extra: &str) -> Socket {
    let r = api.send("POST", &format!("/api/v1/machines/{id}/console"), Some(json!({"kind": kind}))).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let url = format!(
        "{}{}?ticket={}{extra}",
        api.base.replace("http://", "ws://"),
        r.body["path"].as_str().unwrap(),
        r.body["ticket"].as_str().unwrap()
    );
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("cookie", api.cookie.parse().unwrap());
    req.headers_mut().insert("origin", api.base.parse().unwrap());
    tokio_tungstenite::connect_async(req).await.expect("console websocket").0
}

/// Binary frames until `needle` has come; everything read.
async fn read_until(ws: &mut Socket, needle: &str, within: Duration) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains(needle) {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => seen.extend_from_slice(&b),
            Ok(Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_)))) => {}
            other => panic!("{needle:?} never came ({other:?}); saw {}", String::from_utf8_lossy(&seen)),
        }
    }
    seen
}

/// The next frame, within `within`; a socket that says nothing fails the test, saying so.
async fn next_frame(ws: &mut Socket, within: Duration, what: &str) -> Message {
    match tokio::time::timeout(within, ws.next()).await {
        Ok(Some(Ok(m))) => m,
        Ok(other) => panic!("waiting for {what}, the socket ended: {other:?}"),
        Err(_) => panic!("no {what} within {within:?}"),
    }
}

async fn hello(ws: &mut Socket) -> u64 {
    match next_frame(ws, Duration::from_secs(10), "the hello").await {
        Message::Text(t) => serde_json::from_str::<SerialHello>(&t).unwrap().offset,
        other => panic!("no hello: {other:?}"),
    }
}

/// Reads past data frames until the socket is closed; the close frame.
async fn closed(ws: &mut Socket, within: Duration) -> CloseFrame {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match next_frame(ws, left, "the close").await {
            Message::Close(Some(f)) => return f,
            Message::Close(None) => panic!("closed without a code"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serial_and_vnc_consoles_through_the_backend() {
    let guest = TinyGuest::start("con", None).await;
    let (api, id) = (&guest.api, guest.machine);

    // Serial: boot output from the start, a command typed, its output.
    let mut serial = console(api, id, "serial", "").await;
    assert_eq!(hello(&mut serial).await, 0, "from the first byte the node kept");
    let boot = read_until(&mut serial, "corral-tiny: ready", Duration::from_secs(90)).await;
    serial.send(Message::Binary(b"echo con-$((6*7))\n".to_vec().into())).await.unwrap();
    let more = read_until(&mut serial, "con-42", Duration::from_secs(20)).await;
    let seen = (boot.len() + more.len()) as u64;

    // A second viewer may not type unless they take over; then the first is told why.
    let mut other = console(api, id, "serial", "").await;
    match next_frame(&mut other, Duration::from_secs(10), "the refusal").await {
        Message::Close(Some(f)) => {
            assert_eq!(u16::from(f.code), close::IN_USE);
            assert!(f.reason.contains("admin is using"), "{}", f.reason);
        }
        other => panic!("{other:?}"),
    }
    let mut taker = console(api, id, "serial", &format!("&offset={seen}&takeover=true")).await;
    assert_eq!(hello(&mut taker).await, seen, "resumes exactly where the first left off");
    let taken = closed(&mut serial, Duration::from_secs(10)).await;
    assert_eq!(u16::from(taken.code), close::TAKEN_OVER);
    assert_eq!(taken.reason.as_str(), "taken over by admin");
    taker.send(Message::Binary(b"echo again-$((7*7))\n".to_vec().into())).await.unwrap();
    let replay = read_until(&mut taker, "again-49", Duration::from_secs(20)).await;
    assert!(!String::from_utf8_lossy(&replay).contains("con-42"), "nothing seen before is sent twice");
    drop(taker);

    // VNC: the RFB greeting comes through untouched; several viewers may watch.
    let mut a = console(api, id, "vnc", "").await;
    let mut b = console(api, id, "vnc", "").await;
    for ws in [&mut a, &mut b] {
        match next_frame(ws, Duration::from_secs(10), "the RFB greeting").await {
            Message::Binary(greeting) => assert!(greeting.starts_with(b"RFB 003.008"), "{greeting:?}"),
            other => panic!("{other:?}"),
        }
    }

    // Every console opened is in the audit log, with who and what.
    let audit = api.send("GET", &format!("/api/v1/audit?machine_id={id}"), None).await;
    let opened = audit.body.as_array().unwrap().iter().filter(|e| e["action"] == "console.open").count();
    assert!(opened >= 4, "serial, takeover and two screens were opened: {:?}", audit.body);

    // The machine stops: an open console is closed and says so.
    assert_eq!(api.send("POST", &format!("/api/v1/machines/{id}/force-stop"), None).await.status, 202);
    let f = closed(&mut a, Duration::from_secs(15)).await;
    assert_eq!(u16::from(f.code), close::MACHINE_STOPPED, "{}", f.reason);
}
