//! The fakes' own checks: signatures, credentials, error casings, faults, the request log.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use super::*;

fn fake() -> FakeProviders {
    FakeProviders::new(ProvidersConfig {
        unico_audience: "http://fake/unico-identity".into(),
        unico_issuer: Some("acct@tenant.iam.acesso.io".into()),
        faceverify_api_key: Some("xxx-api-key".into()),
        faceverify_secret: Some("xxx-secret-key".into()),
        claro_key: Some("k".into()),
        claro_secret: Some("s".into()),
        ..ProvidersConfig::default()
    })
}

async fn call(fake: &FakeProviders, req: Request<Body>) -> (StatusCode, Value) {
    let resp = fake.router().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn session(signature: &str) -> Request<Body> {
    Request::post("/faceverify/api/v1/session")
        .header("content-type", "application/json")
        .header("x-auth-client", "xxx-api-key")
        .header("x-hmac-signature", signature)
        .body(Body::from(
            r#"{"country":"BR","uniqueIdentifier":"user123"}"#,
        ))
        .unwrap()
}

/// The signature was computed with OpenSSL, not with this crate:
/// `printf 'POST\n/faceverify/api/v1/session\n\nxxx-api-key\napplication/json\n{"country":"BR","uniqueIdentifier":"user123"}' | openssl dgst -sha256 -hmac 'xxx-secret-key'`
#[tokio::test]
async fn faceverify_accepts_the_openssl_signature_and_refuses_others() {
    let fake = fake();
    let good = "3bda50a7848f397b681f4ffce42c57561869df9b60a1c12a02ab8ba82c052b1a";
    let (status, body) = call(&fake, session(good)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    assert!(body["data"]["url"]
        .as_str()
        .unwrap()
        .starts_with("https://start.faceverify.ai/new/"));
    let bad = good.replace('3', "4");
    let (status, body) = call(&fake, session(&bad)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["success"], false);
    let log = fake.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].headers["x-auth-client"], "xxx-api-key");
    assert_eq!(log[0].provider, "faceverify");
}

#[tokio::test]
async fn unico_refuses_a_bad_assertion_and_faults_use_both_casings() {
    let fake = fake();
    let form = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b.c";
    let req = Request::post("/unico-identity/oauth2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    assert_eq!(call(&fake, req).await.0, StatusCode::UNAUTHORIZED);
    for casing in ["Error", "error"] {
        fake.add_fault(Fault {
            provider: "unico-id".into(),
            status: 429,
            count: 1,
            casing: Some(casing.into()),
            code: Some("42900".into()),
            path_suffix: None,
        });
        let req = Request::post("/unico-id/processes/v1")
            .body(Body::empty())
            .unwrap();
        let (status, body) = call(&fake, req).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body[casing]["code"], "42900", "{body}");
    }
    // Without a fault and without a token: IDToken's own 403 10501, capitalised.
    let req = Request::post("/unico-id/processes/v1")
        .body(Body::empty())
        .unwrap();
    let (status, body) = call(&fake, req).await;
    assert_eq!(
        (status, body["Error"]["code"].clone()),
        (StatusCode::FORBIDDEN, json!("10501"))
    );
}

#[tokio::test]
async fn claro_needs_basic_client_credentials_and_answers_422_outside_its_base() {
    let fake = fake();
    let token = |auth: &str| {
        Request::post("/claro/oauth2/v1/token")
            .header("x-client-auth", auth)
            .body(Body::from("grant_type=client_credentials"))
            .unwrap()
    };
    assert_eq!(
        call(&fake, token("Basic eDp5")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = call(&fake, token("Basic azpz")).await; // base64("k:s")
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["access_token"].as_str().unwrap().to_string();
    let query = |cpf: &str| {
        Request::get("/claro/identity/v1/facialbiometrics")
            .header("authorization", format!("Bearer {access}"))
            .header("accept", "application/json")
            .header(
                "x-querystring",
                format!("identificationType=CPF&IdentificationId={cpf}"),
            )
            .body(Body::empty())
            .unwrap()
    };
    let (status, body) = call(&fake, query("93541134780")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["biohashs"].as_array().unwrap().len(), 1);
    fake.state().claro_absent.insert("93541134780".into());
    assert_eq!(
        call(&fake, query("93541134780")).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        call(&fake, query("12345678900")).await.0,
        StatusCode::BAD_REQUEST
    );
}
