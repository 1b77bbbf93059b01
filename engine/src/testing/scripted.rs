//! A tracer that answers from a script, counts its calls and can be paused mid-trace.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::credentials::ProviderCredentials;
use crate::model::{Status, TraceKind, TraceRequest, TraceResult};
use crate::tracer::{DataError, ProviderLimits, TraceError, Tracer, Workflow};

type Response = Result<TraceResult, TraceError>;

#[derive(Debug)]
struct State {
    default: Response,
    scripts: HashMap<String, VecDeque<Response>>,
    last: HashMap<String, Response>,
    calls: HashMap<String, u32>,
    running: HashMap<String, u32>,
    max_overlap: u32,
    total: u64,
    requests: Vec<Vec<String>>,
}

/// A tracer for tests. Each container answers its scripted responses in order, then
/// repeats its last one; unscripted containers get the default (`GATED_IN`). Clones share
/// the script and the counters, so a test keeps one while the engine owns another.
#[derive(Debug, Clone)]
pub struct ScriptedTracer {
    id: String,
    workflow: Workflow,
    batch_field: Option<String>,
    limits: ProviderLimits,
    state: Arc<Mutex<State>>,
    open: Arc<watch::Sender<bool>>,
}

impl ScriptedTracer {
    /// A real-time tracer with id `id`.
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            workflow: Workflow::RealTime,
            batch_field: None,
            limits: ProviderLimits::default()
                .with_concurrency(256)
                .with_rate(None, 1)
                .with_trace_timeout(std::time::Duration::from_secs(10)),
            state: Arc::new(Mutex::new(State {
                default: Ok(TraceResult::new(Status::GatedIn, crate::testing::t0())),
                scripts: HashMap::new(),
                last: HashMap::new(),
                calls: HashMap::new(),
                running: HashMap::new(),
                max_overlap: 0,
                total: 0,
                requests: Vec::new(),
            })),
            open: Arc::new(watch::Sender::new(true)),
        }
    }

    /// Uses `workflow`.
    pub fn with_workflow(mut self, workflow: Workflow) -> Self {
        self.workflow = workflow;
        self
    }

    /// Uses `limits`.
    pub fn with_limits(mut self, limits: ProviderLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Batches by the value of `data.<field>` (a terminal, say): requests with the same
    /// value may share a provider request. Without it every request is traced alone.
    pub fn batching_by(mut self, field: &str) -> Self {
        self.batch_field = Some(field.to_owned());
        self
    }

    /// Every provider request so far, in order: the containers each asked about.
    pub fn requests(&self) -> Vec<Vec<String>> {
        self.state().requests.clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends a response to `container`'s script.
    pub fn push(&self, container: &str, response: Response) -> &Self {
        self.state()
            .scripts
            .entry(container.to_owned())
            .or_default()
            .push_back(response);
        self
    }

    /// Appends a response to the script of `container`'s `kind` trace only (taken before
    /// the container's script for both kinds).
    pub fn push_kind(&self, kind: TraceKind, container: &str, response: Response) -> &Self {
        self.state()
            .scripts
            .entry(kind_key(kind, container))
            .or_default()
            .push_back(response);
        self
    }

    /// Appends a result with only `status` to `container`'s script.
    pub fn push_status(&self, container: &str, status: Status) -> &Self {
        self.push(
            container,
            Ok(TraceResult::new(status, crate::testing::t0())),
        )
    }

    /// Sets the answer of unscripted containers.
    pub fn set_default(&self, response: Response) {
        self.state().default = response;
    }

    /// Traces of `container` so far.
    pub fn calls(&self, container: &str) -> u32 {
        self.state().calls.get(container).copied().unwrap_or(0)
    }

    /// Traces so far, all containers.
    pub fn total_calls(&self) -> u64 {
        self.state().total
    }

    /// The most traces of one container ever running at once (1 when traces never overlap).
    pub fn max_overlap(&self) -> u32 {
        self.state().max_overlap
    }

    /// Traces started from now on wait (after counting the call) until [`Self::resume`].
    pub fn pause(&self) {
        self.open.send_replace(false);
    }

    /// Lets paused and future traces run.
    pub fn resume(&self) {
        self.open.send_replace(true);
    }

    /// Traces running (or paused) now.
    pub fn running(&self) -> u32 {
        self.state().running.values().sum()
    }
}

#[async_trait]
impl Tracer for ScriptedTracer {
    fn id(&self) -> &str {
        &self.id
    }

    fn workflow(&self) -> Workflow {
        self.workflow
    }

    fn limits(&self) -> ProviderLimits {
        self.limits.clone()
    }

    fn validate(&self, _kind: TraceKind, data: &Map<String, Value>) -> Result<(), DataError> {
        match data.get("reject") {
            Some(_) => Err(DataError::new(
                "reject",
                "is refused by the scripted tracer",
            )),
            None => Ok(()),
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

    fn batch_key(&self, request: &TraceRequest) -> Option<String> {
        let field = self.batch_field.as_deref()?;
        request.data_str(field).map(str::to_owned)
    }

    async fn trace_batch(
        &self,
        requests: &[TraceRequest],
        _credentials: &ProviderCredentials,
    ) -> Vec<Result<TraceResult, TraceError>> {
        self.state()
            .requests
            .push(requests.iter().map(|r| r.key.container.clone()).collect());
        let mut running = Vec::with_capacity(requests.len());
        let mut answers = Vec::with_capacity(requests.len());
        for request in requests {
            let (answer, guard) = self.answer(request);
            answers.push(answer);
            running.push(guard);
        }
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|open| *open).await;
        answers
    }
}

impl ScriptedTracer {
    /// The next scripted answer for `request`, counted, with a guard that counts it as
    /// running until dropped.
    fn answer(&self, request: &TraceRequest) -> (Response, Running) {
        let container = request.key.container.clone();
        let response = {
            let mut state = self.state();
            state.total += 1;
            *state.calls.entry(container.clone()).or_default() += 1;
            let running = state.running.entry(container.clone()).or_default();
            *running += 1;
            let running = *running;
            state.max_overlap = state.max_overlap.max(running);
            let by_kind = kind_key(request.key.kind, &container);
            let next = state
                .scripts
                .get_mut(&by_kind)
                .and_then(VecDeque::pop_front)
                .or_else(|| {
                    state
                        .scripts
                        .get_mut(&container)
                        .and_then(VecDeque::pop_front)
                });
            match next {
                Some(response) => {
                    state.last.insert(by_kind, response.clone());
                    response
                }
                None => state
                    .last
                    .get(&by_kind)
                    .cloned()
                    .unwrap_or_else(|| state.default.clone()),
            }
        };
        // Counted as running while paused, so a test can wait for a trace to be mid-flight;
        // the guard uncounts it even when the engine drops the future (timeout, shutdown).
        let running = Running {
            state: self.state.clone(),
            container,
        };
        (response, running)
    }
}

fn kind_key(kind: TraceKind, container: &str) -> String {
    format!("{kind}:{container}")
}

struct Running {
    state: Arc<Mutex<State>>,
    container: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = state.running.get_mut(&self.container) {
            *running = running.saturating_sub(1);
        }
    }
}
