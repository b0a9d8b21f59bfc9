//! `[remote]` and `[providers.*]`: which service creates remote captures, and the optional
//! cloud identity providers (`../shared/spec/providers.md`). Secrets are never values here:
//! each is a `*_file` key, else the systemd credential of the documented name.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Value;

use super::raw::{path, section, Extra};
use super::values::{choice, duration, invalid, string};
use super::{ConfigError, Environment};

/// Who creates remote captures and answers their results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteProvider {
    /// The SPID Server's `/remote-capture/*` operations (the default).
    Spid,
    /// by Unico processes (`[providers.by_unico]`).
    Unico,
    /// faceverify.ai sessions (`[providers.faceverify]`); results are recorded by the operator.
    Faceverify,
}

impl RemoteProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            RemoteProvider::Spid => "spid",
            RemoteProvider::Unico => "unico",
            RemoteProvider::Faceverify => "faceverify",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RemoteSettings {
    /// `remote.provider`: `spid` (default), `unico` or `faceverify`.
    pub provider: RemoteProvider,
    /// `remote.poll_initial` / `remote.poll_max`: backoff between two questions about one
    /// pending remote result (doubling, ±20 % jitter). Defaults 2 s and 60 s.
    pub poll_initial: Duration,
    pub poll_max: Duration,
}

/// A Unico service account (RFC 7523 JWT-bearer grant), shared by IDToken and by Unico.
#[derive(Clone, Debug, PartialEq)]
pub struct UnicoAccount {
    /// `service_account`: the account name, before `@` in the issuer.
    pub service_account: String,
    /// `tenant`: the issuer is `<service_account>@<tenant>.iam.acesso.io`.
    pub tenant: String,
    /// `identity_url`: the token audience; the token endpoint is `<identity_url>/oauth2/token`.
    pub identity_url: String,
    /// `private_key_file`: PEM (PKCS#8) RSA key, else credential `unico-private-key`.
    pub private_key_file: PathBuf,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ByUnicoSettings {
    pub account: UnicoAccount,
    /// `base_url`, e.g. `https://api.cadastro.unico.app`.
    pub base_url: String,
    /// `flow`, default `idlive`.
    pub flow: String,
    /// `purpose`: the process purpose agreed with Unico (required).
    pub purpose: String,
    /// `expires_in`: the process's lifetime, default 1 h.
    pub expires_in: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FaceverifySettings {
    /// `base_url`, default `https://start.faceverify.ai`; sessions at `/api/v1/session`.
    pub base_url: String,
    /// `country`, default `BR`.
    pub country: String,
    /// `api_key_file`, else credential `faceverify-api-key`.
    pub api_key_file: PathBuf,
    /// `secret_file`, else credential `faceverify-secret`.
    pub secret_file: PathBuf,
}

#[derive(Clone, Debug, PartialEq)]
pub struct IdTokenSettings {
    pub account: UnicoAccount,
    /// `api_url`, default `https://api.id.unico.app`; calls `POST <api_url>/processes/v1`.
    pub api_url: String,
    /// `api_key_file`, else credential `unico-api-key`.
    pub api_key_file: PathBuf,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClaroSettings {
    /// `base_url`, default `https://api.claro.com.br`.
    pub base_url: String,
    /// `key_file` / `secret_file`, else credentials `claro-key` / `claro-secret`.
    pub key_file: PathBuf,
    pub secret_file: PathBuf,
}

/// Every provider is off unless its section is present.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ProviderSettings {
    pub by_unico: Option<ByUnicoSettings>,
    pub faceverify: Option<FaceverifySettings>,
    pub unico_idtoken: Option<IdTokenSettings>,
    pub claro: Option<ClaroSettings>,
}

#[derive(Deserialize, Default)]
struct RawRemote {
    provider: Option<Value>,
    poll_initial: Option<Value>,
    poll_max: Option<Value>,
    #[serde(flatten)]
    extra: Extra,
}

#[derive(Deserialize, Default)]
struct RawProviders {
    by_unico: Option<Value>,
    faceverify: Option<Value>,
    unico_idtoken: Option<Value>,
    claro: Option<Value>,
    #[serde(flatten)]
    extra: Extra,
}

/// Every key any provider section may hold; each section checks the ones it needs and
/// refuses the others by name.
#[derive(Deserialize, Default)]
struct RawProvider {
    base_url: Option<Value>,
    api_url: Option<Value>,
    identity_url: Option<Value>,
    service_account: Option<Value>,
    tenant: Option<Value>,
    private_key_file: Option<Value>,
    api_key_file: Option<Value>,
    secret_file: Option<Value>,
    key_file: Option<Value>,
    flow: Option<Value>,
    purpose: Option<Value>,
    expires_in: Option<Value>,
    country: Option<Value>,
    #[serde(flatten)]
    extra: Extra,
}

pub(super) fn validate(
    remote: Option<Value>,
    providers: Option<Value>,
    env: &Environment,
) -> Result<(RemoteSettings, ProviderSettings), ConfigError> {
    let remote: RawRemote = section("remote", remote, |r: &RawRemote| &r.extra)?;
    let raw: RawProviders = section("providers", providers, |r: &RawProviders| &r.extra)?;
    let settings = ProviderSettings {
        by_unico: provider_section("providers.by_unico", raw.by_unico, |p, k| {
            by_unico(p, k, env)
        })?,
        faceverify: provider_section("providers.faceverify", raw.faceverify, |p, k| {
            faceverify(p, k, env)
        })?,
        unico_idtoken: provider_section("providers.unico_idtoken", raw.unico_idtoken, |p, k| {
            idtoken(p, k, env)
        })?,
        claro: provider_section("providers.claro", raw.claro, |p, k| claro(p, k, env))?,
    };
    let provider = [
        RemoteProvider::Spid,
        RemoteProvider::Unico,
        RemoteProvider::Faceverify,
    ][choice(
        "remote.provider",
        remote.provider.as_ref(),
        0,
        &["spid", "unico", "faceverify"],
    )?];
    let needs = match provider {
        RemoteProvider::Unico if settings.by_unico.is_none() => Some("providers.by_unico"),
        RemoteProvider::Faceverify if settings.faceverify.is_none() => Some("providers.faceverify"),
        _ => None,
    };
    if let Some(section) = needs {
        return Err(invalid(
            "remote.provider",
            format!("a provider whose section [{section}] is configured"),
            format!("\"{}\"", provider.as_str()),
        ));
    }
    let poll_initial = duration(
        "remote.poll_initial",
        remote.poll_initial.as_ref(),
        Duration::from_secs(2),
        Duration::from_millis(10),
        Duration::from_secs(3600),
    )?;
    let poll_max = duration(
        "remote.poll_max",
        remote.poll_max.as_ref(),
        Duration::from_secs(60),
        Duration::from_millis(10),
        Duration::from_secs(86_400),
    )?;
    if poll_max < poll_initial {
        return Err(invalid(
            "remote.poll_max",
            "a duration not shorter than remote.poll_initial",
            super::format_duration(poll_max),
        ));
    }
    Ok((
        RemoteSettings {
            provider,
            poll_initial,
            poll_max,
        },
        settings,
    ))
}

/// Reads `[name]` (absent: provider off) and hands it to `build` with its key prefix.
fn provider_section<T>(
    name: &str,
    value: Option<Value>,
    build: impl FnOnce(RawProvider, &dyn Fn(&str) -> String) -> Result<T, ConfigError>,
) -> Result<Option<T>, ConfigError> {
    if value.is_none() {
        return Ok(None);
    }
    let raw: RawProvider = section(name, value, |r: &RawProvider| &r.extra)?;
    let key = |k: &str| format!("{name}.{k}");
    build(raw, &key).map(Some)
}

/// Refuses keys of other provider sections by their full name.
fn only(
    key: &dyn Fn(&str) -> String,
    given: &[(&str, &Option<Value>)],
    allowed: &[&str],
) -> Result<(), ConfigError> {
    match given
        .iter()
        .find(|(name, v)| v.is_some() && !allowed.contains(name))
    {
        Some((name, _)) => Err(ConfigError::UnknownKey { key: key(name) }),
        None => Ok(()),
    }
}

fn given(p: &RawProvider) -> Vec<(&'static str, &Option<Value>)> {
    vec![
        ("base_url", &p.base_url),
        ("api_url", &p.api_url),
        ("identity_url", &p.identity_url),
        ("service_account", &p.service_account),
        ("tenant", &p.tenant),
        ("private_key_file", &p.private_key_file),
        ("api_key_file", &p.api_key_file),
        ("secret_file", &p.secret_file),
        ("key_file", &p.key_file),
        ("flow", &p.flow),
        ("purpose", &p.purpose),
        ("expires_in", &p.expires_in),
        ("country", &p.country),
    ]
}

fn url(key: &str, value: Option<&Value>, default: &str) -> Result<String, ConfigError> {
    match value {
        None => Ok(default.to_string()),
        Some(v) => super::raw::http_url(key, v),
    }
}

fn required(key: &str, value: Option<&Value>, what: &str) -> Result<String, ConfigError> {
    string(key, value, what)?.ok_or_else(|| invalid(key, what, "nothing"))
}

/// `<key>` when set, else `$CREDENTIALS_DIRECTORY/<credential>`, else
/// `$CREDENTIALS_DIRECTORY/providers_<credential>` (the unit loads the directory
/// `/etc/spidd/credentials/providers` as `providers_<file>`), whichever exists.
fn secret(
    key: &str,
    value: Option<&Value>,
    credential: &str,
    env: &Environment,
) -> Result<PathBuf, ConfigError> {
    if let Some(p) = path(key, value)? {
        return Ok(p);
    }
    env.credentials_directory
        .as_ref()
        .and_then(|dir| {
            [credential.to_string(), format!("providers_{credential}")]
                .into_iter()
                .map(|name| dir.join(name))
                .find(|p| p.is_file())
        })
        .ok_or_else(|| {
            invalid(
                key,
                format!("a file holding the secret, or the systemd credential `{credential}`"),
                "nothing",
            )
        })
}

fn account(
    p: &RawProvider,
    key: &dyn Fn(&str) -> String,
    env: &Environment,
) -> Result<UnicoAccount, ConfigError> {
    let name = |k: &str, what: &str, v: Option<&Value>| -> Result<String, ConfigError> {
        let s = required(&key(k), v, what)?;
        if s.contains(['@', '/', ' ']) {
            return Err(invalid(&key(k), what, format!("\"{s}\"")));
        }
        Ok(s)
    };
    Ok(UnicoAccount {
        service_account: name(
            "service_account",
            "the service account name (before @ in the issuer)",
            p.service_account.as_ref(),
        )?,
        tenant: name(
            "tenant",
            "the tenant id (the issuer is <account>@<tenant>.iam.acesso.io)",
            p.tenant.as_ref(),
        )?,
        identity_url: url(
            &key("identity_url"),
            p.identity_url.as_ref(),
            "https://identity.acesso.io",
        )?,
        private_key_file: secret(
            &key("private_key_file"),
            p.private_key_file.as_ref(),
            "unico-private-key",
            env,
        )?,
    })
}

fn by_unico(
    p: RawProvider,
    key: &dyn Fn(&str) -> String,
    env: &Environment,
) -> Result<ByUnicoSettings, ConfigError> {
    only(
        key,
        &given(&p),
        &[
            "base_url",
            "identity_url",
            "service_account",
            "tenant",
            "private_key_file",
            "flow",
            "purpose",
            "expires_in",
        ],
    )?;
    Ok(ByUnicoSettings {
        account: account(&p, key, env)?,
        base_url: url(
            &key("base_url"),
            p.base_url.as_ref(),
            "https://api.cadastro.unico.app",
        )?,
        flow: string(
            &key("flow"),
            p.flow.as_ref(),
            "a flow name such as \"idlive\"",
        )?
        .unwrap_or_else(|| "idlive".to_string()),
        purpose: required(
            &key("purpose"),
            p.purpose.as_ref(),
            "the process purpose agreed with Unico, such as \"creditprocess\"",
        )?,
        expires_in: duration(
            &key("expires_in"),
            p.expires_in.as_ref(),
            Duration::from_secs(3600),
            Duration::from_secs(60),
            Duration::from_secs(7 * 86_400),
        )?,
    })
}

fn faceverify(
    p: RawProvider,
    key: &dyn Fn(&str) -> String,
    env: &Environment,
) -> Result<FaceverifySettings, ConfigError> {
    only(
        key,
        &given(&p),
        &["base_url", "country", "api_key_file", "secret_file"],
    )?;
    let country = string(
        &key("country"),
        p.country.as_ref(),
        "a two-letter country code such as \"BR\"",
    )?
    .unwrap_or_else(|| "BR".to_string());
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(invalid(
            &key("country"),
            "a two-letter country code such as \"BR\"",
            format!("\"{country}\""),
        ));
    }
    Ok(FaceverifySettings {
        base_url: url(
            &key("base_url"),
            p.base_url.as_ref(),
            "https://start.faceverify.ai",
        )?,
        country,
        api_key_file: secret(
            &key("api_key_file"),
            p.api_key_file.as_ref(),
            "faceverify-api-key",
            env,
        )?,
        secret_file: secret(
            &key("secret_file"),
            p.secret_file.as_ref(),
            "faceverify-secret",
            env,
        )?,
    })
}

fn idtoken(
    p: RawProvider,
    key: &dyn Fn(&str) -> String,
    env: &Environment,
) -> Result<IdTokenSettings, ConfigError> {
    only(
        key,
        &given(&p),
        &[
            "api_url",
            "identity_url",
            "service_account",
            "tenant",
            "private_key_file",
            "api_key_file",
        ],
    )?;
    Ok(IdTokenSettings {
        account: account(&p, key, env)?,
        api_url: url(
            &key("api_url"),
            p.api_url.as_ref(),
            "https://api.id.unico.app",
        )?,
        api_key_file: secret(
            &key("api_key_file"),
            p.api_key_file.as_ref(),
            "unico-api-key",
            env,
        )?,
    })
}

fn claro(
    p: RawProvider,
    key: &dyn Fn(&str) -> String,
    env: &Environment,
) -> Result<ClaroSettings, ConfigError> {
    only(key, &given(&p), &["base_url", "key_file", "secret_file"])?;
    Ok(ClaroSettings {
        base_url: url(
            &key("base_url"),
            p.base_url.as_ref(),
            "https://api.claro.com.br",
        )?,
        key_file: secret(&key("key_file"), p.key_file.as_ref(), "claro-key", env)?,
        secret_file: secret(
            &key("secret_file"),
            p.secret_file.as_ref(),
            "claro-secret",
            env,
        )?,
    })
}

#[cfg(test)]
#[path = "providers_tests.rs"]
mod tests;
