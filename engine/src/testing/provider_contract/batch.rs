//! The contract's batch check: three boxes of one batch key traced in one `trace_batch`
//! call, in the found situation, each with its own outcome.

use std::sync::Arc;
use std::time::Duration;

use tracing::instrument::WithSubscriber;

use super::capture::Capture;
use super::run::{describe, Run};
use super::{Arrange, Arrangement, Situation};
use crate::model::{Status, TraceKind, TraceRequest, TraceResult};
use crate::tracer::{TraceError, Tracer};

/// The boxes of a batch check: one the provider has, one it does not, and one it fails
/// for, all sharing one batch key (see [`ContractCase::batch`](super::ContractCase::batch)).
#[derive(Debug, Clone)]
pub(super) struct BatchCase {
    pub(super) kind: TraceKind,
    pub(super) found: Arrangement,
    pub(super) not_found: Arrangement,
    pub(super) failing: Arrangement,
}

type Outcomes = Option<Vec<Result<TraceResult, TraceError>>>;

impl Run<'_> {
    /// Checks the batch rules; a provider that batches must be given a batch case.
    pub(super) async fn batch(&mut self, arrange: &impl Arrange) {
        let case = self.case;
        let Some(batch) = case.batch.as_ref() else {
            let size = case.tracer.limits().batch_size;
            if size > 1 {
                self.failures.push(format!(
                    "the provider traces up to {size} boxes per request: the case MUST give a \
                     batch (ContractCase::batch) with a found, a not-found and a failing box"
                ));
            }
            return;
        };
        let kind = batch.kind;
        let Some((_, valid)) = case.valid.iter().find(|(k, _)| *k == kind) else {
            self.failures.push(format!(
                "the batch traces {kind}: the case MUST give valid {kind} data"
            ));
            return;
        };
        // The found situation, so that the found box is served.
        let _ = arrange.arrange(Situation::Found, kind);
        let tracer = batch
            .found
            .tracer
            .clone()
            .unwrap_or_else(|| case.tracer.clone());
        let requests: Vec<TraceRequest> = [&batch.found, &batch.not_found, &batch.failing]
            .into_iter()
            .map(|arrangement| self.request(kind, valid, arrangement))
            .collect();
        let what = format!("{kind} batch");
        let keys: Vec<Option<String>> = requests.iter().map(|r| tracer.batch_key(r)).collect();
        self.check(
            keys[0].is_some() && keys.iter().all(|k| *k == keys[0]),
            || format!("{what}: the three boxes share a batch key"),
            || format!("{what}: the boxes MUST share one batch key (Some); got {keys:?}"),
        );
        let lookups: Vec<String> = requests.iter().map(|r| tracer.lookup_key(r)).collect();
        self.check(
            lookups[0] != lookups[1] && lookups[1] != lookups[2] && lookups[0] != lookups[2],
            || format!("{what}: each box asks its own question"),
            || format!("{what}: the boxes' lookup keys MUST differ; got {lookups:?}"),
        );
        let timeout = case
            .trace_timeout
            .unwrap_or_else(|| tracer.limits().trace_timeout);
        let outcomes = self.trace_batch(&what, &tracer, &requests, timeout).await;
        let Some(outcomes) = outcomes.filter(|o| o.len() == requests.len()) else {
            self.failures.push(format!(
                "{what}: trace_batch MUST answer one outcome per request within {timeout:?}"
            ));
            return;
        };
        let found = &outcomes[0];
        let shown = format!("{found:?}");
        self.check(
            matches!(found, Ok(r) if r.status != Status::NotFound && r.status.applies_to(kind)),
            || format!("{what}: the found box is found"),
            || format!("{what}: the found box MUST be Ok with a status for {kind}; got {shown}"),
        );
        let alone = self.trace(&what, &tracer, &requests[0], timeout).await;
        self.check(
            matches!((found, &alone), (Ok(a), Some(Ok(b))) if a.same_content(b)),
            || format!("{what}: the found box reads as it does alone"),
            || {
                format!(
                    "{what}: the found box MUST have the content it has traced alone; in the \
                     batch {shown}, alone {}",
                    describe(&alone, timeout)
                )
            },
        );
        let shown = format!("{:?}", outcomes[1]);
        self.check(
            outcomes[1] == Err(TraceError::NotFound),
            || format!("{what}: the not-found box is not found"),
            || format!("{what}: the not-found box MUST be Err(NotFound); got {shown}"),
        );
        let shown = format!("{:?}", outcomes[2]);
        self.check(
            matches!(&outcomes[2], Err(e) if *e != TraceError::NotFound),
            || format!("{what}: the failing box fails alone"),
            || format!("{what}: the failing box MUST be an error other than NotFound; got {shown}"),
        );
    }

    async fn trace_batch(
        &mut self,
        what: &str,
        tracer: &Arc<dyn Tracer>,
        requests: &[TraceRequest],
        timeout: Duration,
    ) -> Outcomes {
        let logs = Capture::default();
        let traced = tracer
            .trace_batch(requests, &self.case.credentials)
            .with_subscriber(tracing::Dispatch::new(logs.clone()));
        let outcomes = tokio::time::timeout(timeout, traced).await.ok();
        for outcome in outcomes.iter().flatten() {
            let text = match outcome {
                Ok(result) => format!("{result:?}"),
                Err(error) => format!("{error} {error:?}"),
            };
            self.no_secret(&format!("{what}: an outcome"), &text);
        }
        self.no_secret(&format!("{what}: the trace's logs"), &logs.text());
        outcomes
    }
}
