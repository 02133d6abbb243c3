//! Liveness and readiness rules.

use super::*;

/// Long enough to pass for "made no progress" in these tests, short enough to wait out.
const SHORT: Duration = Duration::from_millis(30);

#[test]
fn a_ticking_loop_is_healthy_and_a_silent_one_is_stalled() {
    let health = Health::new();
    health.set_stall_after(SHORT);
    let stream = health.register_loop("stream", "contoso/Audit.General", Some("contoso"));
    assert!(health.liveness().healthy);
    std::thread::sleep(SHORT * 2);
    let liveness = health.liveness();
    assert!(!liveness.healthy);
    assert!(
        liveness.problems[0].contains("stream contoso/Audit.General made no progress"),
        "{liveness:?}"
    );
    stream.tick();
    assert!(health.liveness().healthy);
}

#[test]
fn a_loop_in_a_known_wait_or_with_an_active_tenant_is_not_stalled() {
    let health = Health::new();
    health.set_stall_after(SHORT);
    let stream = health.register_loop("stream", "a/Audit.General", Some("a"));
    let sink = health.register_loop("sink", "file", None);
    let waiting = sink.waiting();
    std::thread::sleep(SHORT * 2);
    health.tenant_activity("a");
    assert!(health.liveness().healthy, "{:?}", health.liveness());
    drop(waiting);
    assert!(health.liveness().healthy, "the end of a wait is a tick");
    drop(stream);
}

#[test]
fn a_loop_that_ends_is_dead_unless_the_daemon_is_stopping() {
    let health = Health::new();
    let sink = health.register_loop("sink", "siem", None);
    drop(sink);
    let liveness = health.liveness();
    assert!(!liveness.healthy);
    assert!(
        liveness.problems[0].contains("sink siem stopped unexpectedly"),
        "{liveness:?}"
    );
    health.stopping();
    assert!(health.liveness().healthy);
}

#[test]
fn readiness_needs_the_config_a_token_and_reachable_sinks_and_shows_a_failing_tenant() {
    let health = Health::new();
    assert!(!health.readiness().ready);
    health.config_loaded(["good", "broken"], ["file"]);
    assert!(!health.readiness().ready, "no token yet");
    health.token_obtained("good");
    health.tenant_ok("good");
    health.tenant_failed("broken", "AADSTS7000215: the client secret is wrong");
    let readiness = health.readiness();
    assert!(readiness.ready, "{readiness:?}");
    let broken = readiness
        .tenants
        .iter()
        .find(|tenant| tenant.name == "broken")
        .unwrap();
    assert_eq!(broken.status, "failing");
    assert!(broken.error.as_deref().unwrap().contains("AADSTS7000215"));
    assert_eq!(health.failing_tenants(), vec!["broken".to_string()]);

    health.sink_result("file", Err("connection refused".into()));
    assert!(!health.readiness().ready, "a sink that cannot be reached");
    health.sink_result("file", Ok(()));
    assert!(health.readiness().ready);
}

#[tokio::test]
async fn first_token_resolves_once_any_tenant_has_a_token() {
    let health = Health::new();
    let waiter = tokio::spawn({
        let health = health.clone();
        async move { health.first_token().await }
    });
    health.token_obtained("a");
    tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("resolves")
        .expect("joins");
}
