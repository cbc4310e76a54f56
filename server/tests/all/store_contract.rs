//! The store's contract, asserted identically on SQLite and Postgres.

use std::collections::HashSet;
use std::sync::Arc;

use crate::common::{result, stores};
use flash_core::measurement::{DeviceDescriptor, Protocol};
use flash_core::{ArchSpec, Space};
use flash_server::store::Fenced;
use flash_server::store::NewArchitecture;
use flash_server::store::{ArchitectureFilter, JobFilter, JobState, NewJobs, Scope, Store};

fn descriptor(profile: &str) -> DeviceDescriptor {
    DeviceDescriptor {
        profile: profile.into(),
        ..Default::default()
    }
}

async fn seed(store: &Store, n: usize, device: &str) -> Vec<String> {
    let specs = Space::default_space().sample_uniform(n, 7);
    let archs = store
        .put_architectures(specs.into_iter().map(NewArchitecture::from_spec).collect())
        .await
        .unwrap();
    store
        .put_device(device, &descriptor("x86-host"))
        .await
        .unwrap();
    archs.into_iter().map(|a| a.id).collect()
}

async fn queue(store: &Store, ids: &[String], device: &str, max_attempts: i64) -> Vec<String> {
    store
        .create_jobs(NewJobs {
            architecture_ids: ids.to_vec(),
            device: device.into(),
            protocol: Protocol::default(),
            max_attempts,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|(j, _)| j.id)
        .collect()
}

/// Moves every running lease of the device into the past, as time passing would.
async fn expire_leases(store: &Store, device: &str) {
    sqlx::query("UPDATE job SET lease_expires_at = lease_expires_at - 3600000 WHERE device = $1 AND state = 'running'")
        .bind(device)
        .execute(store.pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn architectures_are_stored_once_and_listed_in_pages() {
    for t in stores().await {
        let store = &t.store;
        let spec = ArchSpec::from_json(crate::common::EXAMPLE_SPEC).unwrap();
        let (a, new) = store
            .put_architecture(NewArchitecture::from_spec(spec.clone()))
            .await
            .unwrap();
        assert!(new, "{}", t.backend);
        let (b, again) = store
            .put_architecture(NewArchitecture::from_spec(spec))
            .await
            .unwrap();
        assert!(!again, "{}", t.backend);
        assert_eq!(a.id, b.id);
        assert_eq!(a.created_at, b.created_at);
        assert!(a.in_space);

        seed(store, 30, "dev").await;
        let mut seen = HashSet::new();
        let mut cursor = 0;
        loop {
            let page = store
                .list_architectures(&ArchitectureFilter::default(), cursor, 7)
                .await
                .unwrap();
            assert!(page.items.len() <= 7);
            for item in &page.items {
                assert!(
                    seen.insert(item.id.clone()),
                    "{}: duplicate across pages",
                    t.backend
                );
            }
            match page.next_cursor {
                Some(c) => cursor = c.parse().unwrap(),
                None => break,
            }
        }
        assert_eq!(seen.len(), 31, "{}", t.backend);

        let filter = ArchitectureFilter {
            nn_degree_max: Some(200.0),
            params_max: Some(1_000_000),
            ..Default::default()
        };
        let page = store.list_architectures(&filter, 0, 1000).await.unwrap();
        assert!(
            page.items
                .iter()
                .all(|a| a.metrics.nn_degree <= 200.0 && a.metrics.params <= 1_000_000)
        );
        let other = ArchitectureFilter {
            space: Some("nope".into()),
            ..Default::default()
        };
        assert!(
            store
                .list_architectures(&other, 0, 10)
                .await
                .unwrap()
                .items
                .is_empty()
        );
    }
}

#[tokio::test]
async fn devices_upsert_and_heartbeat() {
    for t in stores().await {
        let store = &t.store;
        let (d, created) = store
            .put_device("pi-1", &descriptor("raspberry-pi-3b"))
            .await
            .unwrap();
        assert!(created && d.online, "{}", t.backend);
        let (d, created) = store
            .put_device("pi-1", &descriptor("x86-host"))
            .await
            .unwrap();
        assert!(!created, "{}", t.backend);
        assert_eq!(d.profile, "x86-host");
        sqlx::query("UPDATE device SET last_heartbeat_at = last_heartbeat_at - 3600000")
            .execute(store.pool())
            .await
            .unwrap();
        assert!(!store.device("pi-1").await.unwrap().online);
        assert!(store.heartbeat_device("pi-1").await.unwrap().online);
        assert!(store.heartbeat_device("nope").await.is_err());
    }
}

#[tokio::test]
async fn tokens_verify_only_their_secret_until_revoked() {
    for t in stores().await {
        let store = &t.store;
        let token = store.create_token("ci", Scope::Write).await.unwrap();
        let v = store.verify_token(&token).await.unwrap().unwrap();
        assert_eq!(v.scope, Scope::Write);
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('0') { '1' } else { '0' });
        assert!(store.verify_token(&forged).await.unwrap().is_none());
        assert!(
            store.create_token("ci", Scope::Read).await.is_err(),
            "names are unique"
        );
        let stored: Vec<(String,)> = sqlx::query_as("SELECT secret_hash FROM api_token")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert!(
            stored.iter().all(|(h,)| !token.contains(h.as_str())),
            "the secret is not stored"
        );
        assert!(store.revoke_token("ci").await.unwrap());
        assert!(store.verify_token(&token).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn live_jobs_are_not_duplicated() {
    for t in stores().await {
        let store = &t.store;
        let ids = seed(store, 3, "dev").await;
        let first = queue(store, &ids, "dev", 3).await;
        let again = store
            .create_jobs(NewJobs {
                architecture_ids: ids.clone(),
                device: "dev".into(),
                protocol: Protocol::default(),
                max_attempts: 3,
            })
            .await
            .unwrap();
        assert!(again.iter().all(|(_, created)| !created), "{}", t.backend);
        assert_eq!(
            again.iter().map(|(j, _)| j.id.clone()).collect::<Vec<_>>(),
            first
        );
        let other = Protocol {
            threads: Some(1),
            ..Default::default()
        };
        let more = store
            .create_jobs(NewJobs {
                architecture_ids: ids,
                device: "dev".into(),
                protocol: other,
                max_attempts: 3,
            })
            .await
            .unwrap();
        assert!(
            more.iter().all(|(_, created)| *created),
            "another protocol is another job"
        );
    }
}

#[tokio::test]
async fn concurrent_claimers_never_share_a_job_and_a_device_runs_one_at_a_time() {
    for t in stores().await {
        let store = Arc::new(t.store.clone());
        let ids = seed(&store, 12, "dev").await;
        queue(&store, &ids, "dev", 3).await;
        // 16 claimers race for the device until the queue is empty; each completes what it got.
        let completed = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (store, completed) = (store.clone(), completed.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..400 {
                    match store.claim_job("dev", 30_000).await.unwrap() {
                        Some(job) => {
                            let (queued, running) = store.queue_depth().await.unwrap();
                            assert_eq!(
                                running, 1,
                                "one job at a time per device ({queued} queued)"
                            );
                            match store
                                .complete_job(&job.id, job.attempt, result(2.0))
                                .await
                                .unwrap()
                            {
                                Fenced::Done(_) => completed.lock().unwrap().push(job.id),
                                Fenced::LeaseLost { .. } => panic!("lease lost without expiry"),
                            }
                        }
                        None => {
                            if store.queue_depth().await.unwrap() == (0, 0) {
                                break;
                            }
                            tokio::task::yield_now().await;
                        }
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let completed = completed.lock().unwrap().clone();
        let unique: HashSet<_> = completed.iter().collect();
        assert_eq!(completed.len(), 12, "{}: every job once", t.backend);
        assert_eq!(unique.len(), 12, "{}: no job twice", t.backend);
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM measurement")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(n, 12, "{}", t.backend);
    }
}

#[tokio::test]
async fn expired_leases_are_requeued_and_stale_attempts_refused() {
    for t in stores().await {
        let store = &t.store;
        let ids = seed(store, 1, "dev").await;
        let job_id = queue(store, &ids, "dev", 2).await.remove(0);
        let first = store.claim_job("dev", 30_000).await.unwrap().unwrap();
        assert_eq!(first.attempt, 1);
        assert!(
            store.claim_job("dev", 30_000).await.unwrap().is_none(),
            "the lease holds"
        );
        expire_leases(store, "dev").await;
        let second = store.claim_job("dev", 30_000).await.unwrap().unwrap();
        assert_eq!(
            (second.id.as_str(), second.attempt),
            (job_id.as_str(), 2),
            "{}",
            t.backend
        );

        // The first attempt has lost its lease: nothing it sends changes anything.
        assert!(matches!(
            store.heartbeat_job(&job_id, 1, 30_000).await.unwrap(),
            Fenced::LeaseLost { attempt: 2, .. }
        ));
        assert!(matches!(
            store.complete_job(&job_id, 1, result(3.0)).await.unwrap(),
            Fenced::LeaseLost { .. }
        ));
        assert!(matches!(
            store.fail_job(&job_id, 1, "late").await.unwrap(),
            Fenced::LeaseLost { .. }
        ));
        assert_eq!(store.job(&job_id).await.unwrap().state, JobState::Running);

        // The holder completes, twice: one measurement.
        assert!(matches!(
            store.heartbeat_job(&job_id, 2, 30_000).await.unwrap(),
            Fenced::Done(_)
        ));
        let Fenced::Done(m1) = store.complete_job(&job_id, 2, result(3.0)).await.unwrap() else {
            panic!()
        };
        let Fenced::Done(m2) = store.complete_job(&job_id, 2, result(3.0)).await.unwrap() else {
            panic!()
        };
        assert_eq!(m1.id, m2.id, "{}", t.backend);
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM measurement")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(store.job(&job_id).await.unwrap().state, JobState::Succeeded);
    }
}

#[tokio::test]
async fn a_job_fails_after_its_last_attempt_with_the_reason() {
    for t in stores().await {
        let store = &t.store;
        let ids = seed(store, 2, "dev").await;
        let jobs = queue(store, &ids, "dev", 2).await;
        // Attempt 1 reports a failure: queued again; attempt 2's lease expires: failed.
        let a1 = store.claim_job("dev", 30_000).await.unwrap().unwrap();
        assert_eq!(a1.id, jobs[0]);
        let Fenced::Done(j) = store.fail_job(&a1.id, 1, "out of memory").await.unwrap() else {
            panic!()
        };
        assert_eq!(j.state, JobState::Queued);
        let a2 = store.claim_job("dev", 30_000).await.unwrap().unwrap();
        assert_eq!((a2.id.as_str(), a2.attempt), (jobs[0].as_str(), 2));
        expire_leases(store, "dev").await;
        let next = store.claim_job("dev", 30_000).await.unwrap().unwrap();
        assert_eq!(
            next.id, jobs[1],
            "{}: the exhausted job is skipped",
            t.backend
        );
        let failed = store.job(&jobs[0]).await.unwrap();
        assert_eq!(failed.state, JobState::Failed);
        let reason = failed.error.unwrap();
        assert!(
            reason.contains("lease expired on attempt 2 of 2"),
            "{reason}"
        );
        assert!(reason.contains("out of memory"), "{reason}");
        let failed_jobs = store
            .list_jobs(
                &JobFilter {
                    state: Some(JobState::Failed),
                    device: None,
                },
                0,
                10,
            )
            .await
            .unwrap();
        assert_eq!(failed_jobs.items.len(), 1);
    }
}

#[tokio::test]
async fn metrics_stored_by_an_earlier_version_are_recomputed_when_the_store_opens() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let spec = Space::default_space().sample_uniform(1, 21).remove(0);
    let id = spec.id();
    let fresh = {
        let store = Store::open_embedded(dir.path()).await.unwrap();
        let (arch, _) = store
            .put_architecture(NewArchitecture::from_spec(spec))
            .await
            .unwrap();
        arch.metrics
    };
    assert!(!fresh.stages.is_empty());
    // The row as an earlier version wrote it: no per-stage or per-kind counts, and no record
    // that the recomputation ran.
    let mut old = serde_json::to_value(&fresh).unwrap();
    old.as_object_mut().unwrap().remove("stages");
    old.as_object_mut().unwrap().remove("layers_by_kind");
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}", dir.path().join("flash.sqlite3").display());
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE architecture SET metrics = $1 WHERE architecture_id = $2")
        .bind(old.to_string())
        .bind(&id)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM maintenance")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let store = Store::open_embedded(dir.path()).await.unwrap();
    assert_eq!(store.architecture(&id).await.unwrap().metrics, fresh);
    drop(store);

    // An imported network stored before NN-Mass counted residual blocks by their kind.
    let bytes = include_bytes!("../../../core/tests/fixtures/zoo/resnet18.onnx").to_vec();
    let graph = flash_core::onnx::import(&bytes).unwrap();
    let metrics = flash_core::metrics::compute(&graph);
    let imported = flash_core::identity::architecture_id(graph.canonical_json().as_bytes());
    let store = Store::open_embedded(dir.path()).await.unwrap();
    store
        .put_architecture(NewArchitecture {
            id: imported.clone(),
            source: flash_client::Source::Onnx,
            space: None,
            in_space: false,
            spec: None,
            onnx: Some(bytes),
            metrics: metrics.clone(),
        })
        .await
        .unwrap();
    drop(store);
    let mut old = serde_json::to_value(&metrics).unwrap();
    old["nn_mass"] = serde_json::json!(0.0);
    old["nn_degree"] = serde_json::json!(0.0);
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE architecture SET metrics = $1 WHERE architecture_id = $2")
        .bind(old.to_string())
        .bind(&imported)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM maintenance WHERE task IN ('block-mass', 'downsampling-degree')")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let store = Store::open_embedded(dir.path()).await.unwrap();
    let reread = store.architecture(&imported).await.unwrap().metrics;
    // (Floats through JSON text may differ in the last bit.)
    assert_eq!(reread.nn_mass, metrics.nn_mass);
    assert!(reread.nn_mass > 0.0);
    assert!((reread.nn_degree - metrics.nn_degree).abs() < 1e-9);
    assert_eq!(reread.stages, metrics.stages);
}
