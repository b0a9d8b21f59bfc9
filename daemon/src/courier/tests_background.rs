//! The courier's background work against the scripted SPID server of `tests.rs`: Resend
//! All, the retry loop, and the graceful stop.

use std::sync::atomic::Ordering;
use std::time::Duration;

use state_machine::DeliveryOutcome;

use super::tests::{rig, Post};
use super::*;

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
