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
        "EMPTY slow: Err(Transient) or no answer",
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
