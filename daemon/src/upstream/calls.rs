//! The operations of the SPID server the station uses, one method each.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::{Method, StatusCode};
use state_machine::{Cpf, Mode};

use super::interpret::{enrolled_fingers, operator_record, OperatorRecord, PersonRecord};
use super::wire::{
    Biometric, ExternalResult, OperatorEnrollPayload, OperatorEnrollRequest, Person,
    ServerTransaction, UserTransactionRequest,
};
use super::{check_status, parse_json, read_text, UpstreamClient, UpstreamError};

/// The path of a transaction submit and of its result query, by mode.
fn transaction_paths(
    mode: Mode,
) -> Result<(&'static [&'static str], &'static [&'static str]), UpstreamError> {
    match mode {
        Mode::Enroll => Ok((&["people"], &["people", "transactions"])),
        Mode::Verify => Ok((&["verify"], &["verify"])),
        other => Err(UpstreamError::Setup(format!(
            "{} has no upstream transaction",
            other.as_str()
        ))),
    }
}

impl UpstreamClient {
    /// `GET /operator/{cpf}`: 302 with the operator, 200 without a body (registered), 404.
    pub async fn lookup_operator(&self, cpf: &Cpf) -> Result<OperatorRecord, UpstreamError> {
        let resp = self
            .send(
                Method::GET,
                self.url(&["operator", cpf.digits()]),
                None,
                true,
            )
            .await?;
        let status = resp.status();
        if status == StatusCode::FOUND || status.is_success() {
            let text = read_text(resp, true).await?;
            if text.trim().is_empty() {
                // A 302 without the payload is a real redirect (a login page, a proxy): not an answer.
                if status == StatusCode::FOUND {
                    return Err(UpstreamError::Malformed(
                        "operator lookup: 302 without an operator payload".into(),
                    ));
                }
                return Ok(OperatorRecord::Registered);
            }
            let payload: OperatorEnrollPayload = parse_json("operator lookup", &text)?;
            if payload.document.trim() != cpf.digits()
                && Cpf::parse(&payload.document).as_ref() != Ok(cpf)
            {
                return Err(UpstreamError::Malformed(
                    "operator lookup: the answer is about another operator".into(),
                ));
            }
            return Ok(operator_record(payload));
        }
        match check_status(resp, true).await {
            Err(UpstreamError::NotFound) => Ok(OperatorRecord::NotFound),
            Err(e) => Err(e),
            Ok(r) => Err(UpstreamError::Malformed(format!(
                "operator lookup: unexpected HTTP status {}",
                r.status()
            ))),
        }
    }

    /// `PUT /operator` with `{data: {document, biometrics}}` → 201 (any 2xx is taken).
    pub async fn enroll_operator(
        &self,
        cpf: &Cpf,
        biometrics: Vec<Biometric>,
    ) -> Result<(), UpstreamError> {
        let body = OperatorEnrollRequest {
            data: OperatorEnrollPayload {
                document: cpf.digits().to_string(),
                biometrics,
                status: None,
                tguid: None,
            },
        };
        let bytes = serde_json::to_vec(&body).map_err(|e| UpstreamError::Setup(e.to_string()))?;
        let resp = self
            .send(
                Method::PUT,
                self.url(&["operator"]),
                Some(bytes.into()),
                false,
            )
            .await?;
        check_status(resp, false).await?;
        Ok(())
    }

    /// `GET /people/{cpf}`: `Some` when enrolled, `None` on 404.
    pub async fn lookup_person(&self, cpf: &Cpf) -> Result<Option<PersonRecord>, UpstreamError> {
        let resp = self
            .send(Method::GET, self.url(&["people", cpf.digits()]), None, true)
            .await?;
        let resp = match check_status(resp, true).await {
            Err(UpstreamError::NotFound) => return Ok(None),
            other => other?,
        };
        let text = read_text(resp, true).await?;
        let person: Person = if text.trim().is_empty() {
            Person::default()
        } else {
            parse_json("person lookup", &text)?
        };
        let fingers = enrolled_fingers(&person);
        Ok(Some(PersonRecord { person, fingers }))
    }

    /// `POST /people` (enroll) or `POST /verify` (verify) → 200/201 `ExternalResult` with the TGUID.
    pub async fn submit(
        &self,
        mode: Mode,
        body: &UserTransactionRequest,
    ) -> Result<ExternalResult, UpstreamError> {
        let bytes = serde_json::to_vec(body).map_err(|e| UpstreamError::Setup(e.to_string()))?;
        self.submit_raw(mode, bytes.into()).await
    }

    /// [`UpstreamClient::submit`] with the body already serialised (as the outbox stores it).
    /// A 2xx whose body cannot be read or lacks the TGUID is `Malformed`: the server took the
    /// transaction but the station did not learn its id. The body is shared, not copied, by
    /// the request (and by its repeat after a 401).
    pub async fn submit_raw(
        &self,
        mode: Mode,
        body: Bytes,
    ) -> Result<ExternalResult, UpstreamError> {
        let (path, _) = transaction_paths(mode)?;
        let resp = self
            .send(Method::POST, self.url(path), Some(body), false)
            .await?;
        let resp = check_status(resp, false).await?;
        let text = read_text(resp, false).await?;
        let result: ExternalResult = parse_json("submit", &text)?;
        match result.id.as_deref() {
            Some(id) if !id.trim().is_empty() => Ok(result),
            _ => Err(UpstreamError::Malformed(
                "submit: the answer has no transaction id".into(),
            )),
        }
    }

    /// `GET /people/transactions/{tguid}` (enroll) or `GET /verify/{tguid}` (verify).
    pub async fn result(&self, mode: Mode, tguid: &str) -> Result<ExternalResult, UpstreamError> {
        let (_, path) = transaction_paths(mode)?;
        let mut segments = path.to_vec();
        segments.push(tguid);
        let resp = self
            .send(Method::GET, self.url(&segments), None, true)
            .await?;
        let resp = check_status(resp, true).await?;
        parse_json("result", &read_text(resp, true).await?)
    }

    /// `GET /transaction/people/{cpf}`: one object or a list; 404 or an empty body is none.
    pub async fn transactions_of(
        &self,
        cpf: &Cpf,
    ) -> Result<Vec<ServerTransaction>, UpstreamError> {
        let resp = self
            .send(
                Method::GET,
                self.url(&["transaction", "people", cpf.digits()]),
                None,
                true,
            )
            .await?;
        let resp = match check_status(resp, true).await {
            Err(UpstreamError::NotFound) => return Ok(Vec::new()),
            other => other?,
        };
        let text = read_text(resp, true).await?;
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let value: serde_json::Value = parse_json("transactions of a person", &text)?;
        let list = match value {
            serde_json::Value::Array(items) => items,
            serde_json::Value::Null => Vec::new(),
            one => vec![one],
        };
        list.into_iter()
            .map(|v| {
                serde_json::from_value(v)
                    .map_err(|e| UpstreamError::Malformed(format!("transactions of a person: {e}")))
            })
            .collect()
    }

    /// `GET /report/{tguid}`: the PDF, as a response to stream (`chunk()`), status already checked.
    pub async fn report(&self, tguid: &str) -> Result<reqwest::Response, UpstreamError> {
        let resp = self
            .send(Method::GET, self.url(&["report", tguid]), None, true)
            .await?;
        check_status(resp, true).await
    }

    /// `GET /service/cluster`: how long the liveness probe took.
    pub async fn ping(&self) -> Result<Duration, UpstreamError> {
        let start = Instant::now();
        let resp = self
            .send(Method::GET, self.url(&["service", "cluster"]), None, true)
            .await?;
        let resp = check_status(resp, true).await?;
        read_text(resp, true).await?;
        Ok(start.elapsed())
    }
}
