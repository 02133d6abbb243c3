//! `replay`: a past span is delivered again regardless of state, and dead-lettered blobs can be fetched
//! again once the cause is gone.

mod support;

use std::time::Duration;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_span_is_delivered_again_without_touching_the_state() {
    let emulator = start_emulator(|config| {
        config.history = Duration::from_secs(26 * 3600);
        config.blob_interval = Duration::from_secs(3600);
        config.records_per_blob = 20;
    })
    .await;
    let work = Workdir::new();
    let config = work.config(&emulator.base_url(), SECRET, "");
    let config = config.to_str().unwrap();
    let output = run_binary(&["run", "--once", "--config", config]).await;
    assert!(output.status.success(), "{}", text(&output));
    let first = work.delivered().len();
    let state_before = committed(&work.path("state/state.db")).await;

    let since = (chrono::Utc::now() - chrono::Duration::hours(27)).to_rfc3339();
    let output = run_binary(&["replay", "--since", &since, "--config", config]).await;
    assert!(output.status.success(), "{}", text(&output));
    let counts = id_counts(&work.delivered());
    let expected = emulator.expected_records(TENANT_ID, &ATP_TYPES);
    assert_eq!(work.delivered().len(), 2 * first, "everything once more");
    assert!(expected
        .iter()
        .all(|record| counts.get(&record.id) == Some(&2)));
    assert_eq!(
        committed(&work.path("state/state.db")).await,
        state_before,
        "the replay changed no state"
    );

    let too_old = (chrono::Utc::now() - chrono::Duration::days(8)).to_rfc3339();
    let output = run_binary(&["replay", "--since", &too_old, "--config", config]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("more than 7 days"),
        "{}",
        text(&output)
    );
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_blobs_are_dead_lettered_then_replayed_once_the_api_serves_them() {
    let anchor = chrono::Utc::now();
    let history = |config: &mut atp_forwarder::emulator::EmulatorConfig| {
        config.anchor = Some(anchor);
        config.history = Duration::from_secs(25 * 3600);
        config.blob_interval = Duration::from_secs(3600);
        config.records_per_blob = 30;
    };
    // The API serves some blobs as garbage...
    let broken = start_emulator(|config| {
        history(config);
        config.faults.malformed_blob_fraction = 0.2;
    })
    .await;
    let address = broken.local_addr();
    let work = Workdir::new();
    let config = work.config(&broken.base_url(), SECRET, "");
    let config = config.to_str().unwrap();
    let state = work.path("state/state.db");
    let output = run_binary(&["run", "--once", "--config", config]).await;
    assert!(
        output.status.success(),
        "the stream goes on past poison blobs:\n{}",
        text(&output)
    );
    let poison = dead_letters(&state)
        .await
        .into_iter()
        .filter(|(kind, _, _)| kind == "blob")
        .count();
    assert!(
        poison > 0 && poison as u64 <= broken.stats().faults.malformed_blobs,
        "{:?}",
        broken.stats()
    );
    broken.shutdown().await;

    // ...and later serves them whole (the same history, on the same address).
    let healed = atp_forwarder::emulator::Emulator::start(
        {
            let mut config = atp_forwarder::emulator::EmulatorConfig::single_tenant(
                TENANT_ID, CLIENT_ID, SECRET,
            );
            history(&mut config);
            config
        },
        address,
    )
    .await
    .expect("the healed emulator starts on the same address");
    let expected = healed.expected_records(TENANT_ID, &ATP_TYPES);
    let missing = expected
        .iter()
        .filter(|record| !id_counts(&work.delivered()).contains_key(&record.id))
        .count();
    assert!(
        missing > 0,
        "the poison blobs' events are missing before the replay"
    );

    let output = run_binary(&["replay", "--dead-letters", "--config", config]).await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains(&format!("{poison} dead letter(s) resolved")),
        "{}",
        text(&output)
    );
    let counts = id_counts(&work.delivered());
    assert!(
        expected
            .iter()
            .all(|record| counts.contains_key(&record.id)),
        "everything delivered after the replay"
    );
    assert!(
        dead_letters(&state)
            .await
            .iter()
            .all(|(kind, _, _)| kind != "blob"),
        "blob dead letters resolved"
    );
    healed.shutdown().await;
}
