//! Property tests of the policy's invariants.

use super::*;
use crate::model::VisitPhase;
use chrono::TimeZone;
use proptest::prelude::*;
use rand::{rngs::StdRng, SeedableRng};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap()
}

fn any_status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::NotFound),
        Just(Status::BookingNotFound),
        Just(Status::BookingMismatch),
        Just(Status::Expected),
        Just(Status::GatedIn),
        Just(Status::OnHold),
        Just(Status::Loaded),
        Just(Status::Departed),
        Just(Status::NotReceivable),
        Just(Status::Receivable),
        Just(Status::Returned),
    ]
}

proptest! {
    #[test]
    fn next_due_is_after_now_and_bounded(
        status in any_status(),
        export in any::<bool>(),
        age_mins in 0i64..(60 * 24 * 40),
        changed_mins_ago in proptest::option::of(0i64..(60 * 24 * 10)),
        cutoff_in_mins in proptest::option::of(-600i64..6000),
        receiving_in_mins in proptest::option::of(-600i64..20_000),
        slot_in_mins in proptest::option::of(-600i64..20_000),
        phase in proptest::option::of(proptest::sample::select(VisitPhase::ALL.to_vec())),
        errors in 0u32..40,
        retry_after in proptest::option::of(0u64..200_000),
        seed in any::<u64>(),
    ) {
        let policy = Policy::default();
        let now = t0() + chrono::Duration::minutes(age_mins);
        let mut result = TraceResult::new(status, now);
        result.key_dates.cargo_cutoff = cutoff_in_mins.map(|m| now + chrono::Duration::minutes(m));
        result.key_dates.earliest_receiving =
            receiving_in_mins.map(|m| now + chrono::Duration::minutes(m));
        result.appointment = slot_in_mins.map(|m| {
            let start = now + chrono::Duration::minutes(m);
            crate::model::Appointment { start, end: start + chrono::Duration::hours(2) }
        });
        result.visit = phase.map(|phase| {
            let mut visit = crate::model::VesselVisit::new("V1");
            visit.phase = Some(phase);
            visit
        });
        let input = PolicyInput {
            kind: if export { TraceKind::Export } else { TraceKind::Empty },
            now,
            tracking_since: t0(),
            result: Some(&result),
            last_changed_at: changed_mins_ago.map(|m| now - chrono::Duration::minutes(m)),
            not_found_since: (status == Status::NotFound).then_some(t0()),
            consecutive_errors: errors,
            retry_after: retry_after.map(Duration::from_secs),
        };
        let mut rng = StdRng::seed_from_u64(seed);
        match policy.decide(&input, &mut rng) {
            Decision::Next(at) => {
                prop_assert!(at > now, "next {at} not after now {now}");
                let bound = chrono::Duration::from_std(policy.max_delay()).unwrap();
                prop_assert!(at <= now + bound, "next {at} beyond {bound}");
                prop_assert!(errors > 0 || !policy.stop_on.contains(&status));
            }
            Decision::Stop(state) => {
                prop_assert!(matches!(state, TrackingState::Completed | TrackingState::Expired));
            }
        }
    }

    #[test]
    fn terminal_statuses_never_reschedule(
        status in prop_oneof![Just(Status::Loaded), Just(Status::Departed), Just(Status::Returned)],
        age_mins in 0i64..(60 * 24 * 40),
        seed in any::<u64>(),
    ) {
        let policy = Policy::default();
        let now = t0() + chrono::Duration::minutes(age_mins);
        let result = TraceResult::new(status, now);
        let input = PolicyInput {
            kind: TraceKind::Export,
            now,
            tracking_since: t0(),
            result: Some(&result),
            last_changed_at: Some(now),
            not_found_since: None,
            consecutive_errors: 0,
            retry_after: None,
        };
        prop_assert_eq!(
            policy.decide(&input, &mut StdRng::seed_from_u64(seed)),
            Decision::Stop(TrackingState::Completed)
        );
    }

    #[test]
    fn backoff_is_monotone_up_to_its_cap(failures in 1u32..100, seed in any::<u64>()) {
        let backoff = Backoff::default();
        let this = backoff.envelope(failures);
        let next = backoff.envelope(failures + 1);
        prop_assert!(next >= this);
        prop_assert!(next <= backoff.max);
        // The jittered delay stays inside [envelope * (1 - jitter), envelope].
        let mut rng = StdRng::seed_from_u64(seed);
        let drawn = spread(this, backoff.jitter, &mut rng);
        prop_assert!(drawn <= this);
        prop_assert!(drawn >= this.mul_f64(1.0 - backoff.jitter) - Duration::from_millis(1));
    }
}

#[test]
fn backoff_reaches_its_cap() {
    let backoff = Backoff::default();
    assert_eq!(backoff.envelope(1), backoff.initial);
    assert_eq!(backoff.envelope(2), backoff.initial * 2);
    assert_eq!(backoff.envelope(30), backoff.max);
}

#[test]
fn retry_after_is_honoured() {
    let policy = Policy::default();
    let input = PolicyInput {
        kind: TraceKind::Export,
        now: t0(),
        tracking_since: t0(),
        result: None,
        last_changed_at: None,
        not_found_since: None,
        consecutive_errors: 1,
        retry_after: Some(Duration::from_secs(900)),
    };
    let decision = policy.decide(&input, &mut StdRng::seed_from_u64(1));
    assert_eq!(
        decision,
        Decision::Next(t0() + chrono::Duration::seconds(900))
    );
}

#[test]
fn not_found_is_given_up() {
    let policy = Policy::default();
    let now = t0() + chrono::Duration::days(8);
    let result = TraceResult::new(Status::NotFound, now);
    let input = PolicyInput {
        kind: TraceKind::Export,
        now,
        tracking_since: t0(),
        result: Some(&result),
        last_changed_at: Some(t0()),
        not_found_since: Some(t0()),
        consecutive_errors: 0,
        retry_after: None,
    };
    let decision = policy.decide(&input, &mut StdRng::seed_from_u64(1));
    assert_eq!(decision, Decision::Stop(TrackingState::Expired));
}

#[test]
fn near_cutoff_traces_sooner() {
    let policy = Policy::default();
    let mut result = TraceResult::new(Status::Expected, t0());
    result.key_dates.cargo_cutoff = Some(t0() + chrono::Duration::hours(5));
    let input = PolicyInput {
        kind: TraceKind::Export,
        now: t0(),
        tracking_since: t0(),
        result: Some(&result),
        last_changed_at: None,
        not_found_since: None,
        consecutive_errors: 0,
        retry_after: None,
    };
    let Decision::Next(at) = policy.decide(&input, &mut StdRng::seed_from_u64(1)) else {
        panic!("expected a next trace");
    };
    assert!(at <= t0() + chrono::Duration::minutes(30));
}

#[test]
fn policy_reads_from_toml() {
    let policy: Policy = toml::from_str(
        r#"
        maxTrackingAge = "10d"
        stopOn = ["DEPARTED", "RETURNED"]
        [export]
        onHold = "30m"
        [backoff]
        max = "2h"
        "#,
    )
    .unwrap();
    assert_eq!(policy.max_tracking_age, hours(240));
    assert_eq!(policy.export.on_hold, mins(30));
    assert_eq!(policy.backoff.max, hours(2));
    assert_eq!(policy.stop_on, vec![Status::Departed, Status::Returned]);
    assert_eq!(policy.export.expected, ExportIntervals::default().expected);
}

fn input_at<'a>(kind: TraceKind, now: DateTime<Utc>, result: &'a TraceResult) -> PolicyInput<'a> {
    PolicyInput {
        kind,
        now,
        tracking_since: t0(),
        result: Some(result),
        last_changed_at: None,
        not_found_since: (result.status == Status::NotFound).then_some(t0()),
        consecutive_errors: 0,
        retry_after: None,
    }
}

fn next(policy: &Policy, input: &PolicyInput<'_>) -> DateTime<Utc> {
    match policy.decide(input, &mut StdRng::seed_from_u64(7)) {
        Decision::Next(at) => at,
        stop => panic!("expected a next trace, got {stop:?}"),
    }
}

#[test]
fn an_empty_not_yet_returned_has_its_own_interval_and_give_up() {
    let policy = Policy::default();
    let eight_days = t0() + chrono::Duration::days(8);
    let result = TraceResult::new(Status::NotFound, eight_days);
    let input = input_at(TraceKind::Empty, eight_days, &result);
    let at = next(&policy, &input);
    assert!(at <= eight_days + chrono::Duration::from_std(policy.empty.not_returned).unwrap());
    assert!(at > eight_days + chrono::Duration::from_std(policy.empty.not_returned).unwrap() / 2);

    let late = t0() + chrono::Duration::from_std(policy.empty.not_returned_give_up).unwrap();
    let result = TraceResult::new(Status::NotFound, late);
    let input = input_at(TraceKind::Empty, late, &result);
    assert_eq!(
        policy.decide(&input, &mut StdRng::seed_from_u64(1)),
        Decision::Stop(TrackingState::Expired)
    );
}

#[test]
fn an_appointment_makes_tracing_quiet_before_its_slot_and_dense_across_it() {
    let policy = Policy::default();
    let slot = t0() + chrono::Duration::hours(30);
    let mut result = TraceResult::new(Status::Expected, t0());
    result.appointment = Some(crate::model::Appointment {
        start: slot,
        end: slot + chrono::Duration::hours(2),
    });
    // A day before: rechecked at most every `recheck`, no sooner than that.
    let at = next(&policy, &input_at(TraceKind::Export, t0(), &result));
    assert_eq!(
        at,
        t0() + chrono::Duration::from_std(policy.appointment.recheck).unwrap()
    );
    // Three hours before: sleeps until the dense window opens.
    let now = slot - chrono::Duration::hours(3);
    let at = next(&policy, &input_at(TraceKind::Export, now, &result));
    assert_eq!(
        at,
        slot - chrono::Duration::from_std(policy.appointment.before).unwrap()
    );
    // In the slot: the dense interval.
    let now = slot + chrono::Duration::minutes(30);
    let at = next(&policy, &input_at(TraceKind::Export, now, &result));
    assert!(at <= now + chrono::Duration::from_std(policy.appointment.interval).unwrap());
    // After it, for late trucks: the late interval.
    let now = slot + chrono::Duration::hours(3);
    let at = next(&policy, &input_at(TraceKind::Export, now, &result));
    assert!(at <= now + chrono::Duration::from_std(policy.appointment.late_interval).unwrap());
    assert!(at > now + chrono::Duration::from_std(policy.appointment.interval).unwrap());
    // Long after (a no-show): the status interval again.
    let now = slot + chrono::Duration::hours(8);
    let at = next(&policy, &input_at(TraceKind::Export, now, &result));
    assert!(at > now + chrono::Duration::from_std(policy.appointment.late_interval).unwrap());
    // An empty's return slot works the same way.
    let mut empty = TraceResult::new(Status::NotFound, t0());
    empty.appointment = result.appointment;
    let now = slot + chrono::Duration::minutes(30);
    let at = next(&policy, &input_at(TraceKind::Empty, now, &empty));
    assert!(at <= now + chrono::Duration::from_std(policy.appointment.interval).unwrap());
}

#[test]
fn a_box_sleeps_until_receiving_opens_and_is_traced_densely_while_its_vessel_works() {
    let policy = Policy::default();
    let opens = t0() + chrono::Duration::hours(40);
    let mut result = TraceResult::new(Status::Expected, t0());
    result.key_dates.earliest_receiving = Some(opens);
    let at = next(&policy, &input_at(TraceKind::Export, t0(), &result));
    assert_eq!(
        at,
        t0() + chrono::Duration::from_std(policy.visit.quiet_max).unwrap()
    );
    let now = opens - chrono::Duration::hours(5);
    assert_eq!(
        next(&policy, &input_at(TraceKind::Export, now, &result)),
        opens
    );

    let mut yard = TraceResult::new(Status::GatedIn, t0());
    let mut visit = crate::model::VesselVisit::new("V1");
    visit.phase = Some(VisitPhase::Arrived);
    yard.visit = Some(visit.clone());
    let at = next(&policy, &input_at(TraceKind::Export, t0(), &yard));
    assert!(at > t0() + chrono::Duration::from_std(policy.visit.working_interval).unwrap());
    visit.phase = Some(VisitPhase::Working);
    yard.visit = Some(visit);
    let at = next(&policy, &input_at(TraceKind::Export, t0(), &yard));
    assert!(at <= t0() + chrono::Duration::from_std(policy.visit.working_interval).unwrap());
}

#[test]
fn fixed_polling_ignores_the_structure() {
    let policy = Policy::fixed(Duration::from_secs(3600));
    let slot = t0() + chrono::Duration::minutes(30);
    let mut result = TraceResult::new(Status::Expected, t0());
    result.appointment = Some(crate::model::Appointment {
        start: slot,
        end: slot + chrono::Duration::hours(2),
    });
    result.key_dates.earliest_receiving = Some(t0() + chrono::Duration::days(3));
    let at = next(&policy, &input_at(TraceKind::Export, t0(), &result));
    assert_eq!(at, t0() + chrono::Duration::hours(1));
    let empty = TraceResult::new(Status::NotFound, t0());
    let at = next(&policy, &input_at(TraceKind::Empty, t0(), &empty));
    assert_eq!(at, t0() + chrono::Duration::hours(1));
}

#[test]
fn unknown_policy_keys_in_the_new_sections_are_refused() {
    let err = toml::from_str::<Policy>("[appointment]\nintreval = \"5m\"\n").unwrap_err();
    assert!(err.to_string().contains("intreval"), "{err}");
    let policy: Policy = toml::from_str("[visit]\nworkingInterval = \"20m\"\n").unwrap();
    assert_eq!(policy.visit.working_interval, mins(20));
}

#[test]
fn the_readme_policy_sections_parse_to_the_defaults() {
    let policy: Policy = toml::from_str(
        r#"
        [appointment]
        before = "1h"
        interval = "15m"
        after = "3h"
        lateInterval = "20m"
        recheck = "12h"
        [visit]
        workingInterval = "15m"
        quietMax = "24h"
        [cohort]
        delay = "1m"
        departureMoved = "2h"
        [empty]
        notReturned = "3h"
        notReturnedGiveUp = "21d"
        "#,
    )
    .unwrap();
    assert_eq!(policy, Policy::default());
}

#[test]
fn the_rule_names_what_chose_the_next_trace() {
    let policy = Policy::default();
    let now = t0() + chrono::Duration::hours(1);
    let gated_in = TraceResult::new(Status::GatedIn, now);
    let loaded = TraceResult::new(Status::Loaded, now);
    let input = |result: Option<&'static TraceResult>, changed: Option<DateTime<Utc>>, errors| {
        PolicyInput {
            kind: TraceKind::Export,
            now,
            tracking_since: t0(),
            result,
            last_changed_at: changed,
            not_found_since: None,
            consecutive_errors: errors,
            retry_after: None,
        }
    };
    let gated_in: &'static TraceResult = Box::leak(Box::new(gated_in));
    let loaded: &'static TraceResult = Box::leak(Box::new(loaded));
    assert_eq!(
        policy.rule(&input(Some(loaded), None, 0)),
        PolicyRule::StopStatus
    );
    assert_eq!(
        policy.rule(&input(Some(gated_in), None, 2)),
        PolicyRule::ErrorBackoff
    );
    assert_eq!(
        policy.rule(&input(None, None, 0)),
        PolicyRule::NotFoundInterval
    );
    assert_eq!(
        policy.rule(&input(Some(gated_in), Some(now), 0)),
        PolicyRule::AfterChange
    );
    let old_change = Some(t0() - chrono::Duration::days(5));
    assert_eq!(
        policy.rule(&input(Some(gated_in), old_change, 0)),
        PolicyRule::StatusInterval
    );
    // The rule and the decision agree on stopping.
    let mut rng = StdRng::seed_from_u64(1);
    assert!(matches!(
        policy.decide(&input(Some(loaded), None, 0), &mut rng),
        Decision::Stop(_)
    ));
}
