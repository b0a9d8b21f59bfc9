//! spidd's configuration: one TOML file read in two phases, raw serde sections (every key
//! optional, any unknown key refused) then a validated [`Config`] whose errors name the key.

mod duration;
mod providers;
mod raw;
mod status;
mod values;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use state_machine::{Finger, FlowConfig, Position};

pub use duration::{format_duration, parse_duration};
pub use providers::{
    ByUnicoSettings, ClaroSettings, FaceverifySettings, IdTokenSettings, ProviderSettings,
    RemoteProvider, RemoteSettings, UnicoAccount,
};
pub use status::{StatusSettings, DEFAULT_STATUS_GROUP, DEFAULT_STATUS_SOCKET};

/// Where packages install the configuration file.
pub const DEFAULT_PATH: &str = "/etc/spidd/spidd.toml";
/// The name of the systemd credential that holds the upstream password.
pub const PASSWORD_CREDENTIAL: &str = "upstream-password";
/// The outbox database's file name inside `outbox.data_dir`.
pub const DATABASE_FILE: &str = "spidd.db";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: not valid TOML: {message}")]
    Syntax { origin: String, message: String },
    #[error("unknown key `{key}`")]
    UnknownKey { key: String },
    #[error("{key}: expected {expected}, got {got}")]
    Invalid {
        key: String,
        expected: String,
        got: String,
    },
    #[error("{key}: cannot read {path}: {source}")]
    SecretFile {
        key: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The validated configuration. Every field has a default, so an empty file is valid.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub api: ApiSettings,
    pub upstream: UpstreamSettings,
    pub capture: CaptureSettings,
    pub operator: OperatorSettings,
    pub outbox: OutboxSettings,
    pub devices: DeviceSettings,
    pub log: LogSettings,
    /// `[status]`: the technician status socket.
    pub status: StatusSettings,
    /// `[remote]`: who creates remote captures.
    pub remote: RemoteSettings,
    /// `[providers.*]`: the cloud identity providers (all off by default).
    pub providers: ProviderSettings,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApiSettings {
    /// `api.listen`, default `127.0.0.1:19980`.
    pub listen: SocketAddr,
    /// `api.token_file`: when set, every request needs `Authorization: Bearer <token>`.
    pub token_file: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct UpstreamSettings {
    /// `upstream.url`, without a trailing slash (default `http://127.0.0.1:8082/gbs-spid-server`).
    pub url: String,
    /// `upstream.username`, default `spid`.
    pub username: String,
    /// `upstream.password_file`, else `$CREDENTIALS_DIRECTORY/upstream-password` when that
    /// file exists. `None`: no credentials, requests go without a token.
    pub password_file: Option<PathBuf>,
    /// `upstream.token_path`: relative to `url` (leading `/`), or an absolute http(s) URL.
    pub token_path: String,
    /// `upstream.connect_timeout`, default 5 s.
    pub connect_timeout: Duration,
    /// `upstream.request_timeout` (whole request, answer included), default 30 s.
    pub request_timeout: Duration,
    /// `upstream.ca_bundle`: PEM file; when set, ONLY these CAs are trusted.
    pub ca_bundle: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Wsq,
}

impl ImageFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Wsq => "wsq",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CaptureSettings {
    pub timeout: Duration,
    pub max_attempts: u8,
    pub finger_quality_threshold: u8,
    pub face_quality_threshold: u8,
    pub enroll_plan: Vec<Position>,
    pub verify_face: bool,
    pub verify_fingers: Vec<Finger>,
    pub format: ImageFormat,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OperatorSettings {
    pub offline_max_age: Duration,
    pub max_attempts: u8,
    pub enroll_fingers: Vec<Finger>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutboxSettings {
    /// `outbox.data_dir`, else `$STATE_DIRECTORY` (its first entry), else `/var/lib/spidd`.
    pub data_dir: PathBuf,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// Six-field cron expression (seconds first), validated; run in local time.
    pub resend_cron: String,
    pub resend_concurrency: usize,
    /// `outbox.key_file`: the key sealing biometric data at rest. `None`: the systemd
    /// credential `outbox-key` when present, else `<data_dir>/outbox.key`.
    pub key_file: Option<PathBuf>,
    /// `outbox.retention`: how long a delivered transaction keeps its biometric payload.
    pub retention: Duration,
}

impl OutboxSettings {
    /// `<data_dir>/spidd.db`.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(DATABASE_FILE)
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct DeviceSettings {
    /// Pins the fingerprint reader (driver-specific id), else the first found.
    pub fingerprint: Option<String>,
    /// Pins the camera, else the first found.
    pub camera: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LogSettings {
    /// A `tracing` filter: `info`, or directives like `daemon=debug,info`.
    pub level: String,
    pub format: LogFormat,
}

/// The parts of the process environment the configuration depends on (systemd's directories).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Environment {
    /// `$CREDENTIALS_DIRECTORY`.
    pub credentials_directory: Option<PathBuf>,
    /// `$STATE_DIRECTORY` (colon-separated when several; the first one is used).
    pub state_directory: Option<String>,
}

impl Environment {
    pub fn from_process() -> Environment {
        let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        Environment {
            credentials_directory: non_empty("CREDENTIALS_DIRECTORY").map(PathBuf::from),
            state_directory: non_empty("STATE_DIRECTORY").map(|v| v.to_string_lossy().into_owned()),
        }
    }
}

impl Config {
    /// Reads and validates `path`; `None` means no file: the defaults (and the environment).
    /// The packaged location is [`DEFAULT_PATH`]; the caller decides whether to pass it.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let env = Environment::from_process();
        let Some(path) = path else {
            return Config::parse("", "defaults", &env);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string(), &env)
    }

    /// Validates TOML text, with the process environment.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, "config", &Environment::from_process())
    }

    /// Validates TOML text against an explicit environment (tests, tools).
    pub fn from_toml_str_with_env(text: &str, env: &Environment) -> Result<Config, ConfigError> {
        Config::parse(text, "config", env)
    }

    fn parse(text: &str, origin: &str, env: &Environment) -> Result<Config, ConfigError> {
        let raw = raw::RawConfig::parse(text, origin)?;
        raw.validate(env)
    }

    /// The state machine's settings.
    pub fn flow_config(&self) -> FlowConfig {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        FlowConfig {
            enroll_plan: self.capture.enroll_plan.clone(),
            verify_face: self.capture.verify_face,
            verify_fingers: self.capture.verify_fingers.clone(),
            operator_enroll_fingers: self.operator.enroll_fingers.clone(),
            finger_quality_threshold: self.capture.finger_quality_threshold,
            face_quality_threshold: self.capture.face_quality_threshold,
            max_attempts: self.capture.max_attempts,
            capture_timeout: millis(self.capture.timeout),
            operator_max_attempts: self.operator.max_attempts,
            offline_max_age: millis(self.operator.offline_max_age),
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config::from_toml_str_with_env("", &Environment::default()).expect("the defaults are valid")
    }
}

impl UpstreamSettings {
    /// Reads the password file (trailing newline stripped). `Ok(None)` when none is configured.
    pub fn read_password(&self) -> Result<Option<String>, ConfigError> {
        let Some(path) = &self.password_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::SecretFile {
            key: "upstream.password_file".into(),
            path: path.clone(),
            source,
        })?;
        Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()))
    }
}

#[cfg(test)]
mod tests;
