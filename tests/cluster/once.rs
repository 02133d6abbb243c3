//! `run --once` in cluster mode: takes every stream no live replica holds, catches it up, releases it.

use crate::harness::*;
use crate::pg;
use crate::LEASE_TEXT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_in_cluster_mode_catches_up_every_free_stream_and_releases_its_leases() {
    pg::with_schema(|schema| async move {
        let tenants = tenants(2);
        let types = ["Audit.General", "Audit.SharePoint"];
        let emulator = start_emulator(&tenants, &types, |_| {}).await;
        let work = tempfile::tempdir().expect("tempdir");
        let config = write_config(
            work.path(),
            &emulator.base_url(),
            &schema.url(),
            &tenants,
            &types,
            LEASE_TEXT,
        );
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_atp-forwarder"))
                .args(["run", "--once", "--config"])
                .arg(&config)
                .env_remove("RUST_LOG")
                .env("ATP_FORWARDER__STATE__REPLICA_ID", "one-shot")
                .output()
                .expect("the binary runs")
        })
        .await
        .expect("join");
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "run --once failed:\n{log}");
        let delivered: std::collections::BTreeSet<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| {
                let record: serde_json::Value = serde_json::from_str(line).expect("JSON line");
                record["Id"].as_str().expect("Id").to_string()
            })
            .collect();
        let expected = expected(&emulator, &tenants);
        assert!(
            expected.keys().all(|id| delivered.contains(id)),
            "every record delivered ({} of {})",
            delivered.len(),
            expected.len()
        );
        let pool = schema.pool().await;
        let rows = leases(&pool).await;
        assert_eq!(rows.len(), 4, "{rows:?}");
        assert!(
            rows.iter().all(|row| row.owner.is_none() && row.epoch == 1),
            "{rows:?}"
        );
        let committed = committed(&pool).await;
        assert!(committed
            .values()
            .all(|blob| blob.owner.as_deref() == Some("one-shot")));
        assert!(!committed.is_empty());
        emulator.shutdown().await;
    })
    .await;
}
