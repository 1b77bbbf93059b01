//! A third backend, implementing only [`JobStore`], runs the engine: the in-memory
//! `MemoryJobStore` passes the job-store suites, a store that keeps every default of the
//! trait passes the core one, the engine dispatches on a job store alone and emits to
//! subscribers, and what needs an outbox says that there is none.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use boxtrace::testing::{store_conformance, t0, MemoryJobStore, ScriptedTracer};
use boxtrace::{Engine, Error, ManualClock, ResultEvent, StaticCredentials, Status, StoreError};

use crate::defaults::Defaults;
use crate::support::export;

#[tokio::test]
async fn a_job_store_alone_passes_the_job_store_suites() {
    let n = AtomicUsize::new(0);
    let make = || {
        n.fetch_add(1, Ordering::Relaxed);
        async { MemoryJobStore::new() }
    };
    store_conformance::run_job_store(&make).await;
    assert_eq!(n.load(Ordering::Relaxed), 15, "every core check ran");
    // MemoryJobStore overrides every optional method of the trait.
    store_conformance::run_feed(&make).await;
    store_conformance::run_retention(&make).await;
    store_conformance::run_cohort(&make).await;
    store_conformance::run_release(&make).await;
    assert_eq!(n.load(Ordering::Relaxed), 21, "every job-store check ran");
}

#[tokio::test]
async fn a_job_store_that_keeps_every_default_passes_the_core_suite() {
    store_conformance::run_job_store(|| async { Defaults(MemoryJobStore::new()) }).await;
}

#[tokio::test]
async fn an_engine_runs_on_a_job_store_alone() {
    let tracer = ScriptedTracer::new("scripted");
    tracer.push_status("CSQU3054383", Status::GatedIn);
    let engine = Engine::builder()
        .job_store(MemoryJobStore::new())
        .provider(tracer.clone())
        .credentials(StaticCredentials::new())
        .clock(ManualClock::new(t0()))
        .build()
        .unwrap();
    assert!(engine.outbox().is_none(), "built without an outbox");
    let mut results = engine.subscribe();

    let accepted = engine.handle_event(&export("CSQU3054383")).await.unwrap();
    assert_eq!(engine.run_due().await.unwrap(), 1, "the due job is traced");
    let event = results.recv().await.expect("a subscriber hears the result");
    assert_eq!(event.payload.status, Some(Status::GatedIn));
    assert_eq!(
        engine.history(&accepted.key, 10).await.unwrap(),
        vec![event],
        "the job store keeps the event in the job's history"
    );

    let err = engine
        .claim_outbox(10, std::time::Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Store(StoreError::Unsupported(what)) if what.contains("outbox")),
        "an engine without an outbox says so: {err}"
    );
    let err = engine
        .deliver_to(
            std::sync::Arc::new(Nowhere),
            boxtrace::DeliveryConfig::default(),
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Store(StoreError::Unsupported(what)) if what.contains("outbox")),
        "delivery needs an outbox and says so: {err}"
    );
}

/// Destinations that never get anything.
#[derive(Debug)]
struct Nowhere;

#[async_trait]
impl boxtrace::Destinations for Nowhere {
    async fn route(
        &self,
        events: &[&ResultEvent],
    ) -> Result<Vec<Vec<boxtrace::DestinationId>>, boxtrace::DestinationsError> {
        Ok(events.iter().map(|_| Vec::new()).collect())
    }

    async fn active(
        &self,
    ) -> Result<Vec<boxtrace::ActiveDestination>, boxtrace::DestinationsError> {
        Ok(Vec::new())
    }

    async fn deliver(
        &self,
        _: &boxtrace::DestinationId,
        _: &boxtrace::OutboxEntry,
    ) -> boxtrace::Delivery {
        boxtrace::Delivery::Delivered
    }
}
