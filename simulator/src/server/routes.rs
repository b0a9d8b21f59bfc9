//! The upstream API routes (`/gbs-spid-server/...` and the token endpoint) and their handlers.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::json;
use tokio::time::Instant;

use super::pipeline::{self, MAX_BODY};
use super::store::{self, Outcome, StoredBiometrics, Transaction, TxKind};
use super::wire::*;
use super::{blocking, lock, now_ms, verify_outcome, FakeSpidServer, BASE_PATH};
use super::{imaging, records, remote};

type Answer = Result<Response, ApiError>;

pub(super) fn api_router(server: FakeSpidServer) -> Router {
    let at = |path: &str| format!("{BASE_PATH}{path}");
    Router::new()
        .route(&server.config().token_path, post(login))
        .route(&at("/operator/list"), get(operator_list))
        .route(&at("/operator/{cpf}"), get(operator_lookup))
        .route(&at("/operator"), put(operator_enroll))
        .route(&at("/people"), post(enroll))
        .route(&at("/people/{cpf}"), get(person))
        .route(
            &at("/people/transactions/{tguid}"),
            get(records::enroll_result),
        )
        .route(&at("/verify"), post(verify))
        .route(&at("/verify/{tguid}"), get(records::verify_result))
        .route(
            &at("/transaction/people/{cpf}"),
            get(records::transactions_of),
        )
        .route(&at("/transaction/{guid}"), get(records::transaction))
        .route(&at("/report/{tguid}"), get(records::report))
        .route(&at("/remote-capture/verify"), post(remote::remote_verify))
        .route(&at("/remote-capture/enroll"), post(remote::remote_enroll))
        .route(
            &at("/remote-capture/biometrics/{tguid}"),
            get(remote::remote_biometrics),
        )
        .route(&at("/client-version"), get(client_version))
        .route(&at("/service/cluster"), get(cluster))
        .fallback(|| async { ApiError::not_found("no such operation") })
        .layer(from_fn_with_state(server.clone(), pipeline::upstream))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(server)
}

async fn login(State(server): State<FakeSpidServer>, headers: HeaderMap, body: Bytes) -> Answer {
    let login: LoginRequest = parse_json(&headers, &body)?;
    let config = server.config();
    if login.username != config.username || login.password != config.password {
        tracing::info!(user = %login.username, "token refused");
        return Err(ApiError::unauthorized("bad user name or password"));
    }
    let token = lock(&server.inner.tokens).issue(Instant::now(), config.token_ttl);
    Ok(Json(
        json!({"token": token, "tokenType": "Bearer", "expiresIn": config.token_ttl.as_secs()}),
    )
    .into_response())
}

async fn operator_list(State(server): State<FakeSpidServer>) -> Answer {
    server.settle().await?;
    let list: Vec<OperatorSummary> = lock(&server.inner.state)
        .operators
        .values()
        .map(|op| OperatorSummary {
            document: op.document.clone(),
            status: op.status.clone(),
            tguid: op.tguid.clone(),
        })
        .collect();
    Ok(Json(list).into_response())
}

/// 302 with the payload when the operator has biometrics, 200 without a body when registered
/// without biometrics, 404 when unknown.
async fn operator_lookup(State(server): State<FakeSpidServer>, Path(cpf): Path<String>) -> Answer {
    path_cpf(&cpf)?;
    server.settle().await?;
    let op = lock(&server.inner.state)
        .operators
        .get(&cpf)
        .cloned()
        .ok_or_else(|| ApiError::not_found("operator not found"))?;
    let Some(stored) = &op.biometrics else {
        return Ok(StatusCode::OK.into_response());
    };
    let payload = OperatorEnrollPayload {
        document: op.document.clone(),
        biometrics: server.materialize(stored).await?.to_vec(),
        status: Some(op.status.clone()),
        tguid: op.tguid.clone(),
    };
    let mut response = (StatusCode::FOUND, Json(payload)).into_response();
    // Points at the operator itself: a client that follows redirects loops and fails loudly.
    if let Ok(location) = HeaderValue::from_str(&format!("{BASE_PATH}/operator/{cpf}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

fn check_biometrics(field: &str, biometrics: &[Biometric]) -> Result<(), ApiError> {
    if biometrics.is_empty() {
        return Err(ApiError::invalid_field(
            field,
            "at least one biometric is required",
        ));
    }
    let mut seen = Vec::new();
    for b in biometrics {
        if !(0..=10).contains(&b.index) {
            return Err(ApiError::invalid_field(
                field,
                format!("index {} is not 0 (face) to 10", b.index),
            ));
        }
        if seen.contains(&b.index) {
            return Err(ApiError::invalid_field(
                field,
                format!("index {} appears twice", b.index),
            ));
        }
        seen.push(b.index);
        imaging::check_content(b).map_err(|e| ApiError::invalid_field(field, e))?;
    }
    Ok(())
}

async fn operator_enroll(
    State(server): State<FakeSpidServer>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let OperatorEnrollRequest { data } = parse_json(&headers, &body)?;
    if !valid_cpf(&data.document) {
        return Err(ApiError::invalid_field("data.document", "not a valid CPF"));
    }
    check_biometrics("data.biometrics", &data.biometrics)?;
    server.settle().await?;
    let delay = server.config().operator_delay;
    server.with_state(|s| {
        let op = s
            .operators
            .get_mut(&data.document)
            .ok_or_else(|| ApiError::not_found("operator not registered"))?;
        if op.status == store::OPERATOR_VERIFIED && op.biometrics.is_some() {
            return Err(ApiError::conflict("operator already enrolled"));
        }
        op.biometrics = Some(StoredBiometrics::Images {
            biometrics: data.biometrics,
        });
        op.status = store::OPERATOR_IN_PROGRESS.to_string();
        op.tguid = Some(uuid::Uuid::new_v4().to_string());
        op.due = Some(Instant::now() + delay);
        Ok(())
    })?;
    tracing::info!(operator = %mask_cpf(&data.document), "operator biometrics received");
    Ok(StatusCode::CREATED.into_response())
}

async fn person(State(server): State<FakeSpidServer>, Path(cpf): Path<String>) -> Answer {
    path_cpf(&cpf)?;
    server.settle().await?;
    let person = lock(&server.inner.state)
        .people
        .get(&cpf)
        .cloned()
        .ok_or_else(|| ApiError::not_found("person not enrolled"))?;
    let record = PersonRecord {
        person_guid: person.person_guid.clone(),
        transaction_guid: person.transaction_guid.clone(),
        enroll_status: store::PERSON_ENROLLED.into(),
        timestamp: person.enrolled_at_ms,
        keys: json!({"cpf": person.cpf}),
        labels: vec![],
        biographics: json!({}),
        biometrics: server.materialize(&person.biometrics).await?.to_vec(),
        auxiliaries: vec![],
        approvement: Approvement {
            status: "APPROVED".into(),
            comments: String::new(),
            timestamp: person.enrolled_at_ms,
            user: "spid".into(),
        },
        metadata: json!({"missingBiometrics": person.missing}),
    };
    Ok(Json(record).into_response())
}

fn check_transaction(tx: &UserTransaction) -> Result<(), ApiError> {
    if !valid_cpf(&tx.user_id) {
        return Err(ApiError::invalid_field("data.userId", "not a valid CPF"));
    }
    if !valid_cpf(&tx.operator_id) {
        return Err(ApiError::invalid_field(
            "data.operatorId",
            "not a valid CPF",
        ));
    }
    if tx.timestamp <= 0 {
        return Err(ApiError::invalid_field(
            "data.timestamp",
            "must be epoch milliseconds",
        ));
    }
    check_biometrics("data.biometrics", &tx.biometrics)?;
    for m in &tx.missing_biometrics {
        if !(1..=10).contains(&m.index) || tx.biometrics.iter().any(|b| b.index == m.index) {
            return Err(ApiError::invalid_field(
                "data.missingBiometrics",
                format!(
                    "index {} is not a finger absent from the biometrics",
                    m.index
                ),
            ));
        }
    }
    Ok(())
}

fn new_transaction(
    kind: TxKind,
    tx: UserTransaction,
    tcn: String,
    status: &str,
    message: &str,
    outcome: Option<Outcome>,
    due: Option<Instant>,
) -> Transaction {
    Transaction {
        id: uuid::Uuid::new_v4().to_string(),
        kind,
        user_id: tx.user_id,
        operator_id: tx.operator_id,
        timestamp: tx.timestamp,
        received_at_ms: now_ms(),
        psbio_tcn: tcn,
        biometrics: tx.biometrics,
        missing: tx.missing_biometrics,
        status: status.into(),
        message: message.into(),
        outcome,
        remote: None,
        due,
    }
}

pub(super) fn result_of(tx: &Transaction) -> ExternalResult {
    ExternalResult {
        id: tx.id.clone(),
        message: tx.message.clone(),
        status: tx.status.clone(),
    }
}

/// Refuses a second transaction of the same kind with the same individual and capture time.
fn ensure_new(state: &store::State, kind: TxKind, tx: &UserTransaction) -> Result<(), ApiError> {
    let duplicate = state
        .transactions
        .iter()
        .any(|t| t.kind == kind && t.user_id == tx.user_id && t.timestamp == tx.timestamp);
    if duplicate {
        Err(ApiError::conflict(
            "a transaction with this userId and timestamp already exists",
        ))
    } else {
        Ok(())
    }
}

async fn enroll(State(server): State<FakeSpidServer>, headers: HeaderMap, body: Bytes) -> Answer {
    let UserTransactionRequest { data } = parse_json(&headers, &body)?;
    check_transaction(&data)?;
    server.settle().await?;
    let due = Instant::now() + server.config().enroll_delay;
    let done = Outcome {
        status: store::ENROLL_DONE.into(),
        message: "enrolled".into(),
    };
    let result = server.with_state(|s| {
        ensure_new(s, TxKind::Enroll, &data)?;
        let tcn = s.next_tcn();
        let tx = new_transaction(
            TxKind::Enroll,
            data,
            tcn,
            store::ENROLL_PENDING,
            "enroll enqueued",
            Some(done),
            Some(due),
        );
        let result = result_of(&tx);
        s.transactions.push(tx);
        Ok::<_, ApiError>(result)
    })?;
    tracing::info!(tguid = %result.id, "enroll accepted");
    Ok((StatusCode::CREATED, Json(result)).into_response())
}

async fn verify(State(server): State<FakeSpidServer>, headers: HeaderMap, body: Bytes) -> Answer {
    let UserTransactionRequest { data } = parse_json(&headers, &body)?;
    check_transaction(&data)?;
    server.settle().await?;
    let person = {
        let state = lock(&server.inner.state);
        ensure_new(&state, TxKind::Verify, &data)?;
        state
            .people
            .get(&data.user_id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("person not enrolled"))?
    };
    let enrolled = server.person_templates(&person).await?;
    let probes = data.biometrics.clone();
    let matched = blocking(move || imaging::any_finger_matches(&probes, &enrolled)).await?;
    let outcome = verify_outcome(matched);
    let delay = server.config().verify_delay;
    let result = server.with_state(|s| {
        ensure_new(s, TxKind::Verify, &data)?;
        let tcn = s.next_tcn();
        let tx = if delay.is_zero() {
            new_transaction(
                TxKind::Verify,
                data,
                tcn,
                &outcome.status,
                &outcome.message,
                None,
                None,
            )
        } else {
            let due = Some(Instant::now() + delay);
            new_transaction(
                TxKind::Verify,
                data,
                tcn,
                store::SEARCH_PENDING,
                "search pending",
                Some(outcome),
                due,
            )
        };
        let result = result_of(&tx);
        s.transactions.push(tx);
        Ok::<_, ApiError>(result)
    })?;
    tracing::info!(tguid = %result.id, status = %result.status, "verify accepted");
    Ok(Json(result).into_response())
}

async fn client_version(State(server): State<FakeSpidServer>) -> Response {
    server.config().client_version.clone().into_response()
}

async fn cluster() -> &'static str {
    "Cluster Proxy is running"
}
