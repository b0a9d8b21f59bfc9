//! Verification decided by the real matcher on synthetic prints, and the seeded fixtures
//! (whose images come from the fingerprint and face generators).

use base64::Engine;
use serde_json::{json, Value};

use super::*;
use crate::fingerprint::{impression, Condition};
use crate::server::seed::{OPERATOR_ENROLLED, PERSON_ENROLLED, PERSON_UNKNOWN};

fn finger(subject: &str, position: u8, n: u32) -> Value {
    let print = impression(subject, position, n, Condition::Good);
    let mut png = Vec::new();
    print
        .image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    json!({"index": position, "content": base64::engine::general_purpose::STANDARD.encode(png),
        "width": print.image.width(), "height": print.image.height(), "resolution": print.ppi})
}

fn verify_body(user: &str, timestamp: i64, fingers: Vec<Value>) -> Value {
    json!({"data": {"biometrics": fingers, "missingBiometrics": [], "userId": user,
        "operatorId": OPERATOR_ENROLLED, "timestamp": timestamp}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_matches_the_same_finger_of_the_same_individual_only() {
    let run = Running::start(quick_config()).await;
    // Enroll someone new with two synthetic fingers (enrollment impressions 0 and 1).
    let enroll = verify_body(
        PERSON_UNKNOWN,
        1,
        vec![finger(PERSON_UNKNOWN, 2, 0), finger(PERSON_UNKNOWN, 7, 1)],
    );
    assert_eq!(run.post("/people", &enroll).await.status(), 201);

    let genuine = run
        .post(
            "/verify",
            &verify_body(PERSON_UNKNOWN, 2, vec![finger(PERSON_UNKNOWN, 2, 3)]),
        )
        .await;
    assert_eq!(genuine.status(), 200);
    let genuine: Value = genuine.json().await.unwrap();
    assert_eq!(genuine["status"], "SEARCH_MATCH");
    let again: Value = run
        .get(&format!("/verify/{}", genuine["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, genuine);

    let impostor = verify_body(PERSON_UNKNOWN, 3, vec![finger("someone else", 2, 3)]);
    let impostor: Value = run.post("/verify", &impostor).await.json().await.unwrap();
    assert_eq!(impostor["status"], "SEARCH_NOT_MATCH");

    // The right individual but a finger presented at another position does not count.
    let swapped = verify_body(
        PERSON_UNKNOWN,
        4,
        vec![
            json!({"index": 3, "content": finger(PERSON_UNKNOWN, 2, 3)["content"],
        "width": 416, "height": 560, "resolution": 500}),
        ],
    );
    let swapped: Value = run.post("/verify", &swapped).await.json().await.unwrap();
    assert_eq!(swapped["status"], "SEARCH_NOT_MATCH");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_against_the_seeded_individual() {
    let run = Running::start(quick_config()).await;
    let probe = verify_body(PERSON_ENROLLED, 10, vec![finger(PERSON_ENROLLED, 7, 2)]);
    let r: Value = run.post("/verify", &probe).await.json().await.unwrap();
    assert_eq!(r["status"], "SEARCH_MATCH");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_operator_and_person_carry_rendered_images() {
    let run = Running::start(quick_config()).await;
    let r = run.get(&format!("/operator/{OPERATOR_ENROLLED}")).await;
    assert_eq!(r.status(), 302);
    let op: Value = r.json().await.unwrap();
    assert_eq!(op["status"], "VERIFIED");
    let indexes: Vec<i64> = op["biometrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["index"].as_i64().unwrap())
        .collect();
    assert_eq!(indexes, vec![0, 2, 7]);
    assert_eq!(op["biometrics"][1]["resolution"], 500);

    let person: Value = run
        .get(&format!("/people/{PERSON_ENROLLED}"))
        .await
        .json()
        .await
        .unwrap();
    let indexes: Vec<i64> = person["biometrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["index"].as_i64().unwrap())
        .collect();
    assert_eq!(indexes, vec![0, 2, 3, 7, 8]);
    assert_eq!(person["enroll-status"], "ENROLLED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_verify_completes_on_the_control_call() {
    let run = Running::start(quick_config()).await;
    let request = json!({"data": {"clientID": PERSON_ENROLLED, "operatorID": OPERATOR_ENROLLED}});
    let tguid = run
        .post("/remote-capture/verify", &request)
        .await
        .json::<Value>()
        .await
        .unwrap()["tguid"]
        .as_str()
        .unwrap()
        .to_string();
    let r = run
        .client
        .post(run.sim(&format!("/remote-capture/{tguid}/complete")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let result: Value = run
        .get(&format!("/verify/{tguid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(result["status"], "SEARCH_MATCH");
    let face: Value = run
        .get(&format!("/remote-capture/biometrics/{tguid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(face["index"], 0);
    assert_eq!(
        (face["width"].as_u64(), face["height"].as_u64()),
        (Some(640), Some(480))
    );

    // An impostor at the phone.
    let tguid = run
        .post("/remote-capture/verify", &request)
        .await
        .json::<Value>()
        .await
        .unwrap()["tguid"]
        .as_str()
        .unwrap()
        .to_string();
    run.control(
        &format!("/remote-capture/{tguid}/complete"),
        &json!({"subject": "impostor"}),
    )
    .await;
    let result: Value = run
        .get(&format!("/verify/{tguid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(result["status"], "SEARCH_NOT_MATCH");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_enroll_makes_the_person_known() {
    let run = Running::start(quick_config()).await;
    let request = json!({"data": {"clientID": PERSON_UNKNOWN, "operatorID": OPERATOR_ENROLLED, "clientEmail": "a@b.c"}});
    let tguid = run
        .post("/remote-capture/enroll", &request)
        .await
        .json::<Value>()
        .await
        .unwrap()["tguid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        run.client
            .post(run.sim("/settle"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let result: Value = run
        .get(&format!("/people/transactions/{tguid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(result["status"], "OK");
    assert_eq!(
        run.get(&format!("/people/{PERSON_UNKNOWN}")).await.status(),
        200
    );
}
