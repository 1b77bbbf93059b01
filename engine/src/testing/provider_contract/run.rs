//! One run of the contract: each check, its failures and its report.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tracing::instrument::WithSubscriber;

use super::capture::Capture;
use super::situation::Outcome;
use super::{Arrange, Arrangement, ContractCase, ContractReport, Situation, UNKNOWN_KEY};
use crate::model::{ContainerId, JobKey, Status, Tenant, TraceKind, TraceRequest};
use crate::tracer::{registered_providers, Tracer};

pub(super) struct Run<'a> {
    pub(super) case: &'a ContractCase,
    pub(super) report: ContractReport,
    pub(super) failures: Vec<String>,
}

impl Run<'_> {
    pub(super) fn check(
        &mut self,
        ok: bool,
        passed: impl FnOnce() -> String,
        failed: impl FnOnce() -> String,
    ) {
        if ok {
            self.report.passed.push(passed());
        } else {
            self.failures.push(failed());
        }
    }

    pub(super) fn identity(&mut self) {
        let id = self.case.tracer.id().to_owned();
        self.check(
            !id.is_empty() && id.to_lowercase() == id && !id.chars().any(char::is_whitespace),
            || format!("id `{id}` is lower case"),
            || format!("id() MUST be non-empty, lower case, without whitespace; got {id:?}"),
        );
        if self.case.registered {
            let all = registered_providers();
            let found = all.iter().find(|r| r.id() == id);
            let ids: Vec<_> = all.iter().map(|r| r.id()).collect();
            self.check(
                found.is_some_and(|r| !r.description().is_empty()),
                || format!("registered as `{id}`"),
                || {
                    format!(
                        "registered_providers() MUST list `{id}` with a description; it lists \
                         {ids:?} (does the test binary name the crate: `use my_provider as _;`?)"
                    )
                },
            );
        }
        let limits = self.case.tracer.limits();
        self.check(
            limits.concurrency >= 1 && !limits.trace_timeout.is_zero(),
            || "limits allow a trace and time it out".to_owned(),
            || format!("limits() MUST allow one trace at least and time it out; got {limits:?}"),
        );
    }

    pub(super) async fn kind(&mut self, kind: TraceKind, arrange: &impl Arrange) {
        let case = self.case;
        for (_, data, field) in case.invalid.iter().filter(|(k, ..)| *k == kind) {
            let answer = case.tracer.validate(kind, data);
            let shown = format!("{answer:?}");
            let data = json(data);
            self.check(
                matches!(&answer, Err(e) if e.field == *field && !e.message.is_empty()),
                || format!("{kind} validate refuses {data} naming `{field}`"),
                || format!("{kind} validate MUST refuse {data} naming `{field}`; got {shown}"),
            );
            self.no_secret(&format!("{kind} validate error"), &shown);
        }
        let Some((_, valid)) = case.valid.iter().find(|(k, _)| *k == kind) else {
            match case.without.iter().find(|(k, _)| *k == kind) {
                Some((_, reason)) => self.report.skipped.push(format!("{kind} traces: {reason}")),
                None => self.failures.push(format!(
                    "the case MUST give valid {kind} data (valid_data), or say why the \
                     provider does not trace {kind} (without_kind)"
                )),
            }
            return;
        };
        let answer = case.tracer.validate(kind, valid);
        self.check(
            answer.is_ok(),
            || format!("{kind} validate accepts the valid data"),
            || {
                format!(
                    "{kind} validate MUST accept {}; got {answer:?}",
                    json(valid)
                )
            },
        );
        let mut extra = valid.clone();
        extra.insert(UNKNOWN_KEY.to_owned(), serde_json::json!({ "nested": [1] }));
        let answer = case.tracer.validate(kind, &extra);
        self.check(
            answer.is_ok(),
            || format!("{kind} validate tolerates an unknown key"),
            || {
                format!(
                    "{kind} validate MUST tolerate the unknown key `{UNKNOWN_KEY}`; got {answer:?}"
                )
            },
        );

        for situation in Situation::ALL {
            if case.skipped.iter().any(|(s, _)| *s == situation) {
                continue;
            }
            let arrangement = arrange.arrange(situation, kind);
            let tracer = arrangement
                .tracer
                .clone()
                .unwrap_or_else(|| case.tracer.clone());
            if tracer.id() != case.tracer.id() {
                self.failures.push(format!(
                    "{kind} {situation}: the arranged tracer MUST have the case's id `{}`; \
                     got `{}`",
                    case.tracer.id(),
                    tracer.id()
                ));
                continue;
            }
            let request = self.request(kind, valid, &arrangement);
            let what = format!("{kind} {situation}");
            // The engine times a trace out after the limits of the tracer it runs.
            let timeout = case
                .trace_timeout
                .unwrap_or_else(|| tracer.limits().trace_timeout);
            let first = self.trace(&what, &tracer, &request, timeout).await;
            if situation == Situation::Found {
                let second = self.trace(&what, &tracer, &request, timeout).await;
                self.found(&what, kind, [&first, &second], timeout);
            } else {
                let got = describe(&first, timeout);
                self.check(
                    situation.accepts(&first),
                    || format!("{what}: {}", situation.rule()),
                    || format!("{what}: MUST be {}; got {got}", situation.rule()),
                );
            }
        }
    }

    fn found(
        &mut self,
        what: &str,
        kind: TraceKind,
        [first, second]: [&Outcome; 2],
        timeout: Duration,
    ) {
        let Some(Ok(result)) = first else {
            let got = describe(first, timeout);
            self.failures.push(format!(
                "{what}: MUST be Ok with a status; got {got} (does the arrangement serve the \
                 case's container and data?)"
            ));
            return;
        };
        let status = result.status;
        self.check(
            status != Status::NotFound && status.applies_to(kind),
            || format!("{what}: status {status} applies to {kind}"),
            || {
                format!(
                    "{what}: the status MUST apply to {kind} and not be NOT_FOUND; got {status}"
                )
            },
        );
        self.check(
            result
                .events
                .windows(2)
                .all(|w| w[0].event_at <= w[1].event_at),
            || format!("{what}: events oldest first"),
            || {
                format!(
                    "{what}: events MUST be oldest first; got {:?}",
                    result.events
                )
            },
        );
        let again = describe(second, timeout);
        self.check(
            matches!(second, Some(Ok(again)) if again.same_content(result)),
            || format!("{what}: the same situation traced again has the same content"),
            || {
                format!(
                    "{what}: tracing the unchanged situation again MUST give the same content; \
                     first {result:?}, then {again}"
                )
            },
        );
    }

    pub(super) fn request(
        &self,
        kind: TraceKind,
        valid: &Map<String, Value>,
        arrangement: &Arrangement,
    ) -> TraceRequest {
        let container = arrangement
            .container
            .clone()
            .unwrap_or_else(|| self.case.container.clone());
        let mut data = valid.clone();
        data.extend(arrangement.data.clone());
        TraceRequest {
            key: JobKey {
                tenant: Tenant::new("contract-org", "contract-svc"),
                kind,
                provider_id: self.case.tracer.id().to_owned(),
                container: container.as_str().to_owned(),
            },
            container: ContainerId::Validated(container),
            data,
            origin: Some("provider-contract".to_owned()),
        }
    }

    /// Traces under the trace timeout, capturing what the trace logs, and checks the answer
    /// and the logs for credential values.
    pub(super) async fn trace(
        &mut self,
        what: &str,
        tracer: &Arc<dyn Tracer>,
        request: &TraceRequest,
        timeout: Duration,
    ) -> Outcome {
        let logs = Capture::default();
        let traced = tracer
            .trace(request, &self.case.credentials)
            .with_subscriber(tracing::Dispatch::new(logs.clone()));
        let outcome = tokio::time::timeout(timeout, traced).await.ok();
        match &outcome {
            Some(Ok(result)) => self.no_secret(
                &format!("{what}: the result's Debug"),
                &format!("{result:?}"),
            ),
            Some(Err(error)) => {
                self.no_secret(&format!("{what}: the error's Display"), &error.to_string());
                self.no_secret(&format!("{what}: the error's Debug"), &format!("{error:?}"));
            }
            None => {}
        }
        self.no_secret(&format!("{what}: the trace's logs"), &logs.text());
        outcome
    }

    pub(super) fn no_secret(&mut self, place: &str, text: &str) {
        for (name, secret) in &self.case.secrets {
            if text.contains(secret.expose()) {
                self.failures.push(format!(
                    "{place}: MUST NOT contain the value of credential `{name}`"
                ));
            }
        }
    }
}

pub(super) fn describe(outcome: &Outcome, timeout: Duration) -> String {
    match outcome {
        None => format!("no answer within {timeout:?}"),
        Some(Ok(result)) => format!("Ok({result:?})"),
        Some(Err(error)) => format!("Err({error:?})"),
    }
}

/// `data` as the JSON a client sends.
fn json(data: &Map<String, Value>) -> String {
    serde_json::to_string(data).unwrap_or_default()
}
