//! [`IctsiTracer`]: ICTSI as a [`Tracer`]. A request of up to `limits.batchSize` boxes of one
//! terminal, container type and booking asks for their visits in one container details
//! call ([`crate::lookup`]); each box's visit is picked, hold details and vessel visit
//! dates are added when they matter, and each box gets its own outcome.

use std::sync::Arc;

use async_trait::async_trait;
use boxtrace::{
    default_lookup_key, Clock, ContainerId, DataError, ProviderContext, ProviderCredentials,
    ProviderLimits, TraceError, TraceKind, TraceRequest, TraceResult, Tracer, Workflow,
};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::ask::Ask;
use crate::cache::VesselVisitCache;
use crate::client::{Auth, Client};
use crate::config::IctsiConfig;
use crate::error::Result;
use crate::mapping::{self, export};
use crate::patterns;
use crate::select::{self, ExportPick};
use crate::terminal::{self, Terminal};
use crate::wire::{query, Call, ContainerEvent, ContainerRecord, VesselVisit};

/// The provider id clients send as `providerId`.
pub const PROVIDER_ID: &str = "ictsi";

/// ICTSI's track-and-trace API as a boxtrace provider.
///
/// Real-time: every trace asks ICTSI now. A request makes one container details call for
/// all its boxes (comma-separated `container-number` values; more pages only when the
/// answer is long), then per box a container events call when the box has holds (for
/// their details), and a vessel visit call per vessel unless a fresh answer for that
/// vessel is cached: one vessel visit lookup serves every box on it.
/// Credentials (`subscriptionKey`, `subscriptionId`) come from the engine's credentials
/// source at each trace; they are sent as headers and never logged.
#[derive(Debug)]
pub struct IctsiTracer {
    config: IctsiConfig,
    client: Client,
    vessel_visits: VesselVisitCache,
    clock: Arc<dyn Clock>,
}

impl IctsiTracer {
    /// A tracer with `config`; what it leaves unset comes from the context's HTTP
    /// settings, and its clock ages cached vessel visits.
    pub fn new(config: IctsiConfig, cx: &ProviderContext) -> Result<Self> {
        let resolved = config.resolve(&cx.http)?;
        let client = Client::new(&resolved)?;
        Ok(Self {
            vessel_visits: VesselVisitCache::new(config.vessel_visit_ttl, cx.clock.clone()),
            client,
            config,
            clock: cx.clock.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &IctsiConfig {
        &self.config
    }

    /// Traces `requests`, one outcome each in order; see [`Tracer::trace_batch`].
    async fn trace_many(
        &self,
        requests: &[TraceRequest],
        credentials: &ProviderCredentials,
    ) -> Vec<Result<TraceResult, TraceError>> {
        let auth = match Auth::from_credentials(credentials) {
            Ok(auth) => auth,
            Err(error) => return vec![Err(error); requests.len()],
        };
        let mut outcomes: Vec<Option<Result<TraceResult, TraceError>>> = vec![None; requests.len()];
        // Boxes whose query values are all equal but the container, in request order.
        let mut groups: Vec<(String, Vec<(usize, Ask<'_>)>)> = Vec::new();
        for (i, request) in requests.iter().enumerate() {
            match Ask::of(request) {
                Ok(ask) => {
                    let group = ask.group();
                    match groups.iter_mut().find(|(g, _)| *g == group) {
                        Some((_, members)) => members.push((i, ask)),
                        None => groups.push((group, vec![(i, ask)])),
                    }
                }
                Err(error) => outcomes[i] = Some(Err(error)),
            }
        }
        let size = self.config.limits.batch_size.max(1);
        for (_, members) in &groups {
            let mut containers: Vec<&str> = members.iter().map(|(_, ask)| ask.container).collect();
            containers.sort_unstable();
            containers.dedup();
            for chunk in containers.chunks(size) {
                let in_chunk = || members.iter().filter(|(_, a)| chunk.contains(&a.container));
                let Some((_, first)) = in_chunk().next() else {
                    continue;
                };
                let found = crate::lookup::containers(&self.client, &auth, first, chunk).await;
                let now = self.clock.now();
                for (i, ask) in in_chunk() {
                    let outcome = match &found {
                        Err(error) => Err(error.clone()),
                        Ok(found) => match found.of(ask.container) {
                            Ok(records) => self.finish(ask, records, &auth, now).await,
                            Err(error) => Err(error),
                        },
                    };
                    outcomes[*i] = Some(outcome);
                }
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err(TraceError::transient("the box was not traced"))))
            .collect()
    }

    /// One box's outcome from its records.
    async fn finish(
        &self,
        ask: &Ask<'_>,
        records: &[ContainerRecord],
        auth: &Auth,
        now: DateTime<Utc>,
    ) -> Result<TraceResult, TraceError> {
        let keep_raw = self.config.keep_raw;
        let Some(booking) = ask.booking else {
            return match select::empty(records, ask.container) {
                Some(record) => mapping::empty::found(ask.terminal, record, now, keep_raw),
                None => Err(TraceError::NotFound),
            };
        };
        let record = match select::export(records, ask.container, booking) {
            ExportPick::Ours(record) => record,
            ExportPick::OtherBooking(record) => {
                return Ok(export::other_booking(ask.terminal, record, now, keep_raw))
            }
            ExportPick::Nothing => return Err(TraceError::NotFound),
        };
        let mut holds = mapping::holds(record);
        if !holds.is_empty() && export::holds_in_force(record) {
            // ICTSI's own key goes back in a query only when it matches the pattern.
            if let Some(key) = record.unique_key.as_deref().filter(|k| patterns::is_key(k)) {
                let events: Vec<ContainerEvent> = self
                    .client
                    .call(Call::ContainerEvents, &[(query::UNIQUE_KEY, key)], auth)
                    .await?;
                mapping::describe_holds(&mut holds, &events);
            }
        }
        let vessel_visit = match export::vessel_visit_id(record).filter(|id| patterns::is_key(id)) {
            Some(id) => self.vessel_visit(ask.terminal, id, auth).await?,
            None => None,
        };
        export::found(export::Found {
            terminal: ask.terminal,
            record,
            holds: &holds,
            vessel_visit: vessel_visit.as_ref(),
            now,
            keep_raw,
        })
    }

    async fn vessel_visit(
        &self,
        terminal: Terminal,
        id: &str,
        auth: &Auth,
    ) -> Result<Option<VesselVisit>, TraceError> {
        self.vessel_visits
            .get_or_fetch(terminal.code(), id, || async {
                let visits: Vec<VesselVisit> = self
                    .client
                    .call(
                        Call::VesselVisit,
                        &[
                            (query::FACILITY_ID, terminal.code()),
                            (query::CARRIER_VISIT_ID, id),
                        ],
                        auth,
                    )
                    .await?;
                // The visit asked for, else the only one; never another vessel's dates.
                let wanted = |v: &&VesselVisit| v.carrier_visit_id.as_deref() == Some(id);
                let single = (visits.len() == 1).then(|| visits.first()).flatten();
                Ok(visits.iter().find(wanted).or(single).cloned())
            })
            .await
    }
}

#[async_trait]
impl Tracer for IctsiTracer {
    fn id(&self) -> &str {
        PROVIDER_ID
    }

    fn workflow(&self) -> Workflow {
        Workflow::RealTime
    }

    fn limits(&self) -> ProviderLimits {
        self.config.limits.clone()
    }

    /// `locationCode` must be `MICT` or `SBITC`; exports need `bookingNumber`, which must
    /// match the strict pattern of a query value; other keys are tolerated.
    fn validate(&self, kind: TraceKind, data: &Map<String, Value>) -> Result<(), DataError> {
        terminal::validate(kind, data)
    }

    /// The id goes into ICTSI's query: with `data.normalize = false` it must still be 4 to
    /// 15 upper-case letters and digits.
    fn validate_container(&self, _kind: TraceKind, id: &ContainerId) -> Result<(), String> {
        if patterns::is_container(id.as_str()) {
            Ok(())
        } else {
            Err(format!(
                "{} (data.normalize = false)",
                patterns::CONTAINER_RULE
            ))
        }
    }

    /// The terminal, the container type and the `ms-booking` value: boxes share a call
    /// only when every query value but the container number is equal, so that a call
    /// never unmasks one booking's records for another booking's job. Invalid data has
    /// no key (traced alone, and refused).
    fn batch_key(&self, request: &TraceRequest) -> Option<String> {
        Ask::of(request).ok().map(|ask| ask.group())
    }

    /// The batch key and the container: the booking is part of it, because `ms-booking`
    /// unmasks the owner's fields. Other `data` keys change nothing ICTSI answers.
    fn lookup_key(&self, request: &TraceRequest) -> String {
        match Ask::of(request) {
            Ok(ask) => ask.lookup_key(),
            Err(_) => default_lookup_key(request),
        }
    }

    async fn trace(
        &self,
        request: &TraceRequest,
        credentials: &ProviderCredentials,
    ) -> Result<TraceResult, TraceError> {
        self.trace_many(std::slice::from_ref(request), credentials)
            .await
            .pop()
            .unwrap_or_else(|| Err(TraceError::transient("the box was not traced")))
    }

    /// One container details call per group of equal query values (per batch key), in
    /// chunks of `limits.batchSize` boxes; one outcome per box: a box with bad data, a
    /// record of unknown shape, or a failed hold or vessel lookup fails alone.
    async fn trace_batch(
        &self,
        requests: &[TraceRequest],
        credentials: &ProviderCredentials,
    ) -> Vec<Result<TraceResult, TraceError>> {
        self.trace_many(requests, credentials).await
    }
}
