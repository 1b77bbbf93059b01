//! Tests of the provider contract itself: a scripted provider that keeps it passes, and
//! each kind of breach is named in the failure, without the credential's value.

use async_trait::async_trait;
use serde_json::json;

use super::*;
use crate::model::{Status, TraceRequest, TraceResult};
use crate::testing::{container, t0, ScriptedTracer};
use crate::tracer::{DataError, PermanentReason, ProviderLimits, TraceError};

const KEY: &str = "contract-test-key-9d2e";

fn scripted() -> ScriptedTracer {
    ScriptedTracer::new("scripted")
        .with_limits(ProviderLimits::default().with_trace_timeout(Duration::from_millis(50)))
}

/// Puts the scripted tracer in `situation` as a provider that keeps the contract answers.
fn keeping(tracer: &ScriptedTracer, situation: Situation, kind: TraceKind) -> Arrangement {
    tracer.resume();
    let status = match kind {
        TraceKind::Export => Status::GatedIn,
        TraceKind::Empty => Status::Returned,
    };
    tracer.set_default(match situation {
        Situation::Found => Ok(TraceResult::new(status, t0())),
        Situation::NotFound => Err(TraceError::NotFound),
        Situation::CredentialsRejected => Err(TraceError::Permanent {
            reason: PermanentReason::CredentialsRejected,
            message: "HTTP 401".into(),
        }),
        Situation::RateLimited => Err(TraceError::RateLimited {
            retry_after: Some(RETRY_AFTER),
        }),
        Situation::ServerError | Situation::MalformedBody => Err(TraceError::transient("HTTP 500")),
        Situation::Slow => {
            tracer.pause();
            Err(TraceError::transient("not reached"))
        }
    });
    Arrangement::default()
}

fn case(tracer: &ScriptedTracer) -> ContractCase {
    ContractCase::new(Arc::new(tracer.clone()))
        .credential("apiKey", KEY)
        .valid_data(TraceKind::Export, json!({ "bookingNumber": "BKG0001" }))
        .valid_data(TraceKind::Empty, json!({}))
        .invalid_data(TraceKind::Empty, json!({ "reject": true }), "reject")
}

/// The panic message of a contract run that must fail.
async fn failure(case: ContractCase, arrange: impl Arrange + Send + Sync + 'static) -> String {
    let panic = tokio::spawn(case.run(arrange))
        .await
        .expect_err("the contract fails")
        .into_panic();
    *panic
        .downcast::<String>()
        .expect("a formatted panic message")
}

#[tokio::test]
async fn a_provider_that_keeps_the_contract_passes_and_skips_are_reported() {
    let tracer = scripted();
    let arranged = tracer.clone();
    let report = case(&tracer)
        .skip(Situation::MalformedBody, "no wire format")
        .run(move |s: Situation, k: TraceKind| keeping(&arranged, s, k))
        .await;
    assert_eq!(report.provider(), "scripted");
    assert_eq!(report.skipped(), ["malformed body: no wire format"]);
    for rule in [
        "EXPORT rate limited: Err(RateLimited",
        "EMPTY slow: Err(Transient), Err(TimedOut) or no answer",
        "EMPTY found: the same situation traced again has the same content",
        "EMPTY validate refuses",
    ] {
        assert!(
            report.passed().iter().any(|p| p.starts_with(rule)),
            "{rule}: {report}"
        );
    }
    // Found and not found traced twice, one trace per other situation, per kind.
    assert_eq!(tracer.total_calls(), 2 * 7);
}

#[tokio::test]
async fn misclassified_errors_and_missing_kinds_are_named() {
    let tracer = scripted();
    let arranged = tracer.clone();
    let message = failure(
        ContractCase::new(Arc::new(tracer.clone()))
            .valid_data(TraceKind::Export, json!({}))
            .invalid_data(TraceKind::Export, json!({ "reject": 1 }), "bookingNumber"),
        move |s: Situation, k: TraceKind| {
            let arrangement = keeping(&arranged, s, k);
            if s == Situation::RateLimited {
                arranged.set_default(Err(TraceError::transient("HTTP 429")));
            }
            arrangement
        },
    )
    .await;
    assert!(message.contains("provider `scripted` breaks the provider contract"));
    assert!(
        message.contains("EXPORT rate limited: MUST be Err(RateLimited"),
        "{message}"
    );
    assert!(
        message.contains("EXPORT validate MUST refuse") && message.contains("bookingNumber"),
        "{message}"
    );
    assert!(message.contains("MUST give valid EMPTY data"), "{message}");
    assert!(!message.contains("not found: MUST"), "{message}");
}

#[tokio::test]
async fn unstable_results_are_named() {
    let tracer = scripted();
    let arranged = tracer.clone();
    let boxed = container(1);
    let message = failure(case(&tracer), move |s: Situation, k: TraceKind| {
        let arrangement = keeping(&arranged, s, k);
        if s == Situation::Found && k == TraceKind::Export {
            arranged.push_kind(
                k,
                boxed.as_str(),
                Ok(TraceResult::new(Status::GatedIn, t0())),
            );
            arranged.push_kind(
                k,
                boxed.as_str(),
                Ok(TraceResult::new(Status::OnHold, t0())),
            );
        }
        arrangement
    })
    .await;
    assert!(
        message.contains("EXPORT found: tracing the unchanged situation again MUST give"),
        "{message}"
    );
}

/// Logs the key and puts it in its errors.
#[derive(Debug)]
struct Leaky;

#[async_trait]
impl Tracer for Leaky {
    fn id(&self) -> &str {
        "leaky"
    }

    fn validate(&self, _: TraceKind, _: &Map<String, Value>) -> Result<(), DataError> {
        Ok(())
    }

    async fn trace(
        &self,
        _: &TraceRequest,
        credentials: &ProviderCredentials,
    ) -> Result<TraceResult, TraceError> {
        let key = credentials.get("apiKey").map(Secret::expose).unwrap_or("");
        tracing::debug!(key, "calling the API");
        Err(TraceError::transient(format!("refused key {key}")))
    }
}

#[tokio::test]
async fn leaked_credentials_are_named_without_their_value() {
    let message = failure(
        ContractCase::new(Arc::new(Leaky))
            .credential("apiKey", KEY)
            .valid_data(TraceKind::Export, json!({}))
            .without_kind(TraceKind::Empty, "exports only"),
        |_: Situation, _: TraceKind| Arrangement::default(),
    )
    .await;
    for place in [
        "the error's Display",
        "the error's Debug",
        "the trace's logs",
    ] {
        let rule = format!(
            "EXPORT server error: {place}: MUST NOT contain the value of credential `apiKey`"
        );
        assert!(message.contains(&rule), "{rule}: {message}");
    }
    assert!(!message.contains(KEY), "{message}");
    assert!(
        message.contains("skipped EMPTY traces: exports only"),
        "{message}"
    );
}

/// A scripted tracer that batches by `data.terminal`, three boxes per request.
fn batching() -> ScriptedTracer {
    ScriptedTracer::new("scripted")
        .batching_by("terminal")
        .with_limits(
            ProviderLimits::default()
                .with_trace_timeout(Duration::from_millis(50))
                .with_batch(3, Duration::ZERO),
        )
}

fn batch_case(tracer: Arc<dyn Tracer>) -> ContractCase {
    ContractCase::new(tracer)
        .valid_data(
            TraceKind::Export,
            json!({ "terminal": "T1", "bookingNumber": "BKG0001" }),
        )
        .valid_data(TraceKind::Empty, json!({ "terminal": "T1" }))
        .batch(
            TraceKind::Export,
            Arrangement::default().with_container(container(2).as_str()),
            Arrangement::default().with_container(container(3).as_str()),
            Arrangement::default().with_container(container(4).as_str()),
        )
}

/// [`keeping`], and in the found situation box 3 unknown and box 4 failing.
fn keeping_batches(tracer: &ScriptedTracer, situation: Situation, kind: TraceKind) -> Arrangement {
    let arrangement = keeping(tracer, situation, kind);
    if situation == Situation::Found {
        tracer.push(container(3).as_str(), Err(TraceError::NotFound));
        tracer.push(
            container(4).as_str(),
            Err(TraceError::transient("bad record")),
        );
    }
    arrangement
}

#[tokio::test]
async fn a_batching_provider_that_keeps_the_batch_rules_passes() {
    let tracer = batching();
    let arranged = tracer.clone();
    let report = batch_case(Arc::new(tracer.clone()))
        .run(move |s: Situation, k: TraceKind| keeping_batches(&arranged, s, k))
        .await;
    for rule in [
        "EXPORT batch: the three boxes share a batch key",
        "EXPORT batch: the found box reads as it does alone",
        "EXPORT batch: the not-found box is not found",
        "EXPORT batch: the failing box fails alone",
    ] {
        assert!(
            report.passed().iter().any(|p| p == rule),
            "{rule}: {report}"
        );
    }
    assert!(
        tracer.requests().iter().any(|r| r.len() == 3),
        "one request of three boxes: {:?}",
        tracer.requests()
    );
}

/// Fails every box of a batch when one fails.
#[derive(Debug)]
struct Spoiling(ScriptedTracer);

#[async_trait]
impl Tracer for Spoiling {
    fn id(&self) -> &str {
        self.0.id()
    }

    fn limits(&self) -> ProviderLimits {
        self.0.limits()
    }

    fn validate(&self, kind: TraceKind, data: &Map<String, Value>) -> Result<(), DataError> {
        self.0.validate(kind, data)
    }

    async fn trace(
        &self,
        request: &TraceRequest,
        credentials: &ProviderCredentials,
    ) -> Result<TraceResult, TraceError> {
        self.0.trace(request, credentials).await
    }

    fn batch_key(&self, request: &TraceRequest) -> Option<String> {
        self.0.batch_key(request)
    }

    async fn trace_batch(
        &self,
        requests: &[TraceRequest],
        credentials: &ProviderCredentials,
    ) -> Vec<Result<TraceResult, TraceError>> {
        let outcomes = self.0.trace_batch(requests, credentials).await;
        match outcomes.iter().find_map(|o| o.as_ref().err()) {
            Some(error) => vec![Err(error.clone()); outcomes.len()],
            None => outcomes,
        }
    }
}

#[tokio::test]
async fn a_batch_where_one_box_fails_the_others_is_named() {
    let tracer = batching();
    let arranged = tracer.clone();
    let message = failure(
        batch_case(Arc::new(Spoiling(tracer))),
        move |s: Situation, k: TraceKind| keeping_batches(&arranged, s, k),
    )
    .await;
    assert!(
        message.contains("EXPORT batch: the found box MUST be Ok"),
        "{message}"
    );
    assert!(
        message.contains("EXPORT batch: the failing box MUST be an error other than NotFound"),
        "{message}"
    );
}

#[tokio::test]
async fn a_batching_provider_without_a_batch_case_is_named() {
    let tracer = batching();
    let arranged = tracer.clone();
    let message = failure(
        ContractCase::new(Arc::new(tracer))
            .valid_data(TraceKind::Export, json!({ "terminal": "T1" }))
            .valid_data(TraceKind::Empty, json!({ "terminal": "T1" })),
        move |s: Situation, k: TraceKind| keeping(&arranged, s, k),
    )
    .await;
    assert!(
        message.contains("up to 3 boxes per request: the case MUST give a batch"),
        "{message}"
    );
}
