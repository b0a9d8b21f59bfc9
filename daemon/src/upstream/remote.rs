//! The SPID Server's remote capture: `POST /remote-capture/verify|enroll` with
//! `RemoteCaptureRequest` → `RemoteCaptureResponse {tguid, dynamicLink}`.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use state_machine::{Cpf, Mode};

use super::{check_status, parse_json, read_text, UpstreamClient, UpstreamError};

/// `TransactionIdentifier`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TransactionIdentifier {
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(rename = "operatorID")]
    pub operator_id: String,
    #[serde(rename = "clientEmail", skip_serializing_if = "Option::is_none")]
    pub client_email: Option<String>,
}

/// `RemoteCaptureRequest` = `{data: TransactionIdentifier}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RemoteCaptureRequest {
    pub data: TransactionIdentifier,
}

/// `RemoteCaptureResponse`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteCaptureResponse {
    #[serde(default)]
    pub tguid: Option<String>,
    #[serde(default)]
    pub dynamic_link: Option<String>,
}

impl UpstreamClient {
    /// Creates a remote capture; 404 (the individual is not enrolled) is `NotFound`.
    pub async fn remote_capture(
        &self,
        mode: Mode,
        client: &Cpf,
        operator: &Cpf,
        email: Option<&str>,
    ) -> Result<(String, String), UpstreamError> {
        let kind = match mode {
            Mode::Verify => "verify",
            Mode::Enroll => "enroll",
            other => {
                return Err(UpstreamError::Setup(format!(
                    "{} has no remote capture",
                    other.as_str()
                )))
            }
        };
        let body = RemoteCaptureRequest {
            data: TransactionIdentifier {
                client_id: client.digits().to_string(),
                operator_id: operator.digits().to_string(),
                client_email: email.map(str::to_string),
            },
        };
        let bytes = serde_json::to_vec(&body).map_err(|e| UpstreamError::Setup(e.to_string()))?;
        let resp = self
            .send(
                Method::POST,
                self.url(&["remote-capture", kind]),
                Some(bytes.into()),
                false,
            )
            .await?;
        let resp = check_status(resp, false).await?;
        let answer: RemoteCaptureResponse =
            parse_json("remote capture", &read_text(resp, false).await?)?;
        match (answer.tguid, answer.dynamic_link) {
            (Some(t), Some(l)) if !t.trim().is_empty() && !l.trim().is_empty() => Ok((t, l)),
            _ => Err(UpstreamError::Malformed(
                "remote capture: the answer lacks tguid or dynamicLink".into(),
            )),
        }
    }
}
