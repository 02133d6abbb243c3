//! The HTTP sinks against strict loopback servers of each protocol, driven through a retry loop that mirrors
//! the pipeline's (`support/http_sink_kit.rs`).

#[path = "support/app_certificate.rs"]
mod app_certificate;
#[path = "support/es_bulk_server.rs"]
mod es_bulk_server;
#[path = "support/generic_http_server.rs"]
mod generic_http_server;
#[path = "support/hec_server.rs"]
mod hec_server;
#[path = "support/http_sink_kit.rs"]
mod http_sink_kit;
#[path = "support/sentinel_server.rs"]
mod sentinel_server;

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use atp_forwarder::encode::Format;
use serde_json::json;

use app_certificate::make_certificate;
use es_bulk_server::EsServer;
use generic_http_server::{Expect, GenericServer};
use hec_server::{HecBehaviour, HecServer};
use http_sink_kit::*;
use sentinel_server::SentinelServer;

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT: &str = "11111111-2222-3333-4444-666666666666";

fn ndjson_expect(authorization: &str) -> Expect {
    Expect {
        authorization: Some(authorization.into()),
        content_type: "application/x-ndjson",
        gzip: false,
        max_body: None,
        refuse: None,
        header: None,
    }
}

// --- http ---

#[tokio::test]
async fn http_delivers_thousands_of_events_as_gzip_ndjson_with_a_bearer_token() {
    let server = GenericServer::new(Expect {
        gzip: true,
        header: Some(("x-source", "atp")),
        ..ndjson_expect("Bearer t0k3n")
    });
    let url = spawn(server.router()).await;
    let token = secret_file("t0k3n");
    let mut sink = build(json!({
        "type": "http", "name": "h", "url": format!("{url}/ingest"), "auth": "bearer",
        "token_file": &*token, "gzip": true, "headers": {"X-Source": "atp"}, "batch_max_events": 200,
    }));
    let events = events(3000, 300);
    let report = deliver_all(sink.as_mut(), batches(&events, Format::Json)).await;
    assert_eq!(server.log.violations(), Vec::<String>::new());
    assert_eq!(report.delivered, 3000);
    assert_eq!(server.ids(), ids(&events));
    assert!(server.sizes.lock().unwrap().iter().all(|&n| n <= 200));
}

#[tokio::test]
async fn http_sends_a_json_array_with_basic_auth() {
    let server = GenericServer::new(Expect {
        content_type: "application/json",
        ..ndjson_expect("Basic c29jOnMzY3JldA==")
    });
    let url = spawn(server.router()).await;
    let password = secret_file("s3cret");
    let mut sink = build(json!({
        "type": "http", "name": "h", "url": format!("{url}/ingest"), "body": "json_array",
        "auth": "basic", "username": "soc", "password_file": &*password,
    }));
    let events = events(700, 100);
    let report = deliver_all(sink.as_mut(), batches(&events, Format::Json)).await;
    assert_eq!(server.log.violations(), Vec::<String>::new());
    assert_eq!(report.delivered, 700);
    assert_eq!(server.ids(), ids(&events));
}

#[tokio::test]
async fn http_honours_retry_after_on_503_without_a_request_storm() {
    let server = GenericServer::new(ndjson_expect("Bearer t"));
    server.log.throttle(Throttle {
        remaining: 2,
        status: 503,
        retry_after: "2",
    });
    let url = spawn(server.router()).await;
    let token = secret_file("t");
    let mut sink = build(json!({
        "type": "http", "name": "h", "url": format!("{url}/ingest"), "auth": "bearer", "token_file": &*token,
    }));
    let events = events(300, 50);
    let report = deliver_all(sink.as_mut(), batches(&events, Format::Json)).await;
    assert_eq!(report.delivered, 300);
    assert_eq!(report.waits, [Duration::from_secs(2); 2]);
    assert_waited_without_storm(&server.log, 2, 1, Duration::from_secs(2));
    assert_eq!(server.ids(), ids(&events));
}

#[tokio::test]
async fn http_rejects_a_bad_request_with_its_status_and_body() {
    let server = GenericServer::new(Expect {
        refuse: Some((400, "field Padding: too long")),
        ..ndjson_expect("Bearer t")
    });
    let url = spawn(server.router()).await;
    let token = secret_file("t");
    let mut sink = build(json!({
        "type": "http", "name": "h", "url": format!("{url}/ingest"), "auth": "bearer", "token_file": &*token,
    }));
    let events = events(10, 10);
    let report = deliver_all(sink.as_mut(), batches(&events, Format::Json)).await;
    assert_eq!(report.sends, 1);
    assert_eq!(report.rejected.len(), 10);
    assert_eq!(report.rejected[0].1, "HTTP 400: field Padding: too long");
}

#[tokio::test]
async fn http_retries_refused_credentials_instead_of_dead_lettering() {
    let server = GenericServer::new(ndjson_expect("Bearer right"));
    let url = spawn(server.router()).await;
    let token = secret_file("wrong");
    let mut sink = build(json!({
        "type": "http", "name": "h", "url": format!("{url}/ingest"), "auth": "bearer", "token_file": &*token,
    }));
    let batch = batches(&events(5, 10), Format::Json).remove(0);
    match sink.send(&batch).await {
        atp_forwarder::sink::SendOutcome::Retry { error, .. } => {
            assert!(error.to_string().contains("HTTP 401"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    assert!(sink.probe().await.is_err());
}

#[tokio::test]
async fn a_413_makes_the_sink_send_smaller_requests() {
    let server = GenericServer::new(Expect {
        max_body: Some(60_000),
        ..ndjson_expect("Bearer t")
    });
    let url = spawn(server.router()).await;
    let token = secret_file("t");
    let mut sink = build(json!({
        "type": "http", "name": "h", "url": format!("{url}/ingest"), "auth": "bearer", "token_file": &*token,
    }));
    let events = events(1000, 400);
    let report = deliver_all(sink.as_mut(), batches(&events, Format::Json)).await;
    assert_eq!(report.delivered, 1000);
    assert!(report.rejected.is_empty());
    let accepted = server.sizes.lock().unwrap().len();
    assert!(
        server.log.count() > accepted,
        "some requests were refused with 413"
    );
    assert!(
        report.sends <= 6,
        "converged quickly: {} sends",
        report.sends
    );
    assert_eq!(server.ids(), ids(&events));
}

#[tokio::test]
async fn http_wraps_cef_lines_as_json_strings() {
    // The placeholder encoder emits the raw record for every format; the sink must still quote it.
    let server = GenericServer::new(ndjson_expect("Bearer t"));
    let url = spawn(server.router()).await;
    let token = secret_file("t");
    let mut sink = build(json!({
        "type": "http", "name": "h", "url": format!("{url}/ingest"), "auth": "bearer",
        "token_file": &*token, "format": "cef",
    }));
    let report = deliver_all(sink.as_mut(), batches(&events(3, 10), Format::Cef)).await;
    // A JSON string has no "Id" member: the strict receiver flags each line, proving they were quoted.
    assert_eq!(report.rejected.len(), 3);
    assert!(server.log.violations()[0].contains("value without Id: \""));
}

// --- splunk_hec ---

fn hec_behaviour(ack: bool) -> HecBehaviour {
    HecBehaviour {
        token: "hec-token".into(),
        ack,
        ack_delay: Duration::from_millis(300),
        withheld: HashSet::new(),
        sourcetype: "o365:management:activity".into(),
        index: Some("o365".into()),
    }
}

fn hec_sink(
    url: &str,
    token: &tempfile::TempPath,
    extra: serde_json::Value,
) -> Box<dyn atp_forwarder::sink::Sink> {
    let mut config = json!({
        "type": "splunk_hec", "name": "splunk", "url": url, "token_file": &**token, "index": "o365",
    });
    for (key, value) in extra.as_object().unwrap() {
        config[key] = value.clone();
    }
    build(config)
}

#[tokio::test]
async fn hec_delivers_thousands_of_events_in_strict_envelopes() {
    let server = HecServer::new(hec_behaviour(false));
    let url = spawn(server.router()).await;
    let token = secret_file("hec-token");
    let mut sink = hec_sink(&url, &token, json!({"gzip": true, "batch_max_events": 100}));
    let events = events(3000, 200);
    let report = deliver_all(sink.as_mut(), batches(&events, Format::Json)).await;
    assert_eq!(server.log.violations(), Vec::<String>::new());
    assert_eq!(report.delivered, 3000);
    assert_eq!(server.distinct_ids(), ids(&events));
    assert_eq!(*server.event_posts.lock().unwrap(), 30);
    sink.probe().await.expect("health and token check");
}

#[tokio::test]
async fn hec_with_indexer_ack_counts_events_only_once_acknowledged() {
    let server = HecServer::new(hec_behaviour(true));
    let url = spawn(server.router()).await;
    let token = secret_file("hec-token");
    let mut sink = hec_sink(
        &url,
        &token,
        json!({"indexer_ack": true, "ack_interval": "100ms", "batch_max_events": 250}),
    );
    let events = events(2000, 100);
    let started = std::time::Instant::now();
    let report = deliver_all(sink.as_mut(), batches(&events, Format::Json)).await;
    assert_eq!(server.log.violations(), Vec::<String>::new());
    assert_eq!(report.delivered, 2000);
    assert_eq!(
        report.sends, 4,
        "every batch acknowledged on its first send"
    );
    assert_eq!(server.acked.lock().unwrap().len(), 8);
    assert!(
        started.elapsed() >= Duration::from_millis(4 * 300),
        "waited for the acks"
    );
    assert_eq!(server.distinct_ids(), ids(&events));
    sink.probe().await.expect("health, token and channel check");
}

#[tokio::test]
async fn hec_ack_that_stays_false_makes_the_batch_resend() {
    let server = HecServer::new(HecBehaviour {
        withheld: HashSet::from([0]),
        ..hec_behaviour(true)
    });
    let url = spawn(server.router()).await;
    let token = secret_file("hec-token");
    let mut sink = hec_sink(
        &url,
        &token,
        json!({"indexer_ack": true, "ack_interval": "100ms", "ack_timeout": "1s"}),
    );
    let events = events(300, 50);
    let report = deliver_all(sink.as_mut(), batches(&events, Format::Json)).await;
    assert_eq!(report.delivered, 300);
    assert_eq!(report.sends, 2);
    assert_eq!(
        *server.event_posts.lock().unwrap(),
        2,
        "the unacknowledged request was sent again"
    );
    assert_eq!(server.received.lock().unwrap().len(), 600);
    assert_eq!(*server.acked.lock().unwrap(), [1]);
}

#[tokio::test]
async fn hec_late_ack_still_counts_and_spares_the_resend() {
    let server = HecServer::new(HecBehaviour {
        ack_delay: Duration::from_millis(1200),
        ..hec_behaviour(true)
    });
    let url = spawn(server.router()).await;
    let token = secret_file("hec-token");
    let mut sink = hec_sink(
        &url,
        &token,
        json!({"indexer_ack": true, "ack_interval": "200ms", "ack_timeout": "1s"}),
    );
    let events = events(300, 50);
    let mut report = Report::default();
    let batch = batches(&events, Format::Json).remove(0);
    match sink.send(&batch).await {
        atp_forwarder::sink::SendOutcome::Retry { .. } => {}
        other => panic!("expected a retry after the ack timeout, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    deliver(sink.as_mut(), batch, &mut report).await;
    assert_eq!(report.delivered, 300);
    assert_eq!(
        *server.event_posts.lock().unwrap(),
        1,
        "the late ack spared the resend"
    );
    assert_eq!(*server.acked.lock().unwrap(), [0]);
}

#[tokio::test]
async fn hec_honours_retry_after_on_429() {
    let server = HecServer::new(hec_behaviour(false));
    server.log.throttle(Throttle {
        remaining: 1,
        status: 429,
        retry_after: "2",
    });
    let url = spawn(server.router()).await;
    let token = secret_file("hec-token");
    let mut sink = hec_sink(&url, &token, json!({}));
    let events = events(400, 50);
    let report = deliver_all(sink.as_mut(), batches(&events, Format::Json)).await;
    assert_eq!(report.delivered, 400);
    assert_waited_without_storm(&server.log, 1, 1, Duration::from_secs(2));
    assert_eq!(server.distinct_ids(), ids(&events));
}

#[tokio::test]
async fn hec_dead_letters_an_invalid_event_alone_and_resends_the_others() {
    let server = HecServer::new(hec_behaviour(false));
    let url = spawn(server.router()).await;
    let token = secret_file("hec-token");
    let mut sink = hec_sink(&url, &token, json!({}));
    let mut all = events(5, 10).to_vec();
    // HEC refuses this one (the strict server wants a record Id in every event) with code 6.
    let bad_id = uuid::Uuid::new_v4().to_string();
    all[2] = event_from(
        json!({"CreationTime": "2025-11-20T10:00:00"}),
        &bad_id,
        "2025-11-20T10:00:00",
    );
    let events = std::sync::Arc::new(all);
    let report = deliver_all(sink.as_mut(), batches(&events, Format::Json)).await;
    assert_eq!(report.delivered, 4);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].0, bad_id);
    assert!(
        report.rejected[0].1.contains("HEC code 6"),
        "{}",
        report.rejected[0].1
    );
    assert_eq!(server.log.violations().len(), 1);
    assert_eq!(
        *server.event_posts.lock().unwrap(),
        1,
        "the refused request indexed nothing"
    );
    assert_eq!(server.distinct_ids().len(), 4);
}

#[tokio::test]
async fn hec_probe_fails_on_a_wrong_token() {
    let server = HecServer::new(hec_behaviour(false));
    let url = spawn(server.router()).await;
    let token = secret_file("not-the-token");
    let mut sink = hec_sink(&url, &token, json!({}));
    let error = sink.probe().await.expect_err("wrong token").to_string();
    assert!(error.contains("403"), "{error}");
}

// --- elasticsearch ---

#[tokio::test]
async fn elasticsearch_delivers_thousands_of_events_with_create_and_the_record_id() {
    let server = EsServer::new(
        "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==",
        "o365-atp-",
    );
    let url = spawn(server.router()).await;
    let key = secret_file("VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==");
    let mut sink = build(json!({
        "type": "elasticsearch", "name": "es", "url": url, "api_key_file": &*key, "gzip": true,
        "batch_max_bytes": 200_000,
    }));
    let events = events(3000, 300);
    let report = deliver_all(sink.as_mut(), batches(&events, Format::Json)).await;
    assert_eq!(server.log.violations(), Vec::<String>::new());
    assert_eq!(report.delivered, 3000);
    assert_eq!(server.ids(), ids(&events));
    // A second delivery of the same events is a per-item 409: delivered, nothing new stored.
    let again = deliver_all(sink.as_mut(), batches(&events, Format::Json)).await;
    assert_eq!(again.delivered, 3000);
    assert_eq!(server.ids().len(), 3000);
}

#[tokio::test]
async fn elasticsearch_mixed_bulk_answer_resends_only_the_429_items() {
    let server = EsServer::new("Basic ZWxhc3RpYzpjaGFuZ2VtZQ==", "o365-atp-");
    let url = spawn(server.router()).await;
    let password = secret_file("changeme");
    let mut sink = build(json!({
        "type": "elasticsearch", "name": "es", "url": url, "username": "elastic", "password_file": &*password,
    }));
    let events = events(10, 10);
    let id = |i: usize| events[i].record.id.clone();
    // Event 1 exists already (409), events 2 and 3 are throttled once (429), event 4 has a mapping error (400).
    server.documents.lock().unwrap().insert(id(1), json!({}));
    server.script.lock().unwrap().extend([
        (id(2), VecDeque::from([429])),
        (id(3), VecDeque::from([429])),
        (id(4), VecDeque::from([400])),
    ]);
    let report = deliver_all(sink.as_mut(), batches(&events, Format::Json)).await;
    assert_eq!(server.log.violations(), Vec::<String>::new());
    assert_eq!(report.delivered, 9, "201s, the 409 and the resent 429s");
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].0, id(4));
    assert!(
        report.rejected[0].1.contains("400")
            && report.rejected[0].1.contains("mapper_parsing_exception")
    );
    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[1],
        [id(2), id(3)],
        "only the 429 items were resent"
    );
}

#[tokio::test]
async fn elasticsearch_honours_retry_after_on_429() {
    let server = EsServer::new("Basic ZWxhc3RpYzpjaGFuZ2VtZQ==", "atp-");
    server.log.throttle(Throttle {
        remaining: 2,
        status: 429,
        retry_after: "2",
    });
    let url = spawn(server.router()).await;
    let password = secret_file("changeme");
    let mut sink = build(json!({
        "type": "elasticsearch", "name": "es", "url": url, "username": "elastic", "password_file": &*password,
        "index": "ATP-%Y.%m.%d",
    }));
    let events = events(200, 10);
    let report = deliver_all(sink.as_mut(), batches(&events, Format::Json)).await;
    assert_eq!(server.log.violations(), Vec::<String>::new());
    assert_eq!(report.delivered, 200);
    assert_waited_without_storm(&server.log, 2, 1, Duration::from_secs(2));
}

// --- sentinel ---

async fn sentinel(
    server: &std::sync::Arc<SentinelServer>,
    secret: &tempfile::TempPath,
) -> Box<dyn atp_forwarder::sink::Sink> {
    let url = spawn(server.router()).await;
    build(json!({
        "type": "sentinel", "name": "sentinel", "endpoint": url, "login_url": url,
        "dcr_id": server.dcr_id, "stream": server.stream, "tenant_id": TENANT, "client_id": CLIENT,
        "client_secret_file": &**secret,
    }))
}

#[tokio::test]
async fn sentinel_takes_its_token_with_a_certificate() {
    let server = SentinelServer::new(TENANT, CLIENT, "app-secret");
    let dir = tempfile::tempdir().unwrap();
    let certificate = make_certificate(dir.path(), "sentinel");
    server.register_certificate(certificate.public_key_pkcs1_der());
    let url = spawn(server.router()).await;
    let mut sink = build(json!({
        "type": "sentinel", "name": "sentinel", "endpoint": url, "login_url": url,
        "dcr_id": server.dcr_id, "stream": server.stream, "tenant_id": TENANT, "client_id": CLIENT,
        "certificate_file": certificate.certificate_file, "private_key_file": certificate.key_file,
    }));
    let delivered = events(10, 10);
    let report = deliver_all(sink.as_mut(), batches(&delivered, Format::Json)).await;
    assert_eq!(server.log.violations(), Vec::<String>::new());
    assert_eq!(report.delivered, 10);
    assert_eq!(server.ids(), ids(&delivered));
    assert_eq!(
        *server.assertions.lock().unwrap(),
        1,
        "one token, by assertion"
    );

    // A certificate whose key the server does not know gets no token: nothing is acknowledged.
    server.register_certificate(b"not the key".to_vec());
    server.revoke();
    let batch = batches(&events(1, 10), Format::Json).remove(0);
    assert!(matches!(
        sink.send(&batch).await,
        atp_forwarder::sink::SendOutcome::Retry { .. }
    ));
}

#[tokio::test]
async fn sentinel_delivers_thousands_of_events_in_gzip_requests_under_1_mb() {
    let server = SentinelServer::new(TENANT, CLIENT, "app-secret");
    let secret = secret_file("app-secret");
    let mut sink = sentinel(&server, &secret).await;
    // ~3 KB per event: a pipeline batch of 500 is ~1.5 MB and must be split.
    let events = events(3000, 3000);
    let report = deliver_all(sink.as_mut(), batches(&events, Format::Json)).await;
    assert_eq!(server.log.violations(), Vec::<String>::new());
    assert_eq!(report.delivered, 3000);
    assert_eq!(server.ids(), ids(&events));
    let sizes = server.sizes.lock().unwrap().clone();
    assert!(
        sizes.len() >= 12,
        "batches were split: {} requests",
        sizes.len()
    );
    assert!(sizes
        .iter()
        .all(|&(gz, raw)| gz <= sentinel_server::LIMIT && raw <= sentinel_server::LIMIT));
    assert_eq!(
        *server.scopes.lock().unwrap(),
        ["https://monitor.azure.com/.default"],
        "one cached token"
    );
}

#[tokio::test]
async fn sentinel_refreshes_a_revoked_token_after_401() {
    let server = SentinelServer::new(TENANT, CLIENT, "app-secret");
    let secret = secret_file("app-secret");
    let mut sink = sentinel(&server, &secret).await;
    let events = events(20, 10);
    let mut batches = batches(&events, Format::Json);
    let mut report = Report::default();
    deliver(sink.as_mut(), batches.remove(0), &mut report).await;
    server.revoke();
    let more = http_sink_kit::events(20, 10);
    deliver(
        sink.as_mut(),
        http_sink_kit::batches(&more, Format::Json).remove(0),
        &mut report,
    )
    .await;
    assert_eq!(report.delivered, 40);
    assert_eq!(
        report.sends, 3,
        "one 401, then the resend with a fresh token"
    );
    assert_eq!(server.scopes.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn sentinel_rejects_an_event_over_1_mb_and_delivers_the_rest() {
    let server = SentinelServer::new(TENANT, CLIENT, "app-secret");
    let secret = secret_file("app-secret");
    let mut sink = sentinel(&server, &secret).await;
    let mut all: Vec<_> = http_sink_kit::events(4, 10).to_vec();
    all.extend(http_sink_kit::events(1, 1_100_000).iter().cloned());
    let events = std::sync::Arc::new(all);
    let report = deliver_all(sink.as_mut(), batches(&events, Format::Json)).await;
    assert_eq!(report.delivered, 4);
    assert_eq!(report.rejected.len(), 1);
    assert!(
        report.rejected[0].1.contains("at most 1000000 bytes"),
        "{}",
        report.rejected[0].1
    );
    assert_eq!(server.log.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn sentinel_honours_retry_after_on_429() {
    let server = SentinelServer::new(TENANT, CLIENT, "app-secret");
    server.log.throttle(Throttle {
        remaining: 1,
        status: 429,
        retry_after: "2",
    });
    let secret = secret_file("app-secret");
    let mut sink = sentinel(&server, &secret).await;
    let events = events(100, 10);
    let report = deliver_all(sink.as_mut(), batches(&events, Format::Json)).await;
    assert_eq!(report.delivered, 100);
    assert_waited_without_storm(&server.log, 1, 1, Duration::from_secs(2));
    sink.probe().await.expect("token, DCR and stream reachable");
}

// --- config ---

#[test]
fn config_problems_name_their_keys() {
    let keys = problems(json!({"type": "http", "name": "h", "url": "ftp://x", "auth": "bearer"}));
    assert_eq!(keys, ["url", "token_file"]);
    let keys = problems(
        json!({"type": "splunk_hec", "name": "s", "url": "https://s:8088",
        "token_env": "ATPF_UNSET_HEC_TOKEN", "ack_interval": "0s"}),
    );
    assert_eq!(keys, ["ack_interval", "token_env"]);
    let keys = problems(
        json!({"type": "elasticsearch", "name": "e", "url": "https://e:9200",
        "index": "_bad-%Y", "username": "elastic"}),
    );
    assert_eq!(keys, ["index", "password_file"]);
    let keys = problems(
        json!({"type": "sentinel", "name": "s", "endpoint": "https://dce", "dcr_id": "x",
        "stream": "Custom-X", "tenant_id": TENANT, "client_id": "nope", "batch_max_bytes": 2_000_000}),
    );
    assert_eq!(
        keys,
        [
            "batch_max_bytes",
            "dcr_id",
            "client_id",
            "client_secret_file"
        ]
    );
    let keys = problems(
        json!({"type": "sentinel", "name": "s", "endpoint": "https://dce", "dcr_id": "dcr-1",
        "stream": "Custom-X", "tenant_id": TENANT, "client_id": CLIENT,
        "client_secret_env": "ATPF_UNSET_SENTINEL_SECRET", "certificate_file": "/x.crt"}),
    );
    assert_eq!(
        keys,
        ["certificate_file"],
        "a secret or a certificate, not both"
    );
    let keys = problems(
        json!({"type": "sentinel", "name": "s", "endpoint": "https://dce", "dcr_id": "dcr-1",
        "stream": "Custom-X", "tenant_id": TENANT, "client_id": CLIENT, "certificate_file": "/x.crt"}),
    );
    assert_eq!(keys, ["private_key_file"]);
    let unknown = serde_json::from_value::<atp_forwarder::sink::SinkConfig>(
        json!({"type": "splunk_hec", "name": "s", "url": "https://s", "tokn_file": "/x"}),
    );
    assert!(unknown.unwrap_err().to_string().contains("tokn_file"));
}

#[test]
fn the_example_configs_only_lack_their_secret_files() {
    use atp_forwarder::config::{Config, ConfigError};
    for name in ["http", "splunk_hec", "elasticsearch", "sentinel"] {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(format!("config/{name}.toml"));
        match Config::load(&path) {
            Err(ConfigError::Invalid { problems, .. }) => assert!(
                problems.iter().all(|problem| problem.key.ends_with("_file")
                    && problem.message.contains("cannot read secret file")),
                "{name}: {problems:?}"
            ),
            Err(other) => panic!("{name}: {other}"),
            Ok(_) => panic!("{name}: secret files should not exist here"),
        }
    }
}
