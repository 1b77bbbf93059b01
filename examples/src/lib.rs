//! Helpers shared by the examples: a readable one-line rendering of a result event.

use boxtrace::{EmitReason, ResultAction, ResultEvent};

/// One readable line for a result event, e.g.
/// `Mar 04 14:20  MSCU1234566  EXPORT  GATED_IN         ACTIVE     changed   MV Harbor Star 052E`.
pub fn describe(event: &ResultEvent) -> String {
    let p = &event.payload;
    let status = match (event.action, &p.error) {
        (ResultAction::TraceError, Some(error)) => format!("ERROR {}", error.reason),
        _ => p.status.map_or_else(|| "-".to_owned(), |s| s.to_string()),
    };
    let reason = match p.reason {
        EmitReason::FirstResult => "first",
        EmitReason::Changed => "changed",
        EmitReason::Forced => "forced",
        EmitReason::TrackingStopped => "stopped",
        EmitReason::Failed => "failed",
    };
    let vessel = p
        .carrier
        .as_ref()
        .map(|c| {
            format!(
                "{} {}",
                c.vessel.as_deref().unwrap_or("?"),
                c.voyage.as_deref().unwrap_or("")
            )
        })
        .unwrap_or_default();
    let holds = p
        .result
        .as_ref()
        .filter(|r| !r.holds.is_empty())
        .map(|r| {
            let codes: Vec<&str> = r.holds.iter().map(|h| h.code.as_str()).collect();
            format!("  holds: {}", codes.join(", "))
        })
        .unwrap_or_default();
    format!(
        "{}  {:<12} {:<6} {:<17} {:<10} {:<8} {}{}",
        p.traced_at.format("%b %d %H:%M"),
        p.container_number,
        p.trace_kind.as_str(),
        status,
        p.tracking_state.as_str(),
        reason,
        vessel.trim_end(),
        holds
    )
}

/// The README's code, compiled as a doctest so that it cannot rot.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
