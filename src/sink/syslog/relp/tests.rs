//! RELP session behaviour against a scripted local server (the real-rsyslog tests are in `tests/syslog_relp.rs`):
//! the window bounds unanswered transactions, answers map to outcomes, a broken session asks for a resend.

use std::time::Duration;

use bytestring::ByteString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::frame::{parse_frame, write_frame, Frame};
use super::*;
use crate::encode::Format;
use crate::event::{Event, NormalizeContext, Record};

fn batch(count: usize) -> EncodedBatch {
    let context = NormalizeContext {
        tenant: "contoso".into(),
        fetched_at: chrono::Utc::now(),
        dataset: "Audit.General".into(),
        include_original: false,
    };
    let events: Vec<Event> = (0..count)
        .map(|index| {
            let record = Record {
                raw: ByteString::from(format!("{{\"Id\":\"id-{index}\"}}")),
                id: format!("id-{index}"),
                record_type: 28,
                operation: "TIMailData".into(),
                creation_time: "2025-11-24T10:03:19".into(),
                large: Default::default(),
                single_line: false,
            };
            Event::from_record(record, &context)
        })
        .collect();
    EncodedBatch::encode(Format::Json, "contoso".into(), events, 0..count)
}

async fn sink(window: usize, timeout_ms: u64) -> (RelpSink, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("addr").to_string();
    let config: SyslogSinkConfig = serde_json::from_value(serde_json::json!({
        "name": "relp", "address": address, "transport": "relp", "relp_window": window,
    }))
    .expect("config");
    let endpoint = Endpoint {
        address,
        tls: None,
        timeout: Duration::from_millis(timeout_ms),
    };
    (RelpSink::new(&config, endpoint), listener)
}

/// Reads frames until one is complete.
async fn read_frame(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Frame> {
    loop {
        if let Some(frame) = parse_frame(buf).expect("client frames are valid") {
            return Some(frame);
        }
        let mut chunk = [0u8; 8192];
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..read]);
    }
}

async fn answer(stream: &mut TcpStream, txnr: u32, data: &str) {
    let mut out = Vec::new();
    write_frame(&mut out, txnr, "rsp", data.as_bytes());
    stream.write_all(&out).await.expect("answer");
}

/// Accepts one session and answers `open`.
async fn accept_open(listener: &TcpListener) -> (TcpStream, Vec<u8>) {
    let (mut stream, _) = listener.accept().await.expect("accept");
    let mut buf = Vec::new();
    let open = read_frame(&mut stream, &mut buf).await.expect("open frame");
    assert_eq!((open.txnr, open.command.as_str()), (1, "open"));
    let offers = String::from_utf8(open.data).expect("utf-8 offers");
    assert!(
        offers.contains("relp_version=0") && offers.contains("commands=syslog"),
        "{offers}"
    );
    answer(&mut stream, 1, "200 OK\nrelp_version=0\ncommands=syslog").await;
    (stream, buf)
}

#[tokio::test]
async fn every_event_is_delivered_when_its_transaction_is_answered_200() {
    let (mut sink, listener) = sink(4, 2000).await;
    let server = tokio::spawn(async move {
        let (mut stream, mut buf) = accept_open(&listener).await;
        let mut messages = Vec::new();
        while messages.len() < 10 {
            let frame = read_frame(&mut stream, &mut buf)
                .await
                .expect("syslog frame");
            assert_eq!(frame.command, "syslog");
            messages.push(String::from_utf8(frame.data).expect("utf-8"));
            answer(&mut stream, frame.txnr, "200 OK").await;
        }
        messages
    });
    assert!(matches!(
        sink.send(&batch(10)).await,
        SendOutcome::Delivered
    ));
    let messages = server.await.expect("server");
    assert!(
        messages[0].starts_with("<134>1 2025-11-24T10:03:19Z "),
        "{}",
        messages[0]
    );
    assert!(messages[9].ends_with("{\"Id\":\"id-9\"}"));
}

#[tokio::test]
async fn a_full_window_waits_for_answers_and_never_sends_more() {
    let (mut sink, listener) = sink(4, 500).await;
    let server = tokio::spawn(async move {
        let (mut stream, mut buf) = accept_open(&listener).await;
        // Never answer: count what arrives until the client gives up.
        let mut received = 0;
        while let Some(frame) = read_frame(&mut stream, &mut buf).await {
            assert_eq!(frame.command, "syslog");
            received += 1;
        }
        received
    });
    match sink.send(&batch(10)).await {
        SendOutcome::Retry { error, .. } => {
            assert!(error.to_string().contains("timeout"), "{error}")
        }
        other => panic!("expected Retry, got {other:?}"),
    }
    drop(sink); // closes the connection, ending the server loop
    assert_eq!(
        server.await.expect("server"),
        4,
        "no more than the window in flight"
    );
}

#[tokio::test]
async fn a_broken_session_keeps_answered_events_and_retries_the_rest() {
    let (mut sink, listener) = sink(3, 2000).await;
    let server = tokio::spawn(async move {
        let (mut stream, mut buf) = accept_open(&listener).await;
        let first = read_frame(&mut stream, &mut buf).await.expect("frame");
        answer(&mut stream, first.txnr, "200 OK").await;
        let second = read_frame(&mut stream, &mut buf).await.expect("frame");
        answer(&mut stream, second.txnr, "500 queue full").await;
        let mut out = Vec::new();
        write_frame(&mut out, 0, "serverclose", b"");
        stream.write_all(&out).await.expect("serverclose");
        // Keep reading until the client hangs up, so that it sees `serverclose` rather than a reset.
        while read_frame(&mut stream, &mut buf).await.is_some() {}
    });
    let SendOutcome::Partial(outcomes) = sink.send(&batch(5)).await else {
        panic!("expected a partial outcome");
    };
    assert!(sink.session.is_none(), "the next send opens a new session");
    drop(sink);
    server.await.expect("server");
    assert_eq!(outcomes[0], ItemOutcome::Delivered);
    assert!(
        matches!(&outcomes[1], ItemOutcome::Retry { reason, .. } if reason.contains("500 queue full"))
    );
    for outcome in &outcomes[2..] {
        assert!(
            matches!(outcome, ItemOutcome::Retry { reason, .. } if reason.contains("serverclose"))
        );
    }
}

#[tokio::test]
async fn probe_opens_and_closes_a_session() {
    let (mut sink, listener) = sink(4, 2000).await;
    let server = tokio::spawn(async move {
        let (mut stream, mut buf) = accept_open(&listener).await;
        let close = read_frame(&mut stream, &mut buf)
            .await
            .expect("close frame");
        assert_eq!((close.command.as_str(), close.data.len()), ("close", 0));
        answer(&mut stream, close.txnr, "").await;
    });
    sink.probe().await.expect("probe");
    server.await.expect("server");
}

#[tokio::test]
async fn a_listener_that_is_not_relp_is_reported_as_such() {
    let (mut sink, listener) = sink(4, 300).await;
    let _server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(stream);
    });
    let error = sink.probe().await.expect_err("no RELP answer");
    assert!(
        error.to_string().contains("is this a RELP listener"),
        "{error}"
    );
}
