//! The circuit breaker's state machine under a manual clock: closed, open, half-open.

use super::*;
use crate::clock::Clock;
use crate::testing::t0;
use crate::ManualClock;

const FAILED: Verdict = Verdict::Failed { retry_after: None };

fn circuit() -> Circuit {
    Circuit::new(BreakerConfig::default().with_failures(3).with_cool_off(
        std::time::Duration::from_secs(30),
        std::time::Duration::from_secs(100),
    ))
}

fn rejected() -> Verdict {
    Verdict::Rejected(Rejection {
        reason: PermanentReason::CredentialsRejected,
        message: "401".into(),
    })
}

fn probe_wait() -> Duration {
    Duration::seconds(15)
}

fn admit(c: &mut Circuit, clock: &ManualClock) -> Admission {
    c.admit(clock.now(), probe_wait()).0
}

#[test]
fn closed_lets_requests_go_and_a_success_resets_the_count() {
    let clock = ManualClock::new(t0());
    let mut c = circuit();
    for _ in 0..2 {
        assert_eq!(admit(&mut c, &clock), Admission::Go);
        assert_eq!(c.record(false, &FAILED, clock.now()), None);
    }
    assert_eq!(c.record(false, &Verdict::Healthy, clock.now()), None);
    for _ in 0..2 {
        assert_eq!(c.record(false, &FAILED, clock.now()), None);
    }
    assert_eq!(c.state(clock.now()), CircuitState::Closed);
    assert_eq!(admit(&mut c, &clock), Admission::Go);
}

#[test]
fn consecutive_failures_open_it_for_the_cool_off() {
    let clock = ManualClock::new(t0());
    let mut c = circuit();
    c.record(false, &FAILED, clock.now());
    c.record(false, &FAILED, clock.now());
    assert_eq!(
        c.record(false, &FAILED, clock.now()),
        Some(CircuitState::Open)
    );
    let until = clock.now() + Duration::seconds(30);
    assert_eq!(c.state(clock.now()), CircuitState::Open);
    clock.advance(Duration::seconds(29));
    assert_eq!(
        admit(&mut c, &clock),
        Admission::Wait(Wait {
            until,
            rejected: None
        })
    );
    assert_eq!(
        c.peek(clock.now(), probe_wait()).map(|w| w.until),
        Some(until)
    );
    // Stragglers sent before it opened change nothing.
    assert_eq!(c.record(false, &Verdict::Healthy, clock.now()), None);
    assert_eq!(c.state(clock.now()), CircuitState::Open);
}

#[test]
fn half_open_lets_exactly_one_probe_go() {
    let clock = ManualClock::new(t0());
    let mut c = circuit();
    c.record(false, &rejected(), clock.now());
    clock.advance(Duration::seconds(30));
    assert_eq!(c.state(clock.now()), CircuitState::HalfOpen);
    assert_eq!(
        c.admit(clock.now(), probe_wait()),
        (Admission::Probe, Some(CircuitState::HalfOpen))
    );
    let Admission::Wait(wait) = admit(&mut c, &clock) else {
        panic!("a second request must wait for the probe");
    };
    assert_eq!(wait.until, clock.now() + probe_wait());
    assert!(
        wait.rejected.is_some(),
        "still suspended for the credentials"
    );
    // A probe that was never sent frees the slot for another.
    c.abandon_probe();
    assert_eq!(admit(&mut c, &clock), Admission::Probe);
    assert!(matches!(admit(&mut c, &clock), Admission::Wait(_)));
}

#[test]
fn a_successful_probe_closes_it() {
    let clock = ManualClock::new(t0());
    let mut c = circuit();
    for _ in 0..3 {
        c.record(false, &FAILED, clock.now());
    }
    clock.advance(Duration::seconds(31));
    assert_eq!(admit(&mut c, &clock), Admission::Probe);
    assert_eq!(
        c.record(true, &Verdict::Healthy, clock.now()),
        Some(CircuitState::Closed)
    );
    assert!(c.is_idle());
    assert_eq!(admit(&mut c, &clock), Admission::Go);
    // Closed again from scratch: it takes three failures to open once more, with
    // the first cool-off.
    c.record(false, &FAILED, clock.now());
    c.record(false, &FAILED, clock.now());
    assert_eq!(c.state(clock.now()), CircuitState::Closed);
    c.record(false, &FAILED, clock.now());
    assert_eq!(
        c.opened().and_then(|o| o.until),
        Some(clock.now() + Duration::seconds(30))
    );
}

#[test]
fn a_failed_probe_reopens_it_for_longer_up_to_the_cap() {
    let clock = ManualClock::new(t0());
    let mut c = circuit();
    let opened_at = clock.now();
    c.record(false, &rejected(), clock.now());
    let mut cool_off = 30;
    for expected in [60, 100, 100] {
        clock.advance(Duration::seconds(cool_off));
        assert_eq!(admit(&mut c, &clock), Admission::Probe);
        assert_eq!(
            c.record(true, &FAILED, clock.now()),
            Some(CircuitState::Open)
        );
        let opened = c.opened().unwrap();
        assert_eq!(
            opened.since, opened_at,
            "one episode since the first opening"
        );
        assert!(matches!(opened.cause, Cause::Credentials(_)), "cause kept");
        assert_eq!(
            opened.until,
            Some(clock.now() + Duration::seconds(expected))
        );
        cool_off = expected;
    }
    // A failure of a request that was not the probe changes nothing.
    clock.advance(Duration::seconds(100));
    assert_eq!(admit(&mut c, &clock), Admission::Probe);
    assert_eq!(c.record(false, &FAILED, clock.now()), None);
    assert_eq!(c.state(clock.now()), CircuitState::HalfOpen);
}

#[test]
fn a_rejection_opens_it_at_once_and_a_retry_hint_lengthens_it() {
    let clock = ManualClock::new(t0());
    let mut c = circuit();
    assert_eq!(
        c.record(false, &rejected(), clock.now()),
        Some(CircuitState::Open)
    );
    assert!(matches!(
        c.peek(clock.now(), probe_wait()),
        Some(Wait {
            rejected: Some(_),
            ..
        })
    ));

    let mut c = circuit();
    let hint = Some(std::time::Duration::from_secs(90));
    for _ in 0..3 {
        c.record(false, &Verdict::Failed { retry_after: hint }, clock.now());
    }
    assert_eq!(
        c.opened().and_then(|o| o.until),
        Some(clock.now() + Duration::seconds(90))
    );
    // A rejection that arrives while open for failures marks it as credentials.
    assert_eq!(c.record(false, &rejected(), clock.now()), None);
    assert!(matches!(
        c.opened().map(|o| o.cause),
        Some(Cause::Credentials(_))
    ));
}

#[test]
fn zero_failures_never_opens_for_failures() {
    let clock = ManualClock::new(t0());
    let mut c = Circuit::new(BreakerConfig::default().with_failures(0));
    for _ in 0..100 {
        assert_eq!(c.record(false, &FAILED, clock.now()), None);
    }
    assert_eq!(admit(&mut c, &clock), Admission::Go);
    assert_eq!(
        c.record(false, &rejected(), clock.now()),
        Some(CircuitState::Open)
    );
}
