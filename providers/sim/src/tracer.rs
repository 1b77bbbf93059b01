//! [`SimTracer`]: the simulated terminal as a [`Tracer`], plus the pure views of its
//! lifecycles (timeline, result at an instant) that tests and benchmarks compare against.

use std::sync::Arc;

use async_trait::async_trait;
use boxtrace::{
    Clock, DataError, PermanentReason, ProviderCredentials, ProviderLimits, Status, TraceError,
    TraceKind, TraceRequest, TraceResult, Tracer, Workflow,
};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::config::{SimConfig, SimModel};
use crate::faults::{self, Fault};
use crate::lifecycle::Plan;
use crate::scenario::Scenario;
use crate::terminal::{BoxLife, Lifecycles, RequestCounts, TerminalApi};
use crate::visits::Answers;

/// The provider id.
const ID: &str = "sim";

/// A simulated container terminal. A trace answers with the box's life at the clock's
/// time (less the terminal's lag), after the configured latency and unless a seeded fault
/// strikes.
///
/// Under the `vessels` model (the default) boxes share vessel calls, a request looks up
/// up to `batchSize` boxes of one terminal, and the call's schedule and phase come from a
/// vessel-visit lookup shared by its boxes; lives come from a lifecycle file or are drawn
/// from the seed. Under the `independent` model every box is drawn on its own and traced
/// alone. It needs no credentials and does no I/O but reading its lifecycle file.
#[derive(Debug, Clone)]
pub struct SimTracer {
    config: SimConfig,
    clock: Arc<dyn Clock>,
    epoch: DateTime<Utc>,
    api: Arc<TerminalApi>,
    visits: Arc<Answers>,
}

impl SimTracer {
    /// A simulated terminal with `config`, reading time from `clock`. Without a
    /// configured epoch, generated lives start at `clock`'s time now. A configured
    /// lifecycle file is not read here: see [`SimTracer::with_lifecycles`] and the
    /// registry's factory.
    ///
    /// Fault rates are used as given; the registry's factory refuses rates that are not
    /// probabilities, and here a rate above 1 acts as 1.
    pub fn new(config: SimConfig, clock: Arc<dyn Clock>) -> Self {
        Self::build(config, clock, None)
    }

    /// A simulated terminal that replays `lifecycles`: it knows exactly their boxes and
    /// visits.
    pub fn with_lifecycles(
        config: SimConfig,
        clock: Arc<dyn Clock>,
        lifecycles: Lifecycles,
    ) -> Self {
        Self::build(config, clock, Some(lifecycles))
    }

    fn build(config: SimConfig, clock: Arc<dyn Clock>, recorded: Option<Lifecycles>) -> Self {
        let epoch = config.epoch.unwrap_or_else(|| clock.now());
        let api = match recorded {
            Some(lifecycles) => TerminalApi::replay(lifecycles, config.lag, config.batch_size),
            None => TerminalApi::generated(
                Lifecycles::default(),
                config.vessels.clone(),
                config.seed,
                epoch,
                config.lag,
                config.batch_size,
            ),
        };
        Self {
            visits: Arc::new(Answers::new(config.visit_ttl)),
            api: Arc::new(api),
            config,
            clock,
            epoch,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The anchor of generated lives.
    pub fn epoch(&self) -> DateTime<Utc> {
        self.epoch
    }

    /// Requests the terminal's API has answered so far, by kind (the `vessels` model;
    /// the `independent` model counts each trace as one container lookup).
    pub fn requests(&self) -> RequestCounts {
        self.api.counts()
    }

    /// The terminal whose API this tracer asks.
    pub fn api(&self) -> &TerminalApi {
        &self.api
    }

    /// The box's whole life under the `vessels` model, if the terminal has one for it.
    pub fn life(
        &self,
        kind: TraceKind,
        container: &str,
        data: &Map<String, Value>,
    ) -> Option<BoxLife> {
        let terminal = self.terminal(data);
        self.api.life_of(
            &terminal,
            kind,
            container,
            data.get("bookingNumber").and_then(Value::as_str),
        )
    }

    /// Every change of the normalized status of `container`'s `kind` trace, in order,
    /// with its time. The first entry is the status the box starts in (`BookingNotFound`
    /// for an export, `NotFound` for an empty); the list is empty for the `rejected`
    /// scenario and for invalid data, where no trace ever succeeds.
    pub fn timeline(
        &self,
        kind: TraceKind,
        container: &str,
        data: &Map<String, Value>,
    ) -> Vec<(DateTime<Utc>, Status)> {
        match (self.config.model, Scenario::from_data(data)) {
            (_, Err(_)) | (_, Ok(Scenario::Rejected)) => Vec::new(),
            (_, Ok(Scenario::NotFound)) => vec![(self.epoch, Status::NotFound)],
            (SimModel::Independent, _) => {
                Plan::new(self.config.seed, self.epoch, kind, container, data)
                    .map(|plan| plan.timeline())
                    .unwrap_or_default()
            }
            (SimModel::Vessels, _) => {
                let Some(life) = self.life(kind, container, data) else {
                    return Vec::new();
                };
                let mut timeline = vec![(life.published_at, crate::terminal::initial(kind))];
                for change in &life.changes {
                    if let Some(status) = change.status {
                        if timeline.last().is_some_and(|(_, s)| *s == status) {
                            continue;
                        }
                        if timeline.len() == 1 && change.at == life.published_at {
                            timeline[0] = (change.at, status);
                        } else {
                            timeline.push((change.at, status));
                        }
                    }
                }
                timeline
            }
        }
    }

    /// What a trace of `container`'s `kind` at `at` answers, without latency, lag or
    /// faults and without counting a request: the result, `TraceError::NotFound` while
    /// the terminal has no record of the box, or a permanent `request_rejected` error
    /// (the `rejected` scenario, invalid data).
    pub fn result_at(
        &self,
        kind: TraceKind,
        container: &str,
        data: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<TraceResult, TraceError> {
        match self.config.model {
            SimModel::Independent => {
                Plan::new(self.config.seed, self.epoch, kind, container, data)?.result_at(at)
            }
            SimModel::Vessels => self
                .answer_vessels(&[(kind, container.to_owned(), data.clone())], at, false)
                .pop()
                .unwrap_or(Err(TraceError::NotFound)),
        }
    }

    fn terminal(&self, data: &Map<String, Value>) -> String {
        data.get("locationCode")
            .and_then(Value::as_str)
            .map(str::to_ascii_uppercase)
            .unwrap_or_else(|| self.config.default_terminal.clone())
    }

    /// The answers for boxes of one request under the `vessels` model: one container
    /// lookup per terminal (in chunks of the API's batch size) and one visit lookup per
    /// visit not answered within the TTL; `counted` is false for the pure views, which
    /// read the lifecycles without asking the API.
    fn answer_vessels(
        &self,
        boxes: &[(TraceKind, String, Map<String, Value>)],
        at: DateTime<Utc>,
        counted: bool,
    ) -> Vec<Result<TraceResult, TraceError>> {
        let mut answers: Vec<Option<Result<TraceResult, TraceError>>> = vec![None; boxes.len()];
        let mut asked: Vec<(usize, String)> = Vec::new();
        for (i, (_, _, data)) in boxes.iter().enumerate() {
            match Scenario::from_data(data) {
                Ok(Scenario::Rejected) | Err(_) => answers[i] = Some(Err(rejected())),
                Ok(Scenario::NotFound) => answers[i] = Some(Err(TraceError::NotFound)),
                Ok(_) => asked.push((i, self.terminal(data))),
            }
        }
        let mut terminals: Vec<&str> = asked.iter().map(|(_, t)| t.as_str()).collect();
        terminals.sort_unstable();
        terminals.dedup();
        for terminal in terminals {
            let mine: Vec<usize> = asked
                .iter()
                .filter(|(_, t)| t == terminal)
                .map(|(i, _)| *i)
                .collect();
            for chunk in mine.chunks(self.api.max_batch()) {
                let queries: Vec<_> = chunk
                    .iter()
                    .map(|&i| {
                        let (kind, container, data) = &boxes[i];
                        crate::terminal::query(
                            *kind,
                            container,
                            data.get("bookingNumber").and_then(Value::as_str),
                        )
                    })
                    .collect();
                let records = if counted {
                    self.api.lookup(terminal, &queries, at)
                } else {
                    Ok(self.api.peek(terminal, &queries, at))
                };
                let records = match records {
                    Ok(records) => records,
                    Err(e) => {
                        for &i in chunk {
                            answers[i] = Some(Err(TraceError::transient(e.to_string())));
                        }
                        continue;
                    }
                };
                for (&i, record) in chunk.iter().zip(records) {
                    let (_, _, data) = &boxes[i];
                    let booking = data.get("bookingNumber").and_then(Value::as_str);
                    answers[i] = Some(match record {
                        None => Err(TraceError::NotFound),
                        Some(record) => {
                            let visit = record.state.visit.as_deref().and_then(|id| {
                                if counted {
                                    self.visits.get_or_ask(terminal, id, at, || {
                                        self.api.visit(terminal, id, at)
                                    })
                                } else {
                                    self.api.peek_visit(terminal, id, at)
                                }
                            });
                            Ok(crate::terminal::to_result(
                                &record,
                                booking,
                                visit.as_ref(),
                                at,
                            ))
                        }
                    });
                }
            }
        }
        answers
            .into_iter()
            .map(|a| a.unwrap_or(Err(TraceError::NotFound)))
            .collect()
    }

    /// The fault of a request, drawn for its first box.
    fn fault(&self, request: &TraceRequest, now: DateTime<Utc>) -> Option<Fault> {
        let kind = request.key.kind;
        let container = request.container.as_str();
        let fault = faults::draw(&self.config.faults, self.config.seed, kind, container, now);
        if let Some(fault) = fault {
            tracing::debug!(container, kind = %kind, ?fault, "simulating a fault");
        }
        fault
    }
}

fn rejected() -> TraceError {
    TraceError::Permanent {
        reason: PermanentReason::RequestRejected,
        message: "the simulated terminal refuses this request (scenario rejected or invalid data)"
            .into(),
    }
}

#[async_trait]
impl Tracer for SimTracer {
    fn id(&self) -> &str {
        ID
    }

    fn workflow(&self) -> Workflow {
        self.config.workflow
    }

    fn limits(&self) -> ProviderLimits {
        self.config.effective_limits()
    }

    /// Accepts any `data` whose optional `scenario` is one of `standard`, `hold`,
    /// `no-hold`, `not-found`, `rejected` and whose optional `locationCode` is a terminal
    /// code (2 to 10 letters and digits); other keys are not looked at.
    fn validate(&self, _kind: TraceKind, data: &Map<String, Value>) -> Result<(), DataError> {
        Scenario::from_data(data)?;
        match data.get("locationCode") {
            None => Ok(()),
            Some(Value::String(code))
                if (2..=10).contains(&code.len())
                    && code.chars().all(|c| c.is_ascii_alphanumeric()) =>
            {
                Ok(())
            }
            Some(_) => Err(DataError::new(
                "locationCode",
                "must be a terminal code of 2 to 10 letters and digits, e.g. MICT",
            )),
        }
    }

    async fn trace(
        &self,
        request: &TraceRequest,
        credentials: &ProviderCredentials,
    ) -> Result<TraceResult, TraceError> {
        self.trace_batch(std::slice::from_ref(request), credentials)
            .await
            .pop()
            .unwrap_or(Err(TraceError::NotFound))
    }

    /// Under the `vessels` model, the boxes' terminal; the `independent` model traces
    /// every box alone.
    fn batch_key(&self, request: &TraceRequest) -> Option<String> {
        match self.config.model {
            SimModel::Vessels => Some(self.terminal(&request.data)),
            SimModel::Independent => None,
        }
    }

    /// The kind, the container, the terminal, the booking (as the terminal compares it)
    /// and the scenario: what changes the answer.
    fn lookup_key(&self, request: &TraceRequest) -> String {
        let data = &request.data;
        format!(
            "{}|{}|{}|{}|{}",
            request.key.kind.as_str(),
            request.container.as_str(),
            self.terminal(data),
            data.get("bookingNumber")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_ascii_uppercase(),
            data.get("scenario")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        )
    }

    async fn trace_batch(
        &self,
        requests: &[TraceRequest],
        _credentials: &ProviderCredentials,
    ) -> Vec<Result<TraceResult, TraceError>> {
        let Some(first) = requests.first() else {
            return Vec::new();
        };
        if !self.config.latency.is_zero() {
            tokio::time::sleep(self.config.latency).await;
        }
        // One reading of the clock decides both the fault and the answer.
        let now = self.clock.now();
        match self.fault(first, now) {
            Some(Fault::Transient) => {
                return vec![
                    Err(TraceError::transient("simulated transient fault"));
                    requests.len()
                ]
            }
            Some(Fault::RateLimited) => {
                let error = TraceError::RateLimited {
                    retry_after: Some(self.config.faults.retry_after),
                };
                return vec![Err(error); requests.len()];
            }
            // Never answers: the engine's trace timeout drops this future.
            Some(Fault::Timeout) => return std::future::pending().await,
            None => {}
        }
        match self.config.model {
            SimModel::Independent => requests
                .iter()
                .map(|r| {
                    self.api.count_lookup(1);
                    Plan::new(
                        self.config.seed,
                        self.epoch,
                        r.key.kind,
                        r.container.as_str(),
                        &r.data,
                    )
                    .and_then(|plan| plan.result_at(now))
                })
                .collect(),
            SimModel::Vessels => {
                let boxes: Vec<_> = requests
                    .iter()
                    .map(|r| (r.key.kind, r.container.as_str().to_owned(), r.data.clone()))
                    .collect();
                self.answer_vessels(&boxes, now, true)
            }
        }
    }
}
