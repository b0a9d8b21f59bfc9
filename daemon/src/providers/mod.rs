//! The cloud identity providers of `../shared/spec/providers.md`, beside the SPID Server:
//! remote capture through by Unico or faceverify.ai ([`remote`]), and the Verify signals
//! Unico IDToken and Claro Face Match ([`signals`]).
//!
//! Only this module knows the providers' wire formats. A provider never blocks the SPID flow:
//! signals run after the transaction is stored, in their own task, and their failures are
//! recorded as outcomes. Secrets come from files ([`secret::Secret`]) and are never logged.

pub mod by_unico;
pub mod claro;
pub mod faceverify;
pub mod http;
pub mod idtoken;
pub mod jwt;
pub mod remote;
pub mod secret;
pub mod signals;
pub mod unico_auth;

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::config::{ConfigError, ProviderSettings, UnicoAccount};
pub use http::ProviderError;
use secret::Secret;
use unico_auth::UnicoAuth;

/// A remote capture a provider created.
#[derive(Clone, Debug, PartialEq)]
pub struct Created {
    pub external_id: String,
    pub url: String,
}

/// A remote result as the provider (or the SPID Server) tells it.
#[derive(Clone, Debug, PartialEq)]
pub enum RemoteStatus {
    /// Not finished yet: `REMOTE_PENDING`.
    Pending { detail: Value },
    /// `SEARCH_MATCH`, `SEARCH_NOT_MATCH`, `SEARCH_FAILED`, or the upstream's own word.
    Final {
        status: String,
        message: String,
        detail: Value,
    },
}

/// The configured provider clients (each `None` when its section is absent).
#[derive(Default)]
pub struct Providers {
    pub by_unico: Option<Arc<by_unico::ByUnico>>,
    pub faceverify: Option<Arc<faceverify::Faceverify>>,
    pub idtoken: Option<Arc<idtoken::IdToken>>,
    pub claro: Option<Arc<claro::Claro>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Provider(#[from] ProviderError),
}

fn signer(key: &str, path: &Path) -> Result<jwt::RsaSigner, ConfigError> {
    let pem = Secret::read(key, path)?;
    jwt::RsaSigner::from_pem(pem.expose()).map_err(|e| ConfigError::Invalid {
        key: key.to_string(),
        expected: "a PEM RSA private key (PKCS#8 or PKCS#1)".to_string(),
        got: format!("{} ({e})", path.display()),
    })
}

impl Providers {
    /// Reads every configured provider's secrets and builds its client. One Unico token cache
    /// serves IDToken and by Unico when they use the same service account.
    pub fn from_settings(settings: &ProviderSettings) -> Result<Providers, SetupError> {
        let mut auths: Vec<(UnicoAccount, Arc<UnicoAuth>)> = Vec::new();
        let mut auth_for = |section: &str,
                            provider: &'static str,
                            account: &UnicoAccount|
         -> Result<Arc<UnicoAuth>, SetupError> {
            if let Some((_, auth)) = auths.iter().find(|(a, _)| a == account) {
                return Ok(auth.clone());
            }
            let key = format!("providers.{section}.private_key_file");
            let auth = Arc::new(UnicoAuth::new(
                provider,
                account,
                signer(&key, &account.private_key_file)?,
            )?);
            auths.push((account.clone(), auth.clone()));
            Ok(auth)
        };
        let mut providers = Providers::default();
        if let Some(s) = &settings.unico_idtoken {
            let auth = auth_for("unico_idtoken", "Unico", &s.account)?;
            let api_key = Secret::read("providers.unico_idtoken.api_key_file", &s.api_key_file)?;
            providers.idtoken = Some(Arc::new(idtoken::IdToken::new(s, api_key, auth)?));
        }
        if let Some(s) = &settings.by_unico {
            let auth = auth_for("by_unico", "Unico", &s.account)?;
            providers.by_unico = Some(Arc::new(by_unico::ByUnico::new(s, auth)?));
        }
        if let Some(s) = &settings.faceverify {
            let api_key = Secret::read("providers.faceverify.api_key_file", &s.api_key_file)?;
            let secret = Secret::read("providers.faceverify.secret_file", &s.secret_file)?;
            providers.faceverify = Some(Arc::new(faceverify::Faceverify::new(s, api_key, secret)?));
        }
        if let Some(s) = &settings.claro {
            let key = Secret::read("providers.claro.key_file", &s.key_file)?;
            let secret = Secret::read("providers.claro.secret_file", &s.secret_file)?;
            providers.claro = Some(Arc::new(claro::Claro::new(s, key, secret)?));
        }
        Ok(providers)
    }
}
