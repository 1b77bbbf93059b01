//! Inbound events: the envelope of the event contract, and its validation into typed commands.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    canonical_id, ContainerId, ContainerNumber, ContainerNumberError, JobKey, Tenant, TraceKind,
    TraceRequest,
};

/// The only `type` the contract knows.
pub const ENTITY_CONTAINER: &str = "CONTAINER";

/// Longest accepted `orgId`, `svcId`, `origin` or `providerId`.
const MAX_ID_LEN: usize = 200;
/// Longest accepted container id when validation is off, and booking number.
const MAX_REFERENCE_LEN: usize = 64;

/// The action of an inbound event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    /// Start (or force) an export trace.
    TraceExportRequested,
    /// Start (or force) an empty trace.
    TraceEmptyRequested,
    /// Stop an export trace.
    TraceExportCancelled,
    /// Stop an empty trace.
    TraceEmptyCancelled,
}

impl Action {
    /// Every action, in the contract's order.
    pub const ALL: [Action; 4] = [
        Self::TraceExportRequested,
        Self::TraceEmptyRequested,
        Self::TraceExportCancelled,
        Self::TraceEmptyCancelled,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TraceExportRequested => "TRACE_EXPORT_REQUESTED",
            Self::TraceEmptyRequested => "TRACE_EMPTY_REQUESTED",
            Self::TraceExportCancelled => "TRACE_EXPORT_CANCELLED",
            Self::TraceEmptyCancelled => "TRACE_EMPTY_CANCELLED",
        }
    }

    /// The trace kind the action is about.
    pub fn kind(self) -> TraceKind {
        match self {
            Self::TraceExportRequested | Self::TraceExportCancelled => TraceKind::Export,
            Self::TraceEmptyRequested | Self::TraceEmptyCancelled => TraceKind::Empty,
        }
    }

    /// Whether the action starts a trace (as opposed to cancelling one).
    pub fn is_request(self) -> bool {
        matches!(self, Self::TraceExportRequested | Self::TraceEmptyRequested)
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// An inbound event as a client sends it. Use it to build events in Rust; the engine
/// validates every event through [`Command::from_json`] or [`Command::from_value`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Organization id.
    pub org_id: String,
    /// Service id.
    pub svc_id: String,
    /// Always `CONTAINER`.
    #[serde(rename = "type")]
    pub entity_type: String,
    /// What to do.
    pub action: Action,
    /// Which service sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The container and provider.
    pub payload: EventPayload,
}

/// The `payload` of an inbound event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventPayload {
    /// Container number.
    pub id: String,
    /// Site id (not supported yet; send `provider_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_id: Option<String>,
    /// Provider id, e.g. `ictsi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// Provider-specific data.
    #[serde(default)]
    pub data: Map<String, Value>,
}

impl Event {
    /// A request (or cancellation) event for `action` with `data`.
    pub fn new(
        tenant: &Tenant,
        action: Action,
        provider_id: &str,
        container: &str,
        data: Map<String, Value>,
    ) -> Self {
        Self {
            org_id: tenant.org_id.clone(),
            svc_id: tenant.svc_id.clone(),
            entity_type: ENTITY_CONTAINER.to_owned(),
            action,
            origin: None,
            payload: EventPayload {
                id: container.to_owned(),
                site_id: None,
                provider_id: Some(provider_id.to_owned()),
                data,
            },
        }
    }

    /// Validates the event into a command.
    pub fn into_command(self) -> Result<Command, EventError> {
        let value = serde_json::to_value(self).map_err(|e| EventError {
            kind: EventErrorKind::InvalidValue,
            field: String::new(),
            message: format!("the event cannot be represented as JSON: {e}"),
        })?;
        Command::from_value(value)
    }
}

/// What kind of rule an event broke; adapters map it to a problem type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventErrorKind {
    /// The body is not JSON (`line` and `column` are 1-based).
    MalformedJson {
        /// Line of the syntax error.
        line: usize,
        /// Column of the syntax error.
        column: usize,
    },
    /// A required field is missing.
    MissingField,
    /// A field has the wrong JSON type.
    InvalidType,
    /// A field has a value the contract does not accept.
    InvalidValue,
    /// `type` is not `CONTAINER`.
    UnsupportedType,
    /// `action` is not one of the four actions.
    UnsupportedAction,
    /// Only `siteId` was sent; only `providerId` is supported.
    SiteIdNotSupported,
    /// `data` carries something that looks like a credential.
    CredentialInData,
    /// The container number fails ISO 6346 validation.
    InvalidContainerNumber(ContainerNumberError),
    /// No provider with that id is configured.
    UnknownProvider,
    /// The provider refused the request's `data`.
    ProviderData,
}

impl EventErrorKind {
    /// A stable, URL-friendly code for the kind, e.g. `invalid-container-number`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedJson { .. } => "malformed-json",
            Self::MissingField => "missing-field",
            Self::InvalidType => "invalid-type",
            Self::InvalidValue => "invalid-value",
            Self::UnsupportedType => "unsupported-type",
            Self::UnsupportedAction => "unsupported-action",
            Self::SiteIdNotSupported => "site-id-not-supported",
            Self::CredentialInData => "credential-in-data",
            Self::InvalidContainerNumber(_) => "invalid-container-number",
            Self::UnknownProvider => "unknown-provider",
            Self::ProviderData => "invalid-provider-data",
        }
    }
}

/// Why an event was rejected: which field, what was wrong, what is accepted.
/// Nothing is stored for a rejected event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if field.is_empty() { String::new() } else { format!("{field}: ") })]
pub struct EventError {
    /// The rule broken.
    pub kind: EventErrorKind,
    /// The JSON path of the field, e.g. `payload.data.locationCode` (empty for the body).
    pub field: String,
    /// What was wrong and what is accepted. Never contains a credential's value.
    pub message: String,
}

impl EventError {
    pub(crate) fn new(kind: EventErrorKind, field: &str, message: impl Into<String>) -> Self {
        Self {
            kind,
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// A validated event.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Start tracing (or force a trace of) a container.
    Publish(TraceRequest),
    /// Stop tracing a container.
    Cancel(JobKey),
}

impl Command {
    /// The job the command is about.
    pub fn key(&self) -> &JobKey {
        match self {
            Self::Publish(request) => &request.key,
            Self::Cancel(key) => key,
        }
    }

    /// The event action this command came from.
    pub fn action(&self) -> Action {
        match (self, self.key().kind) {
            (Self::Publish(_), TraceKind::Export) => Action::TraceExportRequested,
            (Self::Publish(_), TraceKind::Empty) => Action::TraceEmptyRequested,
            (Self::Cancel(_), TraceKind::Export) => Action::TraceExportCancelled,
            (Self::Cancel(_), TraceKind::Empty) => Action::TraceEmptyCancelled,
        }
    }

    /// Parses and validates a JSON body.
    pub fn from_json(body: &[u8]) -> Result<Self, EventError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            EventError::new(
                EventErrorKind::MalformedJson {
                    line: e.line(),
                    column: e.column(),
                },
                "",
                format!("the body is not valid JSON: {e}"),
            )
        })?;
        Self::from_value(value)
    }

    /// Validates a parsed JSON event against every rule of the event contract.
    pub fn from_value(value: Value) -> Result<Self, EventError> {
        let Value::Object(mut envelope) = value else {
            return Err(EventError::new(
                EventErrorKind::InvalidType,
                "",
                "the event must be a JSON object with orgId, svcId, type, action and payload",
            ));
        };
        let org_id = required_id(&envelope, "orgId")?;
        let svc_id = required_id(&envelope, "svcId")?;
        let entity_type = required_str(&envelope, "type", "type")?;
        if entity_type != ENTITY_CONTAINER {
            return Err(EventError::new(
                EventErrorKind::UnsupportedType,
                "type",
                format!(
                    "'{}' is not supported; accepted: CONTAINER",
                    clip(entity_type)
                ),
            ));
        }
        let action_name = required_str(&envelope, "action", "action")?;
        let action = Action::parse(action_name).ok_or_else(|| {
            EventError::new(
                EventErrorKind::UnsupportedAction,
                "action",
                format!(
                    "'{}' is not supported; accepted: {}",
                    clip(action_name),
                    Action::ALL.map(Action::as_str).join(", ")
                ),
            )
        })?;
        let origin = optional_str(&envelope, "origin", "origin")?
            .map(|o| bounded(o, "origin", MAX_ID_LEN))
            .transpose()?;
        let payload = match envelope.remove("payload") {
            Some(Value::Object(payload)) => payload,
            Some(_) => {
                return Err(EventError::new(
                    EventErrorKind::InvalidType,
                    "payload",
                    "must be a JSON object with id, providerId and data",
                ))
            }
            None => {
                return Err(EventError::new(
                    EventErrorKind::MissingField,
                    "payload",
                    "is required: an object with id, providerId and data",
                ))
            }
        };
        let raw_id = required_str(&payload, "id", "payload.id")?;
        let provider_id = provider_id(&payload)?;
        let mut data = match payload.get("data") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(data)) => data.clone(),
            Some(_) => {
                return Err(EventError::new(
                    EventErrorKind::InvalidType,
                    "payload.data",
                    "must be a JSON object (send {} when there is nothing to add)",
                ))
            }
        };
        reject_credentials(&data, "payload.data")?;
        let normalize = match data.remove("normalize") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => b,
            Some(_) => {
                return Err(EventError::new(
                    EventErrorKind::InvalidType,
                    "payload.data.normalize",
                    "must be true or false",
                ))
            }
        };
        let tenant = Tenant { org_id, svc_id };
        let kind = action.kind();
        if !action.is_request() {
            // Keys are canonical whatever `normalize` says, so a cancellation (which usually
            // carries no data) finds a trace published either way.
            let container = canonical_id(container_id(raw_id, false)?.as_str());
            return Ok(Command::Cancel(JobKey {
                tenant,
                kind,
                provider_id,
                container,
            }));
        }
        let container = container_id(raw_id, normalize)?;
        if kind == TraceKind::Export {
            match data.get("bookingNumber") {
                Some(Value::String(b)) if !b.trim().is_empty() => {
                    let trimmed =
                        bounded(b.trim(), "payload.data.bookingNumber", MAX_REFERENCE_LEN)?;
                    data.insert("bookingNumber".into(), Value::String(trimmed));
                }
                Some(Value::String(_)) => {
                    return Err(EventError::new(
                        EventErrorKind::InvalidValue,
                        "payload.data.bookingNumber",
                        "must not be empty; export traces need the booking number",
                    ))
                }
                Some(Value::Null) | None => {
                    return Err(EventError::new(
                        EventErrorKind::MissingField,
                        "payload.data.bookingNumber",
                        "is required for TRACE_EXPORT_REQUESTED: the booking number of the export",
                    ))
                }
                Some(_) => {
                    return Err(EventError::new(
                        EventErrorKind::InvalidType,
                        "payload.data.bookingNumber",
                        "must be a string, e.g. \"TASF883714\"",
                    ))
                }
            }
        }
        Ok(Command::Publish(TraceRequest {
            key: JobKey {
                tenant,
                kind,
                provider_id,
                container: canonical_id(container.as_str()),
            },
            container,
            data,
            origin,
        }))
    }
}

fn required_str<'a>(
    object: &'a Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<&'a str, EventError> {
    optional_str(object, name, path)?
        .ok_or_else(|| EventError::new(EventErrorKind::MissingField, path, "is required"))
}

fn optional_str<'a>(
    object: &'a Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<Option<&'a str>, EventError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(EventError::new(
            EventErrorKind::InvalidType,
            path,
            "must be a string",
        )),
    }
}

fn required_id(object: &Map<String, Value>, name: &str) -> Result<String, EventError> {
    let value = required_str(object, name, name)?.trim();
    if value.is_empty() {
        return Err(EventError::new(
            EventErrorKind::InvalidValue,
            name,
            "must not be empty",
        ));
    }
    bounded(value, name, MAX_ID_LEN)
}

/// Refuses overlong values and control characters, which would only ever be mistakes and
/// would otherwise end up in keys and logs.
fn bounded(value: &str, path: &str, max: usize) -> Result<String, EventError> {
    if value.chars().count() > max {
        return Err(EventError::new(
            EventErrorKind::InvalidValue,
            path,
            format!("is longer than {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(EventError::new(
            EventErrorKind::InvalidValue,
            path,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

fn provider_id(payload: &Map<String, Value>) -> Result<String, EventError> {
    let provider = optional_str(payload, "providerId", "payload.providerId")?;
    let site = optional_str(payload, "siteId", "payload.siteId")?;
    match (provider.map(str::trim), site) {
        (Some(""), _) => Err(EventError::new(
            EventErrorKind::InvalidValue,
            "payload.providerId",
            "must not be empty",
        )),
        (Some(p), _) => Ok(bounded(p, "payload.providerId", MAX_ID_LEN)?.to_ascii_lowercase()),
        (None, Some(_)) => Err(EventError::new(
            EventErrorKind::SiteIdNotSupported,
            "payload.siteId",
            "siteId is not supported yet, send providerId",
        )),
        (None, None) => Err(EventError::new(
            EventErrorKind::MissingField,
            "payload.providerId",
            "one of payload.providerId or payload.siteId is required; only providerId is supported yet",
        )),
    }
}

fn container_id(raw: &str, normalize: bool) -> Result<ContainerId, EventError> {
    if normalize {
        return ContainerNumber::parse(raw)
            .map(ContainerId::Validated)
            .map_err(|e| {
                let message = format!("{e} (send data.normalize = false to skip validation)");
                EventError::new(
                    EventErrorKind::InvalidContainerNumber(e),
                    "payload.id",
                    message,
                )
            });
    }
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(EventError::new(
            EventErrorKind::InvalidValue,
            "payload.id",
            "must not be empty",
        ));
    }
    Ok(ContainerId::Unvalidated(bounded(
        trimmed,
        "payload.id",
        MAX_REFERENCE_LEN,
    )?))
}

/// Key fragments that mark a credential. Compared against the key lower-cased with `_`
/// and `-` removed.
const CREDENTIAL_MARKERS: [&str; 11] = [
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "subscriptionkey",
    "subscriptionid",
    "credential",
    "privatekey",
    "authorization",
    "accesskey",
];

fn reject_credentials(data: &Map<String, Value>, path: &str) -> Result<(), EventError> {
    fn inside(value: &Value, path: &str) -> Result<(), EventError> {
        match value {
            Value::Object(inner) => reject_credentials(inner, path),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, item)| inside(item, &format!("{path}[{i}]"))),
            _ => Ok(()),
        }
    }
    for (key, value) in data {
        let folded: String = key
            .chars()
            .filter(|c| !matches!(c, '_' | '-' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        let field = format!("{path}.{key}");
        if CREDENTIAL_MARKERS.iter().any(|m| folded.contains(m)) {
            return Err(EventError::new(
                EventErrorKind::CredentialInData,
                &field,
                "credentials are not accepted in data; provider credentials are configured by the operator",
            ));
        }
        inside(value, &field)?;
    }
    Ok(())
}

fn clip(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    }
}
