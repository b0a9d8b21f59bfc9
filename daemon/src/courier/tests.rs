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
pub(super) enum Post {
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
pub(super) struct Fake {
    pub(super) post: Mutex<Option<Post>>,
    /// (userId, timestamp, tguid) of every stored transaction.
    pub(super) stored: Mutex<Vec<(String, u64, String)>>,
    pub(super) in_flight: AtomicUsize,
    pub(super) max_in_flight: AtomicUsize,
    /// Delay of each accepted POST, to make concurrency observable.
    pub(super) delay_ms: AtomicUsize,
    /// When set, result queries fail with 503.
    pub(super) results_down: Mutex<bool>,
}

impl Fake {
    pub(super) fn set(&self, p: Post) {
        *self.post.lock().unwrap() = Some(p);
    }

    pub(super) fn stored(&self) -> Vec<(String, u64, String)> {
        self.stored.lock().unwrap().clone()
    }

    pub(super) fn store(&self, body: &serde_json::Value) -> String {
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

pub(super) struct Rig {
    pub(super) _dir: Scratch,
    pub(super) fake: Arc<Fake>,
    pub(super) server: TestServer,
    pub(super) courier: Courier,
}

pub(super) async fn rig(name: &str, concurrency: usize) -> Rig {
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
    pub(super) fn enqueue(&self, timestamp: u64) -> String {
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

    pub(super) fn state(&self, id: &str) -> StoredTransaction {
        self.courier.outbox().get(id).unwrap().unwrap()
    }

    pub(super) fn posts(&self) -> usize {
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
