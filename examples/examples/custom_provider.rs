//! A complete provider for an imaginary terminal, in one file: the Port of Nowhere, terminals
//! `NOW1` and `NOW2`. It validates its `data`, reads its credentials from the engine,
//! classifies every answer for the scheduler, maps the terminal's records to the normalized
//! result, and registers itself with `inventory`. The engine builds it by id and traces three
//! boxes through it on a simulated clock.
//!
//! Run it with `cargo run -p boxtrace-examples --example custom_provider`. It ends by
//! itself, in seconds, after four simulated days.
//!
//! A real provider keeps the same shape in a crate of its own (see `providers/README.md`),
//! with an HTTP client where this one calls the in-process [`api::NowhereApi`].

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use boxtrace::{
    Clock, DataError, Engine, EquipmentEvent, EquipmentEventCode, EventClassifier, Hold, KeyDates,
    Location, ManualClock, PermanentReason, ProviderBuildError, ProviderContext,
    ProviderCredentials, ProviderLimits, ProviderRegistration, SledStore, StaticCredentials,
    Status, TraceError, TraceKind, TraceRequest, TraceResult, Tracer, Vessel,
};
use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The provider id clients send as `providerId`.
const PROVIDER_ID: &str = "nowhere";
/// The terminals clients name in `data.terminal`.
const TERMINALS: [&str; 2] = ["NOW1", "NOW2"];

// ---------------------------------------------------------------------------------------
// The provider: configuration, factory, registration.
// ---------------------------------------------------------------------------------------

/// The provider's configuration (`ProviderContext::config`), every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NowhereConfig {
    /// When the imaginary terminal's story starts; default the clock's time at build.
    epoch: Option<DateTime<Utc>>,
}

/// The factory: configuration and clock from the context, never from globals.
fn build(cx: ProviderContext) -> Result<Arc<dyn Tracer>, ProviderBuildError> {
    let config: NowhereConfig = cx.config()?;
    let epoch = config.epoch.unwrap_or_else(|| cx.clock.now());
    Ok(Arc::new(NowhereTracer {
        api: api::NowhereApi::new(epoch),
        clock: cx.clock,
    }))
}

// Linking this code registers the provider; `build_provider("nowhere", ..)` finds it.
boxtrace::inventory::submit! {
    ProviderRegistration::new(PROVIDER_ID, "Port of Nowhere (imaginary): NOW1, NOW2", build)
}

/// The Port of Nowhere as a boxtrace provider.
#[derive(Debug)]
struct NowhereTracer {
    api: api::NowhereApi,
    clock: Arc<dyn Clock>,
}

#[async_trait]
impl Tracer for NowhereTracer {
    fn id(&self) -> &str {
        PROVIDER_ID
    }

    // `workflow()` keeps its default, `Workflow::RealTime`: every trace asks the terminal now.

    fn limits(&self) -> ProviderLimits {
        // A partner API: a few traces at once, two a second.
        ProviderLimits::default()
            .with_concurrency(2)
            .with_rate(Some(2), 2)
            .with_trace_timeout(Duration::from_secs(15))
    }

    /// Publish-time rules: a known terminal; exports need a booking; other keys tolerated.
    fn validate(&self, kind: TraceKind, data: &Map<String, Value>) -> Result<(), DataError> {
        terminal(data)?;
        if kind == TraceKind::Export && data.get("bookingNumber").and_then(Value::as_str).is_none()
        {
            return Err(DataError::new(
                "bookingNumber",
                "is required for export traces",
            ));
        }
        Ok(())
    }

    async fn trace(
        &self,
        request: &TraceRequest,
        credentials: &ProviderCredentials,
    ) -> Result<TraceResult, TraceError> {
        let terminal = terminal(&request.data).map_err(|e| TraceError::Permanent {
            reason: PermanentReason::RequestRejected,
            message: format!("data.{e}"),
        })?;
        let Some(key) = credentials.get("apiKey") else {
            return Err(TraceError::Permanent {
                reason: PermanentReason::CredentialsMissing,
                message: "no apiKey configured (BOXTRACE_NOWHERE_API_KEY)".into(),
            });
        };
        let now = self.clock.now();
        let answer = self
            .api
            .container(key.expose(), terminal, request.container.as_str(), now)
            .await;
        let body = classify(&answer)?;
        let record: wire::Container = serde_json::from_str(body)
            .map_err(|e| TraceError::transient(format!("the answer does not parse: {e}")))?;
        mapping::result(request.key.kind, terminal, &record, now)
    }
}

/// `data.terminal`, naming the accepted values when it is missing or unknown.
fn terminal(data: &Map<String, Value>) -> Result<&'static str, DataError> {
    let given = data.get("terminal").and_then(Value::as_str);
    TERMINALS
        .into_iter()
        .find(|t| Some(*t) == given)
        .ok_or_else(|| {
            DataError::new(
                "terminal",
                format!("must be one of {}", TERMINALS.join(", ")),
            )
        })
}

/// What the scheduler does next, from the answer's status. Messages never hold the key.
fn classify(answer: &api::Answer) -> Result<&str, TraceError> {
    match answer.status {
        200 => Ok(&answer.body),
        404 => Err(TraceError::NotFound),
        401 | 403 => Err(TraceError::Permanent {
            reason: PermanentReason::CredentialsRejected,
            message: format!("HTTP {}: check BOXTRACE_NOWHERE_API_KEY", answer.status),
        }),
        429 => Err(TraceError::RateLimited {
            retry_after: answer.retry_after,
        }),
        500..=599 => Err(TraceError::Transient {
            message: format!("HTTP {}", answer.status),
            retry_after: answer.retry_after,
        }),
        other => Err(TraceError::Permanent {
            reason: PermanentReason::RequestRejected,
            message: format!("HTTP {other}"),
        }),
    }
}

// ---------------------------------------------------------------------------------------
// Wire types: the terminal's record, isolated from the mapping.
// ---------------------------------------------------------------------------------------

mod wire {
    use chrono::{DateTime, Utc};
    use serde::Deserialize;

    /// One container record, as the terminal answers it.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Container {
        /// `ADVISED`, `IN_YARD`, `ON_VESSEL`, `SAILED` (exports) or `RETURNED` (empties).
        pub phase: String,
        pub booking: Option<String>,
        #[serde(default)]
        pub holds: Vec<String>,
        pub gate_in: Option<DateTime<Utc>>,
        pub loaded_at: Option<DateTime<Utc>>,
        pub vessel: Option<String>,
        pub voyage: Option<String>,
        pub cargo_cutoff: Option<DateTime<Utc>>,
    }
}

// ---------------------------------------------------------------------------------------
// Mapping: the record to the normalized result.
// ---------------------------------------------------------------------------------------

mod mapping {
    use super::*;

    pub fn result(
        kind: TraceKind,
        terminal: &str,
        record: &wire::Container,
        now: DateTime<Utc>,
    ) -> Result<TraceResult, TraceError> {
        let status = match (kind, record.phase.as_str()) {
            (TraceKind::Export, "ADVISED") => Status::Expected,
            (TraceKind::Export, "IN_YARD") if record.holds.is_empty() => Status::GatedIn,
            (TraceKind::Export, "IN_YARD") => Status::OnHold,
            (TraceKind::Export, "ON_VESSEL") => Status::Loaded,
            (TraceKind::Export, "SAILED") => Status::Departed,
            (TraceKind::Empty, "RETURNED") => Status::Returned,
            // An export visit is no return of the empty, and a return is no export.
            (TraceKind::Empty, "ADVISED" | "IN_YARD" | "ON_VESSEL" | "SAILED")
            | (TraceKind::Export, "RETURNED") => return Err(TraceError::NotFound),
            // A phase this mapping does not know: the API changed. Retried, and logged by the
            // engine for an operator, rather than guessed.
            (_, phase) => return Err(TraceError::transient(format!("unknown phase {phase:?}"))),
        };
        let location = Location {
            un_locode: Some("XXNOW".into()),
            facility_code: Some(terminal.into()),
            name: Some("Port of Nowhere".into()),
        };
        let mut result = TraceResult::new(status, now);
        let event = |code, at| EquipmentEvent {
            code,
            classifier: EventClassifier::Act,
            event_at: at,
            empty_indicator: None,
            location: Some(location.clone()),
            description: None,
        };
        result
            .events
            .extend(record.gate_in.map(|at| event(EquipmentEventCode::Gtin, at)));
        result.events.extend(
            record
                .loaded_at
                .map(|at| event(EquipmentEventCode::Load, at)),
        );
        result.holds = record
            .holds
            .iter()
            .map(|code| Hold {
                code: code.clone(),
                description: None,
                applies_to: Some("vessel".into()),
            })
            .collect();
        if record.vessel.is_some() {
            result.vessel = Some(Vessel {
                name: record.vessel.clone(),
                voyage: record.voyage.clone(),
                ..Vessel::default()
            });
        }
        result.key_dates = KeyDates {
            cargo_cutoff: record.cargo_cutoff,
            ..KeyDates::default()
        };
        result.booking_reference = record.booking.clone();
        result.location = Some(location);
        Ok(result)
    }
}

// ---------------------------------------------------------------------------------------
// The imaginary terminal's API, in-process: it answers what an HTTP API would.
// ---------------------------------------------------------------------------------------

mod api {
    use chrono::{DateTime, Duration, Utc};
    use serde_json::json;

    /// The key the terminal accepts.
    pub const KEY: &str = "nowhere-demo-key-0b7e";

    /// An answer: status, `Retry-After` and body.
    #[derive(Debug)]
    pub struct Answer {
        pub status: u16,
        pub retry_after: Option<std::time::Duration>,
        pub body: String,
    }

    /// The terminal, with a story for two boxes that starts at `epoch`.
    #[derive(Debug)]
    pub struct NowhereApi {
        epoch: DateTime<Utc>,
    }

    impl NowhereApi {
        pub fn new(epoch: DateTime<Utc>) -> Self {
            Self { epoch }
        }

        pub async fn container(
            &self,
            key: &str,
            _terminal: &str,
            number: &str,
            now: DateTime<Utc>,
        ) -> Answer {
            // A real provider awaits its HTTP client here.
            if key != KEY {
                return answer(401, json!({ "message": "invalid key" }));
            }
            let hours = |h| self.epoch + Duration::hours(h);
            let at = |h| (now >= hours(h)).then(|| hours(h));
            let body = match number {
                // An export box: gated in, held by customs for a day, loaded, sailed.
                "MSCU1234566" => {
                    let phase = match now {
                        t if t >= hours(52) => "SAILED",
                        t if t >= hours(44) => "ON_VESSEL",
                        t if t >= hours(9) => "IN_YARD",
                        _ => "ADVISED",
                    };
                    let held = now >= hours(20) && now < hours(30);
                    json!({
                        "phase": phase, "booking": "TASF883714",
                        "holds": if held { vec!["CUSTOMS"] } else { vec![] },
                        "gateIn": at(9), "loadedAt": at(44),
                        "vessel": "NOWHERE EXPRESS", "voyage": "042E",
                        "cargoCutoff": hours(36),
                    })
                }
                // An empty, returned on the second morning.
                "HLXU8207315" if now >= hours(26) => {
                    json!({ "phase": "RETURNED", "gateIn": hours(26) })
                }
                _ => return answer(404, json!({ "message": "no such unit" })),
            };
            answer(200, body)
        }
    }

    fn answer(status: u16, body: serde_json::Value) -> Answer {
        Answer {
            status,
            retry_after: None,
            body: body.to_string(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The engine, building the provider by id and tracing through it.
// ---------------------------------------------------------------------------------------

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let start = Utc
        .with_ymd_and_hms(2026, 3, 2, 6, 0, 0)
        .single()
        .context("start time")?;
    let clock = ManualClock::new(start);
    let credentials = ProviderCredentials::new().with("apiKey", api::KEY);
    let engine = Engine::builder()
        .store(SledStore::open_path(dir.path())?)
        // Built by id from the registry, with its configuration, as a server builds it.
        .registered_provider(PROVIDER_ID, json!({ "epoch": start }))
        // Rate limits wait in real time, and this clock passes days in seconds: a trace held
        // back for half a second would outlive its lease. On the system clock, keep them.
        .provider_limits(PROVIDER_ID, ProviderLimits::default().with_rate(None, 1))
        .credentials(StaticCredentials::new().with_provider(PROVIDER_ID, credentials))
        .clock(clock.clone())
        .seed(1)
        .build()?;
    println!("providers: {:?}", engine.providers());

    // Bad data is refused at publish time, naming the field; nothing is stored.
    let wrong = json!({ "terminal": "LAX", "bookingNumber": "TASF883714" });
    if let Err(error) = publish(&engine, "EXPORT", "MSCU1234566", wrong).await {
        println!("refused: {error}");
    }

    let mut results = engine.subscribe();
    let running = engine.start();
    let export = json!({ "terminal": "NOW1", "bookingNumber": "TASF883714" });
    publish(&engine, "EXPORT", "MSCU1234566", export.clone()).await?;
    publish(&engine, "EXPORT", "CSQU3054383", export).await?; // unknown to the terminal
    let empty = json!({ "terminal": "NOW1" });
    publish(&engine, "EMPTY", "HLXU8207315", empty).await?;
    println!(
        "\nTracing at the Port of Nowhere from {}:\n",
        start.format("%Y-%m-%d %H:%M UTC")
    );

    let end = start + chrono::Duration::days(4);
    while clock.now() < end {
        // Ten simulated minutes per step; the dispatcher wakes when jobs come due.
        clock.advance(chrono::Duration::minutes(10));
        tokio::time::sleep(Duration::from_millis(1)).await;
        while let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(1), results.recv()).await
        {
            println!("{}", event.summary());
        }
    }
    running.shutdown().await;
    Ok(())
}

/// Publishes a `TRACE_<kind>_REQUESTED` event for `container` at the Port of Nowhere.
async fn publish(engine: &Engine, kind: &str, container: &str, data: Value) -> anyhow::Result<()> {
    let event = json!({
        "orgId": "acme-trucking", "svcId": "tms-1", "type": "CONTAINER",
        "action": format!("TRACE_{kind}_REQUESTED"), "origin": "custom-provider-example",
        "payload": { "id": container, "providerId": PROVIDER_ID, "data": data }
    });
    engine.handle_event(&serde_json::to_vec(&event)?).await?;
    Ok(())
}
