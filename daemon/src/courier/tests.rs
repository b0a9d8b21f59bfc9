//! The courier against a scripted SPID server that stores what it accepts, so each test can
//! count how many copies of a transaction the server ended up with.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use state_machine::{Cpf, DeliveryOutcome, Mode};

use super::*;
use crate::outbox::tests::{test_key, Scratch};
use crate::outbox::NewTransaction;
use crate::upstream::testserver::{self, json, login_ok, start, text, TestServer};
use crate::upstream::wire::{Biometric, UserTransaction, UserTransactionRequest};

const CPF: &str = "52998224725";

/// How the fake answers `POST /people`, switchable mid-test.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Post {
    Accept,
    /// 503 without storing.
    Fail,
    /// Stores the transaction, then answers after the client has given up.
    StoreThenStall,
    /// Answers late without storing.
    Stall,
    Reject,
    /// 409 (it already holds it, or some other conflict).
    Conflict,
}

#[derive(Default)]
struct Fake {
    post: Mutex<Option<Post>>,
    /// (userId, timestamp, tguid) of every stored transaction.
    stored: Mutex<Vec<(String, u64, String)>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Delay of each accepted POST, to make concurrency observable.
    delay_ms: AtomicUsize,
    /// When set, result queries fail with 503.
    results_down: Mutex<bool>,
}

impl Fake {
    fn set(&self, p: Post) {
        *self.post.lock().unwrap() = Some(p);
    }

    fn stored(&self) -> Vec<(String, u64, String)> {
        self.stored.lock().unwrap().clone()
    }

    fn store(&self, body: &serde_json::Value) -> String {
        let mut stored = self.stored.lock().unwrap();
        let tguid = format!("tg-{}", stored.len() + 1);
        let user = body["data"]["userId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        stored.push((
            user,
            body["data"]["timestamp"].as_u64().unwrap_or_default(),
            tguid.clone(),
        ));
        tguid
    }
}

async fn fake_server(fake: Arc<Fake>) -> TestServer {
    start(move |s| {
        let fake = fake.clone();
        async move {
            let body = s.json();
            match (s.method.as_str(), s.path.as_str()) {
                ("POST", "/auth/login") => login_ok(),
                ("POST", "/people") => {
                    let now = fake.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    fake.max_in_flight.fetch_max(now, Ordering::SeqCst);
                    let delay = fake.delay_ms.load(Ordering::SeqCst) as u64;
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    let mode = fake.post.lock().unwrap().unwrap_or(Post::Accept);
                    let answer = match mode {
                        Post::Accept => {
                            let tguid = fake.store(&body);
                            json(201, json!({"id": tguid, "status": "ENROLL_ENQUEUED", "message": "queued"}))
                        }
                        Post::Fail => json(503, json!({"type": "INTERNAL_ERROR", "errors": ["busy"]})),
                        Post::StoreThenStall | Post::Stall => {
                            if mode == Post::StoreThenStall {
                                fake.store(&body);
                            }
                            tokio::time::sleep(Duration::from_secs(3)).await;
                            text(500, "too late")
                        }
                        Post::Reject => json(422, json!({"type": "VALIDATION_ERROR", "errors": [{"message": "bad image"}]})),
                        Post::Conflict => json(409, json!({"type": "PROCESSING_ERROR", "errors": ["duplicate"]})),
                    };
                    fake.in_flight.fetch_sub(1, Ordering::SeqCst);
                    answer
                }
                ("GET", p) if p.starts_with("/transaction/people/") => {
                    let cpf = p.rsplit('/').next().unwrap_or_default().to_string();
                    let list: Vec<serde_json::Value> = fake
                        .stored()
                        .into_iter()
                        .filter(|(u, _, _)| *u == cpf)
                        .map(|(u, ts, id)| json!({"id": id, "userId": u, "timestamp": ts, "type": "ENROLL", "status": "ENROLL_ENQUEUED"}))
                        .collect();
                    if list.is_empty() {
                        text(404, "")
                    } else {
                        json(200, json!(list))
                    }
                }
                ("GET", p) if p.starts_with("/people/transactions/") => {
                    if *fake.results_down.lock().unwrap() {
                        text(503, "down")
                    } else {
                        json(200, json!({"id": p.rsplit('/').next(), "status": "ENROLL_DONE", "message": "enrolled"}))
                    }
                }
                _ => text(404, ""),
            }
        }
    })
    .await
}

struct Rig {
    _dir: Scratch,
    fake: Arc<Fake>,
    server: TestServer,
    courier: Courier,
}

async fn rig(name: &str, concurrency: usize) -> Rig {
    let dir = Scratch::new(name);
    let fake = Arc::new(Fake::default());
    let server = fake_server(fake.clone()).await;
    let upstream =
        UpstreamClient::new(&testserver::settings(&server.url), Some("pw".into())).unwrap();
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let policy = RetryPolicy {
        initial: Duration::from_millis(40),
        max: Duration::from_millis(200),
        concurrency,
    };
    Rig {
        _dir: dir,
        fake,
        server,
        courier: Courier::new(outbox, Arc::new(upstream), policy),
    }
}

impl Rig {
    fn enqueue(&self, timestamp: u64) -> String {
        let body = UserTransactionRequest {
            data: UserTransaction {
                biometrics: vec![Biometric {
                    index: 2,
                    content: "AAAA".into(),
                    width: 8,
                    height: 8,
                    resolution: 500,
                }],
                missing_biometrics: vec![],
                user_id: CPF.into(),
                operator_id: "11144477735".into(),
                timestamp,
            },
        };
        self.courier
            .outbox()
            .enqueue(NewTransaction {
                mode: Mode::Enroll,
                cpf: Cpf::parse(CPF).unwrap(),
                operator: Cpf::parse("11144477735").unwrap(),
                timestamp,
                payload: serde_json::to_vec(&body).unwrap(),
                summary: json!({}),
            })
            .unwrap()
    }

    fn state(&self, id: &str) -> StoredTransaction {
        self.courier.outbox().get(id).unwrap().unwrap()
    }

    fn posts(&self) -> usize {
        self.server.count("POST", "/people")
    }
}

#[test]
fn backoff_doubles_to_the_cap_with_bounded_jitter() {
    let p = RetryPolicy {
        initial: Duration::from_secs(30),
        max: Duration::from_secs(3600),
        concurrency: 4,
    };
    let secs: Vec<u64> = (1..=9).map(|n| p.backoff_with(n, 1.0).as_secs()).collect();
    assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    assert_eq!(p.backoff_with(1, 0.8), Duration::from_secs(24));
    assert_eq!(p.backoff_with(1, 1.2), Duration::from_secs(36));
    assert_eq!(
        p.backoff_with(1, 5.0),
        Duration::from_secs(36),
        "jitter is clamped to ±20%"
    );
    assert_eq!(p.backoff_with(u32::MAX, 1.0), Duration::from_secs(3600));
    for n in 1..20 {
        let d = p.backoff(n);
        let base = p.backoff_with(n, 1.0);
        assert!(
            d >= base.mul_f64(0.8) && d <= base.mul_f64(1.2),
            "{n}: {d:?}"
        );
    }
}

#[tokio::test]
async fn a_transaction_is_delivered_and_its_id_recorded() {
    let r = rig("courier-ok", 2).await;
    let id = r.enqueue(1_000);
    let outcome = r.courier.deliver(&id).await.unwrap();
    assert_eq!(
        outcome,
        DeliveryOutcome::Accepted {
            tguid: "tg-1".into()
        }
    );
    let t = r.state(&id);
    assert_eq!(
        (t.state, t.tguid.as_deref(), t.result_status.as_deref()),
        (TxState::Delivered, Some("tg-1"), Some("ENROLL_ENQUEUED"))
    );
    assert_eq!(
        r.fake.stored(),
        vec![(CPF.to_string(), 1_000, "tg-1".to_string())]
    );
    // Delivering again answers from the outbox.
    assert_eq!(r.courier.deliver(&id).await.unwrap(), outcome);
    assert_eq!(r.posts(), 1);
    assert!(matches!(
        r.courier.deliver("absent").await,
        Err(CourierError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_5xx_leaves_it_pending_with_backoff_then_it_goes_through() {
    let r = rig("courier-5xx", 2).await;
    let id = r.enqueue(1);
    r.fake.set(Post::Fail);
    let before = now_millis();
    let outcome = r.courier.deliver(&id).await.unwrap();
    assert!(
        matches!(outcome, DeliveryOutcome::Pending { ref reason } if reason.contains("503")),
        "{outcome:?}"
    );
    let t = r.state(&id);
    assert_eq!((t.state, t.attempts), (TxState::Pending, 1));
    assert!(
        t.next_attempt_at >= before + 32 && t.next_attempt_at <= now_millis() + 48,
        "{}",
        t.next_attempt_at - before
    );
    r.fake.set(Post::Accept);
    assert!(matches!(
        r.courier.deliver(&id).await.unwrap(),
        DeliveryOutcome::Accepted { .. }
    ));
    assert_eq!(r.state(&id).attempts, 2);
    assert_eq!(r.fake.stored().len(), 1);
    let outcomes: Vec<String> = r
        .courier
        .outbox()
        .attempts(&id)
        .unwrap()
        .into_iter()
        .map(|a| a.outcome)
        .collect();
    assert_eq!(outcomes, ["PENDING", "DELIVERED"]);
}

#[tokio::test]
async fn an_ambiguous_send_is_found_upstream_and_not_resent() {
    let r = rig("courier-ambiguous", 2).await;
    let id = r.enqueue(77);
    r.fake.set(Post::StoreThenStall);
    let outcome = r.courier.deliver(&id).await.unwrap();
    assert!(
        matches!(outcome, DeliveryOutcome::Pending { .. }),
        "{outcome:?}"
    );
    assert_eq!(r.state(&id).state, TxState::Ambiguous);
    r.fake.set(Post::Accept);
    let outcome = r.courier.deliver(&id).await.unwrap();
    assert_eq!(
        outcome,
        DeliveryOutcome::Accepted {
            tguid: "tg-1".into()
        }
    );
    assert_eq!(r.posts(), 1, "no second POST");
    assert_eq!(r.fake.stored().len(), 1, "exactly one stored upstream");
    let outcomes: Vec<String> = r
        .courier
        .outbox()
        .attempts(&id)
        .unwrap()
        .into_iter()
        .map(|a| a.outcome)
        .collect();
    assert_eq!(outcomes, ["AMBIGUOUS", "DEDUPLICATED"]);
}

#[tokio::test]
async fn an_ambiguous_send_the_server_never_got_is_resent_once() {
    let r = rig("courier-lost", 2).await;
    let id = r.enqueue(78);
    r.fake.set(Post::Stall);
    r.courier.deliver(&id).await.unwrap();
    assert_eq!(r.state(&id).state, TxState::Ambiguous);
    r.fake.set(Post::Accept);
    assert!(matches!(
        r.courier.deliver(&id).await.unwrap(),
        DeliveryOutcome::Accepted { .. }
    ));
    assert_eq!(r.posts(), 2);
    assert_eq!(r.fake.stored().len(), 1);
    assert!(
        r.server.count("GET", &format!("/transaction/people/{CPF}")) >= 1,
        "checked before resending"
    );
}

#[tokio::test]
async fn a_4xx_rejects_it_for_good() {
    let r = rig("courier-4xx", 2).await;
    let id = r.enqueue(5);
    r.fake.set(Post::Reject);
    let outcome = r.courier.deliver(&id).await.unwrap();
    assert!(
        matches!(outcome, DeliveryOutcome::Rejected { ref reason } if reason.contains("bad image")),
        "{outcome:?}"
    );
    assert_eq!(r.state(&id).state, TxState::Rejected);
    r.fake.set(Post::Accept);
    assert!(matches!(
        r.courier.deliver(&id).await.unwrap(),
        DeliveryOutcome::Rejected { .. }
    ));
    assert_eq!(
        r.courier.resend_all().await.unwrap().attempted,
        0,
        "rejected rows are not resent"
    );
    assert_eq!(r.posts(), 1);
}

#[tokio::test]
async fn a_conflict_for_a_held_transaction_counts_as_delivered() {
    let r = rig("courier-409", 2).await;
    let id = r.enqueue(9);
    // The server holds it already (an earlier attempt whose answer was lost) and says 409.
    r.fake
        .store(&json!({"data": {"userId": CPF, "timestamp": 9}}));
    r.fake.set(Post::Conflict);
    assert_eq!(
        r.courier.deliver(&id).await.unwrap(),
        DeliveryOutcome::Accepted {
            tguid: "tg-1".into()
        }
    );
    // A conflict about something else is a rejection.
    let other = r.enqueue(10);
    assert!(matches!(
        r.courier.deliver(&other).await.unwrap(),
        DeliveryOutcome::Rejected { .. }
    ));
}

#[tokio::test]
async fn two_deliveries_of_one_id_send_once() {
    let r = rig("courier-lock", 4).await;
    r.fake.delay_ms.store(80, Ordering::SeqCst);
    let id = r.enqueue(3);
    let (a, b) = tokio::join!(r.courier.deliver(&id), r.courier.deliver(&id));
    assert_eq!(a.unwrap(), b.unwrap());
    assert_eq!(r.posts(), 1);
}

#[tokio::test]
async fn resend_all_is_bounded_and_single_flight() {
    let r = rig("courier-resend", 3).await;
    r.fake.delay_ms.store(30, Ordering::SeqCst);
    // More than one page of ids.
    let ids: Vec<String> = (0..70).map(|i| r.enqueue(10_000 + i)).collect();
    let (a, b) = tokio::join!(r.courier.resend_all(), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        r.courier.resend_all().await
    });
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b, "the second caller gets the first run's summary");
    assert_eq!(
        a,
        ResendSummary {
            attempted: 70,
            delivered: 70,
            failed: 0,
            remaining: 0
        }
    );
    assert_eq!(r.posts(), 70, "one run, one POST per transaction");
    let max = r.fake.max_in_flight.load(Ordering::SeqCst);
    assert!((2..=3).contains(&max), "max in flight {max}");
    assert!(ids.iter().all(|id| r.state(id).state == TxState::Delivered));
    // Finished runs are not reused: a new call starts a new (empty) run.
    assert_eq!(
        r.courier.resend_all().await.unwrap(),
        ResendSummary::default()
    );
}

#[tokio::test]
async fn resend_all_counts_failures_and_ignores_backoff() {
    let r = rig("courier-resend-fail", 2).await;
    let a = r.enqueue(1);
    let b = r.enqueue(2);
    r.fake.set(Post::Fail);
    r.courier.deliver(&a).await.unwrap();
    assert!(r.state(&a).next_attempt_at > now_millis());
    let s = r.courier.resend_all().await.unwrap();
    assert_eq!(
        s,
        ResendSummary {
            attempted: 2,
            delivered: 0,
            failed: 2,
            remaining: 2
        }
    );
    r.fake.set(Post::Accept);
    let s = r.courier.resend_all().await.unwrap();
    assert_eq!(
        s,
        ResendSummary {
            attempted: 2,
            delivered: 2,
            failed: 0,
            remaining: 0
        }
    );
    assert_eq!(r.state(&b).attempts, 2);
}

#[tokio::test]
async fn the_retry_loop_delivers_due_transactions_and_stops() {
    let r = rig("courier-loop", 2).await;
    let id = r.enqueue(4);
    r.fake.set(Post::Fail);
    r.courier.deliver(&id).await.unwrap();
    r.fake.set(Post::Accept);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let courier = Arc::new(r.courier.clone());
    let task = tokio::spawn(courier.run_retry_loop(async {
        stopped.await.ok();
    }));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while r.state(&id).state != TxState::Delivered {
        assert!(tokio::time::Instant::now() < deadline, "not retried");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.fake.stored().len(), 1);
}

#[tokio::test]
async fn results_are_fetched_stored_and_stale_when_the_server_is_down() {
    let r = rig("courier-result", 2).await;
    let id = r.enqueue(1);
    r.fake.set(Post::Fail);
    r.courier.deliver(&id).await.unwrap();
    assert_eq!(
        r.courier.result(&id).await.unwrap(),
        Some(CaptureResult::Pending { id: id.clone() })
    );
    r.fake.set(Post::Accept);
    r.courier.deliver(&id).await.unwrap();
    let fresh = r.courier.result("tg-1").await.unwrap().unwrap();
    assert_eq!(
        fresh,
        CaptureResult::Delivered {
            id: id.clone(),
            tguid: "tg-1".into(),
            status: "ENROLL_DONE".into(),
            message: Some("enrolled".into()),
            stale: false
        }
    );
    assert_eq!(r.state(&id).result_status.as_deref(), Some("ENROLL_DONE"));
    *r.fake.results_down.lock().unwrap() = true;
    let stale = r.courier.result(&id).await.unwrap().unwrap();
    assert!(
        matches!(stale, CaptureResult::Delivered { ref status, stale: true, .. } if status == "ENROLL_DONE"),
        "{stale:?}"
    );
    assert_eq!(r.courier.result("unknown").await.unwrap(), None);
}

#[tokio::test]
async fn a_failed_login_never_rejects_a_transaction() {
    let dir = Scratch::new("courier-login");
    let server = start(|s| async move {
        match s.path.as_str() {
            "/auth/login" => text(400, "bad request"),
            _ => json(201, json!({"id": "tg", "status": "OK"})),
        }
    })
    .await;
    let upstream =
        UpstreamClient::new(&testserver::settings(&server.url), Some("pw".into())).unwrap();
    let policy = RetryPolicy {
        initial: Duration::from_millis(40),
        max: Duration::from_millis(200),
        concurrency: 1,
    };
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let courier = Courier::new(outbox, Arc::new(upstream), policy);
    let r = Rig {
        _dir: dir,
        fake: Arc::default(),
        server,
        courier,
    };
    let id = r.enqueue(1);
    assert!(matches!(
        r.courier.deliver(&id).await.unwrap(),
        DeliveryOutcome::Pending { .. }
    ));
    assert_eq!(r.state(&id).state, TxState::Pending);
    assert_eq!(r.posts(), 0);
}

#[tokio::test]
async fn shutdown_abandons_sends_on_the_wire_as_ambiguous_and_starts_none() {
    let r = rig("courier-shutdown", 2).await;
    let on_wire = r.enqueue(91);
    let waiting = r.enqueue(92);
    r.fake.set(Post::StoreThenStall);
    let courier = r.courier.clone();
    let id = on_wire.clone();
    let send = tokio::spawn(async move { courier.deliver(&id).await });
    while r.fake.in_flight.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    r.courier.shutdown(Duration::from_millis(100)).await;
    let t = r.state(&on_wire);
    assert_eq!(t.state, TxState::Ambiguous, "abandoned mid-send");
    let last = r
        .courier
        .outbox()
        .attempts(&on_wire)
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(last.outcome, "AMBIGUOUS");
    // Nothing new goes out once stopping: the other transaction stays pending, untouched.
    let outcome = r.courier.deliver(&waiting).await.unwrap();
    assert!(
        matches!(outcome, DeliveryOutcome::Pending { .. }),
        "{outcome:?}"
    );
    assert_eq!(r.state(&waiting).state, TxState::Pending);
    assert_eq!(r.state(&waiting).attempts, 0);
    assert_eq!(r.posts(), 1);
    let _ = send.await;
    assert_ne!(r.state(&on_wire).state, TxState::Sending);
}

#[tokio::test]
async fn resend_all_pages_through_a_long_queue() {
    let r = rig("courier-pages", 3).await;
    let ids: Vec<String> = (0..(PAGE as u64 * 3 + 5))
        .map(|i| r.enqueue(1000 + i))
        .collect();
    let summary = r.courier.resend_all().await.unwrap();
    assert_eq!(summary.attempted, ids.len() as u64);
    assert_eq!(summary.delivered, ids.len() as u64);
    assert_eq!(summary.remaining, 0);
    assert_eq!(r.fake.stored().len(), ids.len());
    assert!(r.fake.max_in_flight.load(Ordering::SeqCst) <= 3);
}
