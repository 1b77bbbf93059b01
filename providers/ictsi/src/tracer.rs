//! [`IctsiTracer`]: ICTSI as a [`Tracer`]. It asks for the container's visits, picks the
//! one the trace is about, adds hold details and vessel dates when they matter, and maps
//! the lot to a normalized result.

use std::sync::Arc;

use async_trait::async_trait;
use boxtrace::{
    Clock, DataError, PermanentReason, ProviderContext, ProviderCredentials, ProviderLimits,
    TraceError, TraceKind, TraceRequest, TraceResult, Tracer, Workflow,
};
use serde_json::{Map, Value};

use crate::cache::VesselVisitCache;
use crate::client::{Auth, Client};
use crate::config::IctsiConfig;
use crate::error::Result;
use crate::mapping::{self, export};
use crate::select::{self, ExportPick};
use crate::terminal::{self, Terminal};
use crate::wire::{query, Call, ContainerEvent, ContainerRecord, VesselVisit};

/// The provider id clients send as `providerId`.
pub const PROVIDER_ID: &str = "ictsi";

/// ICTSI's track-and-trace API as a boxtrace provider.
///
/// Real-time: every trace asks ICTSI now. A trace makes one call (container details), a
/// second when the box has holds (container events, for their details), and a third for
/// the vessel visit's dates unless a fresh answer for that vessel is cached.
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

    async fn containers(
        &self,
        container_type: &str,
        terminal: Terminal,
        container: &str,
        booking: Option<&str>,
        auth: &Auth,
    ) -> Result<Vec<ContainerRecord>, TraceError> {
        let mut params = vec![
            (query::CONTAINER_TYPE, container_type),
            (query::FACILITY_ID, terminal.code()),
            (query::CONTAINER_NUMBER, container),
        ];
        // `ms-booking`, not `booking-number`: the latter filters, so a box under another
        // booking would read as not found; the former unmasks the traced booking's
        // records (holds, position, POD) and leaves the others masked. ICTSI compares it
        // exactly, so the upper-case spelling N4 uses is named too.
        let unmask = booking.map(|booking| {
            let upper = booking.to_ascii_uppercase();
            if upper == booking {
                upper
            } else {
                format!("{booking},{upper}")
            }
        });
        if let Some(unmask) = unmask.as_deref() {
            params.push((query::MS_BOOKING, unmask));
        }
        self.client
            .call(Call::ContainerDetails, &params, auth)
            .await
    }

    async fn export(
        &self,
        request: &TraceRequest,
        terminal: Terminal,
        auth: &Auth,
    ) -> Result<TraceResult, TraceError> {
        let booking = terminal::booking(&request.data).map_err(rejected)?;
        let container = request.container.as_str();
        let records = self
            .containers(query::EXPORT, terminal, container, Some(booking), auth)
            .await?;
        let now = self.clock.now();
        let record = match select::export(&records, container, booking) {
            ExportPick::Ours(record) => record,
            ExportPick::OtherBooking(record) => {
                return Ok(export::other_booking(
                    terminal,
                    record,
                    now,
                    self.config.keep_raw,
                ))
            }
            ExportPick::Nothing => return Err(TraceError::NotFound),
        };
        let mut holds = mapping::holds(record);
        if !holds.is_empty() && export::holds_in_force(record) {
            if let Some(key) = record.unique_key.as_deref() {
                let events: Vec<ContainerEvent> = self
                    .client
                    .call(Call::ContainerEvents, &[(query::UNIQUE_KEY, key)], auth)
                    .await?;
                mapping::describe_holds(&mut holds, &events);
            }
        }
        let vessel_visit = match export::vessel_visit_id(record) {
            Some(id) => self.vessel_visit(terminal, id, auth).await?,
            None => None,
        };
        export::found(export::Found {
            terminal,
            record,
            holds: &holds,
            vessel_visit: vessel_visit.as_ref(),
            now,
            keep_raw: self.config.keep_raw,
        })
    }

    async fn empty(
        &self,
        request: &TraceRequest,
        terminal: Terminal,
        auth: &Auth,
    ) -> Result<TraceResult, TraceError> {
        let container = request.container.as_str();
        let records = self
            .containers(query::EMPTY, terminal, container, None, auth)
            .await?;
        match select::empty(&records, container) {
            Some(record) => {
                mapping::empty::found(terminal, record, self.clock.now(), self.config.keep_raw)
            }
            None => Err(TraceError::NotFound),
        }
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

    /// `locationCode` must be `MICT` or `SBITC`; exports need `bookingNumber`; other keys
    /// are tolerated.
    fn validate(&self, kind: TraceKind, data: &Map<String, Value>) -> Result<(), DataError> {
        terminal::validate(kind, data)
    }

    async fn trace(
        &self,
        request: &TraceRequest,
        credentials: &ProviderCredentials,
    ) -> Result<TraceResult, TraceError> {
        // Data stored before a rule changed is refused here as it would be at publish.
        let terminal = Terminal::from_data(&request.data).map_err(rejected)?;
        let auth = Auth::from_credentials(credentials)?;
        match request.key.kind {
            TraceKind::Export => self.export(request, terminal, &auth).await,
            TraceKind::Empty => self.empty(request, terminal, &auth).await,
        }
    }
}

fn rejected(error: DataError) -> TraceError {
    TraceError::Permanent {
        reason: PermanentReason::RequestRejected,
        message: format!("data.{error}"),
    }
}
