//! The engine's deliverer against a fake destination (in memory) on a real sled store:
//! fan-out, order per container under concurrency and failures, the retry schedule
//! under a manual clock and a seeded jitter, Retry-After, burial and replay, and the
//! claim-ahead buffer.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use boxtrace::testing::container;
use boxtrace::{
    ActiveDestination, Clock, Delivery, DeliveryConfig, DeliveryHandle, DestinationId,
    Destinations, DestinationsError, OutboxEntry, ResultEvent, Status, RESULTS_QUEUE,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::support::{eventually, export, harness, Harness};

/// What the fake destination answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Accept,
    /// Fails each event's first attempt, then accepts it.
    FailFirst,
    /// Always fails, asking for this wait if any.
    Fail(Option<Duration>),
    /// Answers "not attempted" to each event's first call, then accepts it.
    SkipFirst,
    /// Never answers each event's first call (a destination that ignores the timeout),
    /// then accepts it.
    HangFirst,
}

/// Destinations in memory: every event goes to each of `ids`.
#[derive(Debug)]
struct Fake {
    ids: Vec<DestinationId>,
    concurrency: usize,
    answer: Mutex<Answer>,
    /// Deliveries wait here while closed.
    open: AtomicBool,
    opened: Notify,
    /// Every attempt: (destination, event id, container, accepted).
    attempts: Mutex<Vec<(DestinationId, String, String, bool)>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Per destination and container, the event ids in outbox order (the order they must
    /// arrive in), and the ones accepted so far.
    expected: Mutex<HashMap<String, Vec<String>>>,
    accepted: Mutex<HashMap<(DestinationId, String), Vec<String>>>,
    /// Broken rules, with what was seen.
    violations: Mutex<Vec<String>>,
    /// Events answered "not attempted" once ([`Answer::SkipFirst`]), and the attempts
    /// count each accepted entry carried.
    skipped: Mutex<HashSet<String>>,
    accepted_attempts: Mutex<Vec<u32>>,
    /// Each call's lease, as it started.
    leases: Mutex<Vec<Option<chrono::DateTime<chrono::Utc>>>>,
}

impl Fake {
    fn new(ids: &[&str], concurrency: usize, answer: Answer) -> Arc<Self> {
        Arc::new(Self {
            ids: ids.iter().map(|id| DestinationId::new(*id)).collect(),
            concurrency,
            answer: Mutex::new(answer),
            open: AtomicBool::new(true),
            opened: Notify::new(),
            attempts: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            expected: Mutex::new(HashMap::new()),
            accepted: Mutex::new(HashMap::new()),
            violations: Mutex::new(Vec::new()),
            skipped: Mutex::new(HashSet::new()),
            accepted_attempts: Mutex::new(Vec::new()),
            leases: Mutex::new(Vec::new()),
        })
    }

    fn attempts_of(&self, to: &str) -> Vec<(String, bool)> {
        self.attempts
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.0.as_str() == to)
            .map(|a| (a.1.clone(), a.3))
            .collect()
    }

    fn delivered_to(&self, to: &str) -> Vec<String> {
        self.attempts_of(to)
            .into_iter()
            .filter(|a| a.1)
            .map(|a| a.0)
            .collect()
    }
}

#[async_trait]
impl Destinations for Fake {
    async fn route(
        &self,
        events: &[&ResultEvent],
    ) -> Result<Vec<Vec<DestinationId>>, DestinationsError> {
        Ok(events.iter().map(|_| self.ids.clone()).collect())
    }

    async fn active(&self) -> Result<Vec<ActiveDestination>, DestinationsError> {
        Ok(self
            .ids
            .iter()
            .map(|id| ActiveDestination {
                id: id.clone(),
                concurrency: Some(self.concurrency),
            })
            .collect())
    }

    async fn deliver(&self, to: &DestinationId, entry: &OutboxEntry) -> Delivery {
        let box_ = entry.event.payload.container_number.clone();
        let id = entry.event.id.clone();
        self.leases
            .lock()
            .unwrap()
            .push(entry.lease.map(|l| l.until));
        // A delivery starts only once every earlier event of its container has arrived.
        let expected = self.expected.lock().unwrap().get(&box_).cloned();
        if let Some(expected) = expected {
            let accepted = self
                .accepted
                .lock()
                .unwrap()
                .get(&(to.clone(), box_.clone()))
                .cloned()
                .unwrap_or_default();
            let at = expected.iter().position(|e| *e == id);
            if at != Some(accepted.len()) || expected.get(..accepted.len()) != Some(&accepted[..]) {
                self.violations.lock().unwrap().push(format!(
                    "{to}: {id} of {box_} attempted after {accepted:?}; order {expected:?}"
                ));
            }
        }
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        while !self.open.load(Ordering::SeqCst) {
            let opened = self.opened.notified();
            if self.open.load(Ordering::SeqCst) {
                break;
            }
            opened.await;
        }
        tokio::task::yield_now().await;
        let answer = *self.answer.lock().unwrap();
        let delivery = match answer {
            Answer::Accept => Delivery::Delivered,
            Answer::FailFirst if entry.attempts == 0 => Delivery::Failed {
                reason: "first attempts fail".into(),
                retry_after: None,
            },
            Answer::FailFirst => Delivery::Delivered,
            Answer::Fail(retry_after) => Delivery::Failed {
                reason: "the endpoint answered 503".into(),
                retry_after,
            },
            Answer::SkipFirst if self.skipped.lock().unwrap().insert(id.clone()) => {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                return Delivery::NotAttempted;
            }
            Answer::SkipFirst => Delivery::Delivered,
            Answer::HangFirst if self.skipped.lock().unwrap().insert(id.clone()) => {
                std::future::pending::<()>().await;
                unreachable!("a pending future never resolves")
            }
            Answer::HangFirst => Delivery::Delivered,
        };
        let ok = delivery == Delivery::Delivered;
        if ok {
            self.accepted_attempts.lock().unwrap().push(entry.attempts);
            self.accepted
                .lock()
                .unwrap()
                .entry((to.clone(), box_.clone()))
                .or_default()
                .push(id.clone());
        }
        self.attempts
            .lock()
            .unwrap()
            .push((to.clone(), id, box_, ok));
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        delivery
    }
}

fn config(concurrency: usize) -> DeliveryConfig {
    DeliveryConfig {
        concurrency,
        poll_interval: Duration::from_millis(20),
        seed: Some(11),
        ..DeliveryConfig::default()
    }
}

/// Publishes `n` boxes and traces each once: one result event each.
async fn results(h: &Harness, n: u32) {
    for i in 0..n {
        h.engine
            .handle_event(&export(&container(i).to_string()))
            .await
            .unwrap();
    }
    assert_eq!(h.engine.run_due().await.unwrap(), n as usize);
}

/// Starts `handle`; the token stops it.
fn start(handle: &DeliveryHandle) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let stop = CancellationToken::new();
    let task = tokio::spawn(handle.clone().run(stop.clone()));
    (stop, task)
}

/// Waits (up to 20 s) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    eventually(Duration::from_secs(20), what, || {
        std::future::ready(done().then_some(()))
    })
    .await
}

/// Waits (up to 20 s) until the entries of `to` satisfy `done`; returns them.
async fn entries_until(
    handle: &DeliveryHandle,
    to: &str,
    what: &str,
    done: impl Fn(&[OutboxEntry]) -> bool,
) -> Vec<OutboxEntry> {
    let (to, done) = (&DestinationId::new(to), &done);
    eventually(Duration::from_secs(20), what, move || async move {
        let entries = handle.entries(to, 1_000).await.unwrap();
        done(&entries).then_some(entries)
    })
    .await
}

#[tokio::test]
async fn every_event_reaches_both_destinations_once() {
    let h = harness();
    results(&h, 5).await;
    let fake = Fake::new(&["dest:a", "dest:b"], 4, Answer::Accept);
    let handle = h.engine.deliver_to(fake.clone(), config(4)).unwrap();
    let (stop, task) = start(&handle);
    until("five events at each destination", || {
        fake.delivered_to("dest:a").len() == 5 && fake.delivered_to("dest:b").len() == 5
    })
    .await;
    stop.cancel();
    task.await.unwrap();
    for to in ["dest:a", "dest:b"] {
        let ids: HashSet<String> = fake.delivered_to(to).into_iter().collect();
        assert_eq!(ids.len(), 5, "{to}: five distinct events");
        assert_eq!(fake.attempts_of(to).len(), 5, "{to}: each once");
        let stats = handle.stats(&DestinationId::new(to)).await.unwrap();
        assert_eq!((stats.pending, stats.dead), (0, 0), "{to}: all settled");
    }
    let results = handle.results_stats().await.unwrap();
    assert_eq!(results.pending, 0, "the results queue is fanned out");
}

#[tokio::test]
async fn a_containers_events_arrive_in_order_under_concurrency_and_failures() {
    let h = harness();
    let boxes: Vec<String> = (0..6).map(|i| container(i).to_string()).collect();
    for b in &boxes {
        for status in [
            Status::Expected,
            Status::GatedIn,
            Status::OnHold,
            Status::GatedIn,
            Status::OnHold,
        ] {
            h.tracer.push_status(b, status);
        }
        h.engine.handle_event(&export(b)).await.unwrap();
    }
    h.engine.run_due().await.unwrap();
    for _ in 0..4 {
        h.clock.advance(chrono::Duration::days(2));
        h.engine.run_due().await.unwrap();
    }
    // The order each container's events must arrive in: the outbox's.
    let queued = h
        .engine
        .outbox()
        .unwrap()
        .outbox_entries(RESULTS_QUEUE, 1_000)
        .await
        .unwrap();
    let mut expected: HashMap<String, Vec<String>> = HashMap::new();
    for e in &queued {
        expected
            .entry(e.event.payload.container_number.clone())
            .or_default()
            .push(e.event.id.clone());
    }
    assert!(
        expected.values().all(|ids| ids.len() >= 3),
        "several events per container: {expected:?}"
    );
    let fake = Fake::new(&["dest:a"], 4, Answer::FailFirst);
    *fake.expected.lock().unwrap() = expected;
    let handle = h
        .engine
        .deliver_to(
            fake.clone(),
            DeliveryConfig {
                // Retries come back at once: the clock stands still.
                retry_schedule: vec![Duration::ZERO; 3],
                ..config(4)
            },
        )
        .unwrap();
    let (stop, task) = start(&handle);
    until("every event delivered", || {
        fake.delivered_to("dest:a").len() == queued.len()
    })
    .await;
    stop.cancel();
    task.await.unwrap();
    let violations = fake.violations.lock().unwrap().clone();
    assert!(violations.is_empty(), "out of order: {violations:#?}");
    assert_eq!(
        fake.attempts_of("dest:a").len(),
        2 * queued.len(),
        "each event failed once, then arrived once"
    );
    assert!(fake.max_in_flight.load(Ordering::SeqCst) <= 4);
}

#[tokio::test]
async fn failures_follow_the_jittered_schedule_then_bury_and_a_replay_delivers() {
    let h = harness();
    results(&h, 1).await;
    let fake = Fake::new(&["dest:a"], 1, Answer::Fail(None));
    let s = Duration::from_secs;
    let handle = h
        .engine
        .deliver_to(
            fake.clone(),
            DeliveryConfig {
                retry_schedule: vec![s(100), s(1_000)],
                jitter: 0.5,
                ..config(1)
            },
        )
        .unwrap();
    let (stop, task) = start(&handle);
    let first = entries_until(&handle, "dest:a", "the first failure", |e| {
        e.len() == 1 && e[0].attempts == 1
    })
    .await;
    let now = h.clock.now();
    let wait = first[0].available_at - now;
    assert!(
        wait >= chrono::Duration::seconds(50) && wait <= chrono::Duration::seconds(100),
        "the first step, 100 s less up to half: {wait}"
    );
    assert_eq!(
        first[0].last_error.as_deref(),
        Some("the endpoint answered 503")
    );
    h.clock.set(first[0].available_at);
    let second = entries_until(&handle, "dest:a", "the second failure", |e| {
        e.len() == 1 && e[0].attempts == 2
    })
    .await;
    let wait = second[0].available_at - first[0].available_at;
    assert!(
        wait >= chrono::Duration::seconds(500) && wait <= chrono::Duration::seconds(1_000),
        "the second step: {wait}"
    );
    h.clock.set(second[0].available_at);
    let dead = entries_until(&handle, "dest:a", "the burial", |e| {
        e.len() == 1 && e[0].dead
    })
    .await;
    assert_eq!(
        fake.attempts_of("dest:a").len(),
        3,
        "the schedule's two retries"
    );
    assert_eq!(dead[0].attempts, 2);
    let stats = handle.stats(&DestinationId::new("dest:a")).await.unwrap();
    assert_eq!((stats.pending, stats.dead), (0, 1));

    *fake.answer.lock().unwrap() = Answer::Accept;
    assert_eq!(
        handle.replay(&DestinationId::new("dest:a")).await.unwrap(),
        1
    );
    until("the replayed event delivered", || {
        fake.delivered_to("dest:a").len() == 1
    })
    .await;
    entries_until(&handle, "dest:a", "the queue emptied", |e| e.is_empty()).await;
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn a_destinations_retry_after_is_respected_up_to_the_longest_step() {
    let h = harness();
    results(&h, 1).await;
    let s = Duration::from_secs;
    let fake = Fake::new(&["dest:a"], 1, Answer::Fail(Some(s(40))));
    let handle = h
        .engine
        .deliver_to(
            fake.clone(),
            DeliveryConfig {
                retry_schedule: vec![s(10), s(60), s(60)],
                ..config(1)
            },
        )
        .unwrap();
    let (stop, task) = start(&handle);
    let first = entries_until(&handle, "dest:a", "the first failure", |e| {
        e.len() == 1 && e[0].attempts == 1
    })
    .await;
    assert_eq!(
        first[0].available_at,
        h.clock.now() + chrono::Duration::seconds(40),
        "the destination asked for 40 s, more than the step of 10 s"
    );
    *fake.answer.lock().unwrap() = Answer::Fail(Some(s(86_400)));
    h.clock.set(first[0].available_at);
    let second = entries_until(&handle, "dest:a", "the second failure", |e| {
        e.len() == 1 && e[0].attempts == 2
    })
    .await;
    assert_eq!(
        second[0].available_at,
        first[0].available_at + chrono::Duration::seconds(60),
        "a day asked, capped at the longest step"
    );
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn entries_claimed_ahead_are_each_delivered_once() {
    let h = harness();
    results(&h, 40).await;
    let fake = Fake::new(&["dest:a"], 2, Answer::Accept);
    fake.open.store(false, Ordering::SeqCst);
    let handle = h
        .engine
        .deliver_to(
            fake.clone(),
            DeliveryConfig {
                claim_ahead: Some(8),
                ..config(2)
            },
        )
        .unwrap();
    let (stop, task) = start(&handle);
    // Two in flight (held by the closed destination), eight more leased in the buffer.
    let held = entries_until(&handle, "dest:a", "ten entries leased", |e| {
        e.iter().filter(|e| e.lease.is_some()).count() == 10
    })
    .await;
    assert_eq!(held.len(), 40, "every event fanned out");
    until("two deliveries in flight", || {
        fake.in_flight.load(Ordering::SeqCst) == 2
    })
    .await;
    fake.open.store(true, Ordering::SeqCst);
    fake.opened.notify_waiters();
    until("forty deliveries", || {
        fake.delivered_to("dest:a").len() >= 40
    })
    .await;
    entries_until(&handle, "dest:a", "the queue emptied", |e| e.is_empty()).await;
    stop.cancel();
    task.await.unwrap();
    let attempts = fake.attempts_of("dest:a");
    let distinct: HashSet<&String> = attempts.iter().map(|a| &a.0).collect();
    assert_eq!(attempts.len(), 40, "no event delivered twice");
    assert_eq!(distinct.len(), 40);
    assert_eq!(
        fake.max_in_flight.load(Ordering::SeqCst),
        2,
        "never more than the concurrency in flight"
    );
}

#[tokio::test]
async fn an_entry_not_attempted_goes_back_untried() {
    let h = harness();
    results(&h, 5).await;
    let fake = Fake::new(&["dest:a"], 2, Answer::SkipFirst);
    let handle = h.engine.deliver_to(fake.clone(), config(2)).unwrap();
    let (stop, task) = start(&handle);
    until("five events delivered after being handed back once", || {
        fake.delivered_to("dest:a").len() == 5
    })
    .await;
    stop.cancel();
    task.await.unwrap();
    assert_eq!(
        fake.skipped.lock().unwrap().len(),
        5,
        "each was handed back once"
    );
    assert_eq!(
        *fake.accepted_attempts.lock().unwrap(),
        vec![0; 5],
        "a delivery that was not attempted counts no attempt"
    );
}

#[tokio::test]
async fn a_delivery_past_the_timeout_is_failed_by_the_engine() {
    let h = harness();
    results(&h, 3).await;
    let fake = Fake::new(&["dest:a"], 4, Answer::HangFirst);
    let mut config = config(4);
    config.timeout = Duration::from_millis(100);
    config.retry_schedule = vec![Duration::from_millis(10)];
    config.jitter = 0.0;
    let handle = h.engine.deliver_to(fake.clone(), config).unwrap();
    let (stop, task) = start(&handle);
    // The retry is due 10 ms later on the engine's (manual) clock: move it on.
    let clock = h.clock.clone();
    until("three events delivered after their first call hung", || {
        clock.advance(chrono::Duration::milliseconds(20));
        fake.delivered_to("dest:a").len() == 3
    })
    .await;
    stop.cancel();
    task.await.unwrap();
    assert_eq!(
        *fake.accepted_attempts.lock().unwrap(),
        vec![1; 3],
        "the hung call counted as one failed attempt"
    );
}

/// [`Fake`], except that its first call of each method panics.
#[derive(Debug)]
struct Panicky {
    inner: Arc<Fake>,
    route_panicked: AtomicBool,
    active_panicked: AtomicBool,
    deliver_panicked: AtomicBool,
}

#[async_trait]
impl Destinations for Panicky {
    async fn route(
        &self,
        events: &[&ResultEvent],
    ) -> Result<Vec<Vec<DestinationId>>, DestinationsError> {
        if !self.route_panicked.swap(true, Ordering::SeqCst) {
            panic!("a bug in the adapter's routing");
        }
        self.inner.route(events).await
    }

    async fn active(&self) -> Result<Vec<ActiveDestination>, DestinationsError> {
        if !self.active_panicked.swap(true, Ordering::SeqCst) {
            panic!("a bug in the adapter's listing");
        }
        self.inner.active().await
    }

    async fn deliver(&self, to: &DestinationId, entry: &OutboxEntry) -> Delivery {
        if !self.deliver_panicked.swap(true, Ordering::SeqCst) {
            panic!("a bug in the adapter's delivery");
        }
        self.inner.deliver(to, entry).await
    }
}

#[tokio::test]
async fn delivery_goes_on_after_the_destinations_panic() {
    let h = harness();
    results(&h, 3).await;
    let fake = Fake::new(&["dest:a"], 2, Answer::Accept);
    let panicky = Arc::new(Panicky {
        inner: fake.clone(),
        route_panicked: AtomicBool::new(false),
        active_panicked: AtomicBool::new(false),
        deliver_panicked: AtomicBool::new(false),
    });
    let handle = h.engine.deliver_to(panicky.clone(), config(2)).unwrap();
    let (stop, task) = start(&handle);
    // What the panics held (a fanned-out batch, a delivery's entry) comes back when its
    // lease lapses on the engine's (manual) clock: move it on.
    let clock = h.clock.clone();
    until(
        "three events delivered after a panic in route and one in deliver",
        || {
            clock.advance(chrono::Duration::seconds(1));
            fake.delivered_to("dest:a").len() == 3
        },
    )
    .await;
    stop.cancel();
    task.await.unwrap();
    assert!(panicky.route_panicked.load(Ordering::SeqCst));
    assert!(panicky.active_panicked.load(Ordering::SeqCst));
    assert!(panicky.deliver_panicked.load(Ordering::SeqCst));
    assert_eq!(fake.attempts_of("dest:a").len(), 3, "each delivered once");
}

#[tokio::test]
async fn a_configuration_that_cannot_run_is_refused_and_a_huge_timeout_saturates() {
    let h = harness();
    let fake = Fake::new(&["dest:a"], 1, Answer::Accept);
    for (what, config) in [
        (
            "a zero poll interval busy-loops",
            DeliveryConfig {
                poll_interval: Duration::ZERO,
                ..config(1)
            },
        ),
        (
            "a zero timeout fails every delivery",
            DeliveryConfig {
                timeout: Duration::ZERO,
                ..config(1)
            },
        ),
    ] {
        match h.engine.deliver_to(fake.clone(), config) {
            Err(boxtrace::Error::Config(why)) => assert!(!why.is_empty()),
            other => panic!("{what}: {other:?}"),
        }
    }

    // Leases, the delivery bound and the shutdown grace are sized from the timeout: none
    // of them may overflow.
    results(&h, 2).await;
    let handle = h
        .engine
        .deliver_to(
            fake.clone(),
            DeliveryConfig {
                timeout: Duration::MAX,
                ..config(1)
            },
        )
        .unwrap();
    let (stop, task) = start(&handle);
    until("two events delivered under the longest timeout", || {
        fake.delivered_to("dest:a").len() == 2
    })
    .await;
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn an_entry_claimed_ahead_starts_only_with_its_bound_and_a_settle_left_of_its_lease() {
    let h = harness();
    results(&h, 10).await;
    let fake = Fake::new(&["dest:a"], 1, Answer::Accept);
    fake.open.store(false, Ordering::SeqCst);
    // Timeout 10 s: leases of 25 s, and a delivery needs 10 + 1 + 2 s of one left.
    let handle = h
        .engine
        .deliver_to(
            fake.clone(),
            DeliveryConfig {
                claim_ahead: Some(4),
                ..config(1)
            },
        )
        .unwrap();
    let (stop, task) = start(&handle);
    entries_until(
        &handle,
        "dest:a",
        "one in flight and four claimed ahead",
        |e| e.iter().filter(|e| e.lease.is_some()).count() == 5,
    )
    .await;
    until("one delivery in flight", || {
        fake.in_flight.load(Ordering::SeqCst) == 1
    })
    .await;
    // 11.5 s of the buffered leases left: more than the timeout, less than the bound
    // and the settle allowance.
    h.clock.advance(chrono::Duration::milliseconds(13_500));
    let now = h.clock.now();
    fake.open.store(true, Ordering::SeqCst);
    fake.opened.notify_waiters();
    until("ten deliveries", || fake.delivered_to("dest:a").len() == 10).await;
    stop.cancel();
    task.await.unwrap();
    let leases = fake.leases.lock().unwrap().clone();
    assert_eq!(leases.len(), 10, "each once");
    // The first started before the clock moved; the rest after it.
    for until in &leases[1..] {
        let left = until.expect("a delivered entry is leased") - now;
        assert!(
            left >= chrono::Duration::seconds(13),
            "a delivery started with {left} of its lease left"
        );
    }
}

/// Destinations whose `active` never answers (a store that hangs).
#[derive(Debug, Default)]
struct Hung {
    asked: AtomicUsize,
}

#[async_trait]
impl Destinations for Hung {
    async fn route(
        &self,
        events: &[&ResultEvent],
    ) -> Result<Vec<Vec<DestinationId>>, DestinationsError> {
        Ok(events.iter().map(|_| Vec::new()).collect())
    }

    async fn active(&self) -> Result<Vec<ActiveDestination>, DestinationsError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }

    async fn deliver(&self, _: &DestinationId, _: &OutboxEntry) -> Delivery {
        Delivery::NotAttempted
    }
}

#[tokio::test]
async fn a_shutdown_does_not_wait_for_destinations_that_do_not_answer() {
    let h = harness();
    let hung = Arc::new(Hung::default());
    let handle = h.engine.deliver_to(hung.clone(), config(1)).unwrap();
    let (stop, task) = start(&handle);
    until("the destinations asked", || {
        hung.asked.load(Ordering::SeqCst) > 0
    })
    .await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the deliverer stopped although the destinations never answered")
        .unwrap();
}
