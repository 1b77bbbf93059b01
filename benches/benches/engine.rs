//! Micro-benchmarks of the engine's hot paths: container-number validation, event
//! validation, the policy, and the sled store's publish and trace-commit cycle.

use std::hint::black_box;

use boxtrace::testing::t0;
use boxtrace::{
    Command, ContainerNumber, EmitReason, JobStore, Policy, PolicyInput, SledStore, Status,
    TraceCommit, TraceKind, TraceResult,
};
use boxtrace_benches::{export_event, export_request};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn validation(c: &mut Criterion) {
    c.bench_function("container_number/parse", |b| {
        b.iter(|| ContainerNumber::parse(black_box(" csqu 305438-3")))
    });
    let body = export_event(42);
    c.bench_function("event/validate", |b| {
        b.iter(|| Command::from_json(black_box(&body)))
    });
    // Baseline in the same run: parsing the same JSON into a Value and nothing else.
    c.bench_function("event/parse_only_baseline", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&body)))
    });
}

fn policy(c: &mut Criterion) {
    let policy = Policy::default();
    let mut rng = StdRng::seed_from_u64(1);
    let mut result = TraceResult::new(Status::GatedIn, t0());
    result.key_dates.vessel_departure = Some(t0() + chrono::Duration::hours(30));
    c.bench_function("policy/decide", |b| {
        b.iter(|| {
            let input = PolicyInput {
                kind: TraceKind::Export,
                now: t0(),
                tracking_since: t0() - chrono::Duration::days(2),
                result: Some(&result),
                last_changed_at: Some(t0() - chrono::Duration::hours(5)),
                not_found_since: None,
                consecutive_errors: 0,
                retry_after: None,
            };
            policy.decide(black_box(&input), &mut rng)
        })
    });
}

fn store(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let store = SledStore::open_path(dir.path()).unwrap_or_else(|e| panic!("open: {e}"));
    let mut n = 0u64;
    // One durable publish at a time: the latency of a flush, no group commit to share it.
    c.bench_function("sled/publish_durable_alone", |b| {
        b.iter(|| {
            n += 1;
            runtime.block_on(store.publish(export_request(n), true, t0()))
        })
    });
    // 64 concurrent publishes share flushes (group commit).
    c.bench_function("sled/publish_durable_x64_concurrent", |b| {
        b.iter_batched(
            || {
                (0..64)
                    .map(|_| {
                        n += 1;
                        export_request(n)
                    })
                    .collect::<Vec<_>>()
            },
            |requests| {
                runtime.block_on(async {
                    let tasks: Vec<_> = requests
                        .into_iter()
                        .map(|r| {
                            let store = store.clone();
                            tokio::spawn(async move { store.publish(r, true, t0()).await })
                        })
                        .collect();
                    for t in tasks {
                        let _ = t.await;
                    }
                })
            },
            BatchSize::SmallInput,
        )
    });
    // An unchanged trace: claim one due job and commit it without an event.
    let lease = t0() + chrono::Duration::minutes(1);
    c.bench_function("sled/claim_and_commit_unchanged", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let claimed = store.claim_due(t0(), 1, lease).await.unwrap_or_default();
                for c in claimed {
                    let mut job = c.job.clone();
                    job.due_at = Some(t0());
                    let _ = store
                        .complete(TraceCommit {
                            token: c.token,
                            job,
                            emit: None,
                            now: t0(),
                        })
                        .await;
                }
            })
        })
    });
    c.bench_function("sled/claim_and_commit_changed_durable", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let claimed = store.claim_due(t0(), 1, lease).await.unwrap_or_default();
                for c in claimed {
                    let mut job = c.job.clone();
                    job.due_at = Some(t0());
                    job.last_result = Some(TraceResult::new(Status::GatedIn, t0()));
                    let _ = store
                        .complete(TraceCommit {
                            token: c.token,
                            job,
                            emit: Some(EmitReason::Changed),
                            now: t0(),
                        })
                        .await;
                }
            })
        })
    });
}

criterion_group!(benches, validation, policy, store);
criterion_main!(benches);
