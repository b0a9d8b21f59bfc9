//! Phase one: the file as written (every key optional, unknown keys collected), then phase
//! two: validation into [`Config`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Value;

use super::values::{boolean, choice, duration, fingers, integer, invalid, positions, string};
use super::*;

/// Keys nobody reads end up in `extra`: a typo must stop the daemon, not be ignored. (The
/// sections use `flatten` instead of `deny_unknown_fields` so that the error can name the
/// whole key, `api.lisen`, not just `lisen`.)
pub(super) type Extra = BTreeMap<String, Value>;

#[derive(Deserialize, Default)]
pub(super) struct RawConfig {
    api: Option<Value>,
    upstream: Option<Value>,
    capture: Option<Value>,
    operator: Option<Value>,
    outbox: Option<Value>,
    devices: Option<Value>,
    log: Option<Value>,
    status: Option<Value>,
    remote: Option<Value>,
    providers: Option<Value>,
    #[serde(flatten)]
    extra: Extra,
}

#[derive(Deserialize, Default)]
struct RawApi {
    listen: Option<Value>,
    token_file: Option<Value>,
    #[serde(flatten)]
    extra: Extra,
}

#[derive(Deserialize, Default)]
struct RawUpstream {
    url: Option<Value>,
    username: Option<Value>,
    password_file: Option<Value>,
    token_path: Option<Value>,
    connect_timeout: Option<Value>,
    request_timeout: Option<Value>,
    ca_bundle: Option<Value>,
    #[serde(flatten)]
    extra: Extra,
}

#[derive(Deserialize, Default)]
struct RawCapture {
    timeout: Option<Value>,
    max_attempts: Option<Value>,
    finger_quality_threshold: Option<Value>,
    face_quality_threshold: Option<Value>,
    enroll_plan: Option<Value>,
    verify_face: Option<Value>,
    verify_fingers: Option<Value>,
    format: Option<Value>,
    #[serde(flatten)]
    extra: Extra,
}

#[derive(Deserialize, Default)]
struct RawOperator {
    offline_max_age: Option<Value>,
    max_attempts: Option<Value>,
    enroll_fingers: Option<Value>,
    #[serde(flatten)]
    extra: Extra,
}

#[derive(Deserialize, Default)]
struct RawOutbox {
    data_dir: Option<Value>,
    retry_initial: Option<Value>,
    retry_max: Option<Value>,
    resend_cron: Option<Value>,
    resend_concurrency: Option<Value>,
    key_file: Option<Value>,
    retention: Option<Value>,
    #[serde(flatten)]
    extra: Extra,
}

#[derive(Deserialize, Default)]
struct RawDevices {
    fingerprint: Option<Value>,
    camera: Option<Value>,
    #[serde(flatten)]
    extra: Extra,
}

#[derive(Deserialize, Default)]
struct RawLog {
    level: Option<Value>,
    format: Option<Value>,
    #[serde(flatten)]
    extra: Extra,
}

fn no_extra(section: &str, extra: &Extra) -> Result<(), ConfigError> {
    match extra.keys().next() {
        None => Ok(()),
        Some(k) if section.is_empty() => Err(ConfigError::UnknownKey { key: k.clone() }),
        Some(k) => Err(ConfigError::UnknownKey {
            key: format!("{section}.{k}"),
        }),
    }
}

/// Reads one `[section]`: it must be a table and hold only known keys.
pub(super) fn section<T: for<'de> Deserialize<'de> + Default>(
    name: &str,
    value: Option<Value>,
    extra: impl Fn(&T) -> &Extra,
) -> Result<T, ConfigError> {
    let Some(value) = value else {
        return Ok(T::default());
    };
    if !value.is_table() {
        return Err(invalid(name, "a table", value.to_string()));
    }
    let raw: T = value.try_into().map_err(|e: toml::de::Error| {
        invalid(name, "a table of known keys", e.message().to_string())
    })?;
    no_extra(name, extra(&raw))?;
    Ok(raw)
}

pub(super) fn path(key: &str, value: Option<&Value>) -> Result<Option<PathBuf>, ConfigError> {
    Ok(string(key, value, "a file path")?.map(PathBuf::from))
}

impl RawConfig {
    pub(super) fn parse(text: &str, origin: &str) -> Result<RawConfig, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            origin: origin.to_string(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        no_extra("", &raw.extra)?;
        Ok(raw)
    }

    pub(super) fn validate(self, env: &Environment) -> Result<Config, ConfigError> {
        let api: RawApi = section("api", self.api, |r: &RawApi| &r.extra)?;
        let upstream: RawUpstream = section("upstream", self.upstream, |r: &RawUpstream| &r.extra)?;
        let capture: RawCapture = section("capture", self.capture, |r: &RawCapture| &r.extra)?;
        let operator: RawOperator = section("operator", self.operator, |r: &RawOperator| &r.extra)?;
        let outbox: RawOutbox = section("outbox", self.outbox, |r: &RawOutbox| &r.extra)?;
        let devices: RawDevices = section("devices", self.devices, |r: &RawDevices| &r.extra)?;
        let log: RawLog = section("log", self.log, |r: &RawLog| &r.extra)?;
        let status: super::status::RawStatus =
            section("status", self.status, |r: &super::status::RawStatus| {
                &r.extra
            })?;
        let (remote, providers) = super::providers::validate(self.remote, self.providers, env)?;
        Ok(Config {
            remote,
            providers,
            api: api.validate()?,
            upstream: upstream.validate(env)?,
            capture: capture.validate()?,
            operator: operator.validate()?,
            outbox: outbox.validate(env)?,
            devices: DeviceSettings {
                fingerprint: string(
                    "devices.fingerprint",
                    devices.fingerprint.as_ref(),
                    "a device id string",
                )?,
                camera: string(
                    "devices.camera",
                    devices.camera.as_ref(),
                    "a device id string",
                )?,
            },
            log: log.validate()?,
            status: status.validate()?,
        })
    }
}

const MS: fn(u64) -> Duration = Duration::from_millis;
const SECS: fn(u64) -> Duration = Duration::from_secs;
const DAY: u64 = 86_400;

impl RawApi {
    fn validate(self) -> Result<ApiSettings, ConfigError> {
        let listen = match &self.listen {
            None => SocketAddr::from(([127, 0, 0, 1], 19980)),
            Some(v) => v.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
                invalid(
                    "api.listen",
                    "an IP address and port such as \"127.0.0.1:19980\"",
                    v.to_string(),
                )
            })?,
        };
        Ok(ApiSettings {
            listen,
            token_file: path("api.token_file", self.token_file.as_ref())?,
        })
    }
}

pub(super) fn http_url(key: &str, value: &Value) -> Result<String, ConfigError> {
    let expected =
        "an http:// or https:// URL such as \"https://spid.example:8444/gbs-spid-server\"";
    let text = value
        .as_str()
        .ok_or_else(|| invalid(key, expected, value.to_string()))?;
    match reqwest::Url::parse(text) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https")
                && u.host().is_some()
                && u.query().is_none() =>
        {
            Ok(text.trim_end_matches('/').to_string())
        }
        _ => Err(invalid(key, expected, value.to_string())),
    }
}

impl RawUpstream {
    fn validate(self, env: &Environment) -> Result<UpstreamSettings, ConfigError> {
        let url = match &self.url {
            None => "http://127.0.0.1:8082/gbs-spid-server".to_string(),
            Some(v) => http_url("upstream.url", v)?,
        };
        let token_path = match &self.token_path {
            None => "/auth/login".to_string(),
            Some(v @ Value::String(s)) if s.starts_with("http://") || s.starts_with("https://") => {
                http_url("upstream.token_path", v)?
            }
            Some(Value::String(s)) if !s.trim().is_empty() && !s.contains(char::is_whitespace) => {
                format!("/{}", s.trim_start_matches('/'))
            }
            Some(v) => {
                return Err(invalid(
                    "upstream.token_path",
                    "a path relative to upstream.url such as \"/auth/login\", or an http(s) URL",
                    v.to_string(),
                ))
            }
        };
        let password_file = match path("upstream.password_file", self.password_file.as_ref())? {
            Some(p) => Some(p),
            None => env
                .credentials_directory
                .as_ref()
                .map(|dir| dir.join(PASSWORD_CREDENTIAL))
                .filter(|p| p.is_file()),
        };
        let connect_timeout = duration(
            "upstream.connect_timeout",
            self.connect_timeout.as_ref(),
            SECS(5),
            MS(1),
            SECS(300),
        )?;
        let request_timeout = duration(
            "upstream.request_timeout",
            self.request_timeout.as_ref(),
            SECS(30),
            MS(1),
            SECS(3600),
        )?;
        // The request timeout covers the connection too: a longer connect timeout would turn
        // a server that was never reached into an ambiguous "maybe sent".
        if connect_timeout > request_timeout {
            return Err(invalid(
                "upstream.connect_timeout",
                format!(
                    "a duration not longer than upstream.request_timeout ({})",
                    format_duration(request_timeout)
                ),
                format!("\"{}\"", format_duration(connect_timeout)),
            ));
        }
        Ok(UpstreamSettings {
            url,
            username: string(
                "upstream.username",
                self.username.as_ref(),
                "a non-empty user name",
            )?
            .unwrap_or_else(|| "spid".to_string()),
            password_file,
            token_path,
            connect_timeout,
            request_timeout,
            ca_bundle: path("upstream.ca_bundle", self.ca_bundle.as_ref())?,
        })
    }
}

impl RawCapture {
    fn validate(self) -> Result<CaptureSettings, ConfigError> {
        let quality = |key: &str, v: &Option<Value>, default| -> Result<u8, ConfigError> {
            Ok(integer(key, v.as_ref(), default, 0, 100)? as u8)
        };
        Ok(CaptureSettings {
            timeout: duration(
                "capture.timeout",
                self.timeout.as_ref(),
                SECS(30),
                SECS(1),
                SECS(600),
            )?,
            max_attempts: integer("capture.max_attempts", self.max_attempts.as_ref(), 3, 1, 10)?
                as u8,
            finger_quality_threshold: quality(
                "capture.finger_quality_threshold",
                &self.finger_quality_threshold,
                40,
            )?,
            face_quality_threshold: quality(
                "capture.face_quality_threshold",
                &self.face_quality_threshold,
                50,
            )?,
            enroll_plan: positions(
                "capture.enroll_plan",
                self.enroll_plan.as_ref(),
                &[0, 2, 3, 7, 8],
            )?,
            verify_face: boolean("capture.verify_face", self.verify_face.as_ref(), true)?,
            verify_fingers: fingers(
                "capture.verify_fingers",
                self.verify_fingers.as_ref(),
                &[2, 7, 3, 8],
            )?,
            format: [ImageFormat::Png, ImageFormat::Wsq]
                [choice("capture.format", self.format.as_ref(), 1, &["png", "wsq"])?],
        })
    }
}

impl RawOperator {
    fn validate(self) -> Result<OperatorSettings, ConfigError> {
        Ok(OperatorSettings {
            offline_max_age: duration(
                "operator.offline_max_age",
                self.offline_max_age.as_ref(),
                SECS(7 * DAY),
                MS(0),
                SECS(365 * DAY),
            )?,
            max_attempts: integer(
                "operator.max_attempts",
                self.max_attempts.as_ref(),
                3,
                1,
                10,
            )? as u8,
            enroll_fingers: fingers(
                "operator.enroll_fingers",
                self.enroll_fingers.as_ref(),
                &[2, 7],
            )?,
        })
    }
}

impl RawOutbox {
    fn validate(self, env: &Environment) -> Result<OutboxSettings, ConfigError> {
        let data_dir = match path("outbox.data_dir", self.data_dir.as_ref())? {
            Some(p) => p,
            None => env
                .state_directory
                .as_deref()
                .and_then(|dirs| dirs.split(':').find(|d| !d.is_empty()))
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/var/lib/spidd")),
        };
        let retry_initial = duration(
            "outbox.retry_initial",
            self.retry_initial.as_ref(),
            SECS(30),
            MS(10),
            SECS(DAY),
        )?;
        let retry_max = duration(
            "outbox.retry_max",
            self.retry_max.as_ref(),
            SECS(3600),
            MS(10),
            SECS(7 * DAY),
        )?;
        if retry_max < retry_initial {
            return Err(invalid(
                "outbox.retry_max",
                format!(
                    "a duration not shorter than outbox.retry_initial ({})",
                    format_duration(retry_initial)
                ),
                format!("\"{}\"", format_duration(retry_max)),
            ));
        }
        let resend_cron = match &self.resend_cron {
            None => "0 30 2 * * *".to_string(),
            Some(Value::String(s))
                if s.split_whitespace().count() == 6
                    && s.parse::<cron::Schedule>().is_ok() =>
            {
                s.split_whitespace().collect::<Vec<_>>().join(" ")
            }
            Some(v) => {
                return Err(invalid(
                    "outbox.resend_cron",
                    "a cron expression of 6 fields (sec min hour day month weekday) such as \"0 30 2 * * *\"",
                    v.to_string(),
                ))
            }
        };
        Ok(OutboxSettings {
            data_dir,
            retry_initial,
            retry_max,
            resend_cron,
            resend_concurrency: integer(
                "outbox.resend_concurrency",
                self.resend_concurrency.as_ref(),
                4,
                1,
                64,
            )? as usize,
            key_file: path("outbox.key_file", self.key_file.as_ref())?,
            retention: duration(
                "outbox.retention",
                self.retention.as_ref(),
                SECS(7 * DAY),
                MS(0),
                SECS(3650 * DAY),
            )?,
        })
    }
}

impl RawLog {
    fn validate(self) -> Result<LogSettings, ConfigError> {
        let level = match &self.level {
            None => "info".to_string(),
            Some(Value::String(s)) if is_log_filter(s) => s.clone(),
            Some(v) => {
                return Err(invalid(
                    "log.level",
                    "a level (\"error\", \"warn\", \"info\", \"debug\", \"trace\") or filter directives such as \"daemon=debug,info\"",
                    v.to_string(),
                ))
            }
        };
        let format = [LogFormat::Text, LogFormat::Json]
            [choice("log.format", self.format.as_ref(), 0, &["text", "json"])?];
        Ok(LogSettings { level, format })
    }
}

/// A bare word must be a level (a typo like "verbose" would otherwise pass as a target name);
/// directives (`target=level`, lists) are checked by `tracing`'s own parser.
fn is_log_filter(s: &str) -> bool {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let s = s.trim();
    if s.contains('=') || s.contains(',') {
        tracing_subscriber::EnvFilter::try_new(s).is_ok()
    } else {
        LEVELS.contains(&s.to_ascii_lowercase().as_str())
    }
}
