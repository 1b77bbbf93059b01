//! Crash recovery: an engine dropped mid-trace, without shutdown, loses nothing that was
//! acknowledged; its leased jobs come due again when their leases lapse, and no trace's
//! result is written twice.

use std::time::Duration;

use boxtrace::testing::{container, t0, ScriptedTracer};
use boxtrace::{
    EmitReason, Engine, EngineConfig, JobKey, ManualClock, Policy, SledStore, StaticCredentials,
    Tenant, TraceKind, RESULTS_QUEUE,
};

fn engine(
    dir: &std::path::Path,
    tracer: &ScriptedTracer,
    clock: &ManualClock,
    max_in_flight: usize,
) -> Engine {
    Engine::builder()
        .store(SledStore::open_path(dir).expect("open"))
        .provider(tracer.clone())
        .credentials(StaticCredentials::new())
        .clock(clock.clone())
        .policy(Policy::default())
        .config(EngineConfig {
            lease: Duration::from_secs(60),
            max_in_flight,
            ..EngineConfig::default()
        })
        .build()
        .expect("engine")
}

fn export(n: u32) -> Vec<u8> {
    crate::support::export(container(n).as_str())
}

fn key(n: u32) -> JobKey {
    JobKey {
        tenant: Tenant::new("org-a", "svc-1"),
        kind: TraceKind::Export,
        provider_id: "scripted".into(),
        container: container(n).to_string(),
    }
}

#[test]
fn an_engine_dropped_mid_trace_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(t0());
    let crashed_tracer = ScriptedTracer::new("scripted");

    // The first process: five traces in flight (paused), a sixth job acknowledged but not
    // yet claimed because the engine is at capacity. Then it dies: its runtime is dropped
    // with every task in it, and no shutdown runs.
    let first = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    first.block_on(async {
        let engine = engine(dir.path(), &crashed_tracer, &clock, 5);
        crashed_tracer.pause();
        for n in 0..5 {
            engine.handle_event(&export(n)).await.unwrap();
        }
        let _running = engine.start();
        while crashed_tracer.running() < 5 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        engine.handle_event(&export(5)).await.unwrap();
    });
    drop(first);
    assert_eq!(crashed_tracer.total_calls(), 5);

    // The second process, on the same directory, at the same moment.
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    second.block_on(async {
        let tracer = ScriptedTracer::new("scripted");
        let engine = engine(dir.path(), &tracer, &clock, 1024);
        for n in 0..6 {
            let job = engine
                .get(&key(n))
                .await
                .unwrap()
                .expect("every acknowledged publish is there");
            assert_eq!(
                job.trace_count, 0,
                "no result of the dead process was written"
            );
        }
        assert_eq!(
            engine.run_due().await.unwrap(),
            1,
            "only the unclaimed job is due; the others are leased"
        );
        assert_eq!(tracer.calls(container(5).as_str()), 1);

        clock.advance(chrono::Duration::seconds(59));
        assert_eq!(
            engine.run_due().await.unwrap(),
            0,
            "leases hold until they lapse"
        );
        clock.advance(chrono::Duration::seconds(1));
        assert_eq!(
            engine.run_due().await.unwrap(),
            5,
            "the dead process's jobs come due by themselves"
        );

        for n in 0..6 {
            let job = engine.get(&key(n)).await.unwrap().unwrap();
            assert_eq!(job.trace_count, 1, "each job traced once after the crash");
            let history = engine.history(&key(n), 10).await.unwrap();
            assert_eq!(history.len(), 1, "one result event per job, never two");
            assert_eq!(history[0].payload.reason, EmitReason::FirstResult);
        }
        assert_eq!(
            engine
                .outbox()
                .expect("a full backend")
                .outbox_stats(RESULTS_QUEUE)
                .await
                .unwrap()
                .pending,
            6
        );
    });
}
