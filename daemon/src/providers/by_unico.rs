//! by Unico remote capture: create a process (its `userRedirectUrl` is the link), then read
//! the process until it is finished. Results are decided only on `PROCESS_STATE_FINISHED`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::{json, Value};
use state_machine::Cpf;

use super::http::{self, ProviderError};
use super::unico_auth::UnicoAuth;
use super::{Created, RemoteStatus};
use crate::config::ByUnicoSettings;

const PROVIDER: &str = "by Unico";

pub struct ByUnico {
    http: reqwest::Client,
    base: String,
    auth: Arc<UnicoAuth>,
    flow: String,
    purpose: String,
    expires_in: Duration,
}

#[derive(Deserialize)]
struct ProcessAnswer {
    process: Process,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Process {
    id: String,
    #[serde(default)]
    user_redirect_url: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    authentication_info: Option<Value>,
}

impl ByUnico {
    pub fn new(settings: &ByUnicoSettings, auth: Arc<UnicoAuth>) -> Result<ByUnico, ProviderError> {
        Ok(ByUnico {
            http: http::client(PROVIDER)?,
            base: settings.base_url.trim_end_matches('/').to_string(),
            auth,
            flow: settings.flow.clone(),
            purpose: settings.purpose.clone(),
            expires_in: settings.expires_in,
        })
    }

    /// `POST /client/v1/process` → the process id and its `userRedirectUrl`.
    pub async fn create(&self, cpf: &Cpf, email: Option<&str>) -> Result<Created, ProviderError> {
        let mut person = json!({"duiType": "DUI_TYPE_BR_CPF", "duiValue": cpf.digits()});
        if let Some(email) = email {
            person["email"] = json!(email);
        }
        let body = json!({
            "callbackUri": "/",
            "flow": self.flow,
            "person": person,
            "purpose": self.purpose,
            "expiresIn": format!("{}s", self.expires_in.as_secs()),
        });
        let answer = self
            .call(Method::POST, "/client/v1/process", Some(&body))
            .await?;
        let url = answer
            .process
            .user_redirect_url
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ProviderError::Malformed {
                provider: PROVIDER,
                reason: "the process has no userRedirectUrl".into(),
            })?;
        Ok(Created {
            external_id: answer.process.id,
            url,
        })
    }

    /// `GET /client/v1/process/{id}`, interpreted.
    pub async fn status(&self, id: &str) -> Result<RemoteStatus, ProviderError> {
        let mut url = Url::parse(&format!("{}/client/v1/process", self.base)).map_err(|e| {
            ProviderError::Setup {
                provider: PROVIDER,
                reason: e.to_string(),
            }
        })?;
        if let Ok(mut path) = url.path_segments_mut() {
            path.push(id);
        }
        let answer = self.call_url(Method::GET, url, None).await?;
        Ok(interpret(&answer.process))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<ProcessAnswer, ProviderError> {
        let url =
            Url::parse(&format!("{}{path}", self.base)).map_err(|e| ProviderError::Setup {
                provider: PROVIDER,
                reason: e.to_string(),
            })?;
        self.call_url(method, url, body).await
    }

    /// One request; a token the API calls expired or invalid (401, 403 10501/10502) is
    /// replaced once. A refused token call is not retried.
    async fn call_url(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<ProcessAnswer, ProviderError> {
        let mut refreshed = false;
        loop {
            let token = self.auth.token().await?;
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(&token)
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(body) = body {
                req = req.json(body);
            }
            let (status, text) = http::read(PROVIDER, req.send().await).await?;
            if status.is_success() {
                return serde_json::from_str(&text).map_err(|e| ProviderError::Malformed {
                    provider: PROVIDER,
                    reason: e.to_string(),
                });
            }
            let error = http::status_error(PROVIDER, status, &text);
            if !refreshed && token_rejected(status, error.code()) {
                tracing::debug!(
                    provider = PROVIDER,
                    status = status.as_u16(),
                    "access token refused; fetching a new one once"
                );
                self.auth.invalidate(&token).await;
                refreshed = true;
                continue;
            }
            return Err(error);
        }
    }
}

/// 401, or 403 with code 10501 (invalid token) / 10502 (expired token).
pub(super) fn token_rejected(status: StatusCode, code: Option<&str>) -> bool {
    status == StatusCode::UNAUTHORIZED
        || (status == StatusCode::FORBIDDEN && matches!(code, Some("10501" | "10502")))
}

/// `providers.md`: only a finished process is decided. `PROCESS_RESULT_OK` →
/// `authenticationResult` POSITIVE / NEGATIVE → match / no match, anything else inconclusive;
/// `PROCESS_RESULT_ERROR` → failed (the individual may start again).
fn interpret(process: &Process) -> RemoteStatus {
    let detail = json!({
        "processId": process.id,
        "state": process.state,
        "result": process.result,
        "authenticationInfo": process.authentication_info,
    });
    if process.state.as_deref() != Some("PROCESS_STATE_FINISHED") {
        return RemoteStatus::Pending { detail };
    }
    let authentication = process
        .authentication_info
        .as_ref()
        .and_then(|i| i.get("authenticationResult"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let (status, message) = match process.result.as_deref() {
        Some("PROCESS_RESULT_OK") => match authentication {
            "AUTHENTICATION_RESULT_POSITIVE" => (
                "SEARCH_MATCH",
                "by Unico authenticated the individual".to_string(),
            ),
            "AUTHENTICATION_RESULT_NEGATIVE" => (
                "SEARCH_NOT_MATCH",
                "by Unico did not authenticate the individual".to_string(),
            ),
            other => (
                "SEARCH_FAILED",
                format!(
                    "by Unico was inconclusive ({})",
                    if other.is_empty() {
                        "no authenticationResult"
                    } else {
                        other
                    }
                ),
            ),
        },
        Some("PROCESS_RESULT_ERROR") => (
            "SEARCH_FAILED",
            "by Unico could not process the biometrics; the individual may start again".to_string(),
        ),
        other => (
            "SEARCH_FAILED",
            format!("by Unico finished with result {}", other.unwrap_or("none")),
        ),
    };
    RemoteStatus::Final {
        status: status.to_string(),
        message,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(state: &str, result: Option<&str>, auth: Option<&str>) -> Process {
        Process {
            id: "p".into(),
            user_redirect_url: None,
            state: Some(state.into()),
            result: result.map(str::to_string),
            authentication_info: auth.map(|a| json!({"authenticationResult": a})),
        }
    }

    fn status_word(s: RemoteStatus) -> String {
        match s {
            RemoteStatus::Pending { .. } => "REMOTE_PENDING".into(),
            RemoteStatus::Final { status, .. } => status,
        }
    }

    #[test]
    fn only_a_finished_process_is_decided() {
        let cases = [
            (
                process("PROCESS_STATE_CREATED", None, None),
                "REMOTE_PENDING",
            ),
            (
                process(
                    "PROCESS_STATE_SOMETHING_NEW",
                    Some("PROCESS_RESULT_OK"),
                    Some("AUTHENTICATION_RESULT_POSITIVE"),
                ),
                "REMOTE_PENDING",
            ),
            (
                process(
                    "PROCESS_STATE_FINISHED",
                    Some("PROCESS_RESULT_OK"),
                    Some("AUTHENTICATION_RESULT_POSITIVE"),
                ),
                "SEARCH_MATCH",
            ),
            (
                process(
                    "PROCESS_STATE_FINISHED",
                    Some("PROCESS_RESULT_OK"),
                    Some("AUTHENTICATION_RESULT_NEGATIVE"),
                ),
                "SEARCH_NOT_MATCH",
            ),
            (
                process(
                    "PROCESS_STATE_FINISHED",
                    Some("PROCESS_RESULT_OK"),
                    Some("AUTHENTICATION_RESULT_INCONCLUSIVE"),
                ),
                "SEARCH_FAILED",
            ),
            (
                process("PROCESS_STATE_FINISHED", Some("PROCESS_RESULT_ERROR"), None),
                "SEARCH_FAILED",
            ),
        ];
        for (p, expected) in cases {
            assert_eq!(
                status_word(interpret(&p)),
                expected,
                "{:?} {:?}",
                p.state,
                p.result
            );
        }
    }

    #[test]
    fn token_refusals_are_401_and_the_token_codes_of_403() {
        assert!(token_rejected(StatusCode::UNAUTHORIZED, None));
        assert!(token_rejected(StatusCode::FORBIDDEN, Some("10502")));
        assert!(token_rejected(StatusCode::FORBIDDEN, Some("10501")));
        assert!(!token_rejected(StatusCode::FORBIDDEN, Some("99999")));
        assert!(!token_rejected(StatusCode::BAD_REQUEST, Some("10502")));
    }
}
