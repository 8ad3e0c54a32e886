//! Consoles through the backend on a real TCG guest: the serial line in a websocket (type a
//! command, see its output; a reconnect from an offset replays exactly what was missed; a
//! second user takes it over and the first is told; a resize message is not typed), and the
//! VNC stream's RFB greeting.

use std::time::Duration;

use corral_api::console::close;
use corral_e2e::TinyGuest;
use corral_e2e::guest::{BOOT, READY};
use corral_testkit::serial::Serial;
use corral_testkit::socket::{closed, hello, next_frame};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread")]
async fn serial_and_vnc_consoles_through_the_backend() {
    let guest = TinyGuest::start("con", None).await;
    let (api, id) = (&guest.api, guest.machine);

    // Serial: boot output from the start, a command typed, its output.
    let mut ws = api.console_socket(id, "serial", "").await;
    assert_eq!(hello(&mut ws).await, 0, "from the first byte the node kept");
    let mut serial = Serial::new(ws, 0);
    serial.expect(READY, BOOT).await;
    serial.send_line("echo con-$((6*7))").await;
    serial.expect("con-42", Duration::from_secs(20)).await;
    let seen = serial.offset();

    // A second viewer may not type unless they take over; then the first is told why.
    let mut other = api.console_socket(id, "serial", "").await;
    match next_frame(&mut other, Duration::from_secs(10), "the refusal").await {
        Message::Close(Some(f)) => {
            assert_eq!(u16::from(f.code), close::IN_USE);
            assert!(f.reason.contains("admin is using"), "{}", f.reason);
        }
        other => panic!("{other:?}"),
    }
    let mut ws = api.console_socket(id, "serial", &format!("&offset={seen}&takeover=true")).await;
    assert_eq!(hello(&mut ws).await, seen, "resumes exactly where the first left off");
    let mut taker = Serial::new(ws, seen);
    let taken = closed(serial.line(), Duration::from_secs(10)).await;
    assert_eq!(u16::from(taken.code), close::TAKEN_OVER);
    assert_eq!(taken.reason.as_str(), "taken over by admin");
    taker.send_line("echo again-$((7*7))").await;
    let replay = taker.expect("again-49", Duration::from_secs(20)).await;
    assert!(!String::from_utf8_lossy(&replay).contains("con-42"), "nothing seen before is sent twice");
    // A terminal's resize message is a control frame: a serial line has no size and drops it,
    // never types it.
    use futures::SinkExt;
    let resize = r#"{"resize":{"cols":132,"rows":43}}"#;
    taker.line().send(Message::Text(resize.into())).await.unwrap();
    taker.send_line("echo sized-$((8*8))").await;
    let after = taker.expect("sized-64", Duration::from_secs(20)).await;
    assert!(!String::from_utf8_lossy(&after).contains("resize"), "the resize message was typed");
    drop(taker);

    // VNC: the RFB greeting comes through untouched; several viewers may watch.
    let mut a = api.console_socket(id, "vnc", "").await;
    let mut b = api.console_socket(id, "vnc", "").await;
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
