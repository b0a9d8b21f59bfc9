//! The `[status]` section: where the technician status socket lives and who may open it.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Value;

use super::raw::Extra;
use super::values::{invalid, string};
use super::ConfigError;

/// The packaged location of the status socket (systemd's `RuntimeDirectory=spidd`).
pub const DEFAULT_STATUS_SOCKET: &str = "/run/spidd/status.sock";
/// The group whose members may use the status socket (created by sysusers.d).
pub const DEFAULT_STATUS_GROUP: &str = "spidd-tech";

/// `[status]`: the technician status socket.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusSettings {
    /// `status.socket`, default `/run/spidd/status.sock`. `None` under `--simulate` when not
    /// configured: the socket then goes in the data directory.
    pub socket: Option<PathBuf>,
    /// `status.mode`, permission bits of the socket file, default `0660`.
    pub mode: u32,
    /// `status.group`, default `spidd-tech`.
    pub group: String,
}

impl StatusSettings {
    /// The socket path outside simulate mode.
    pub fn socket_path(&self) -> PathBuf {
        self.socket
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATUS_SOCKET))
    }
}

#[derive(Deserialize, Default)]
pub(super) struct RawStatus {
    socket: Option<Value>,
    mode: Option<Value>,
    group: Option<Value>,
    #[serde(flatten)]
    pub(super) extra: Extra,
}

impl RawStatus {
    pub(super) fn validate(self) -> Result<StatusSettings, ConfigError> {
        let socket = string(
            "status.socket",
            self.socket.as_ref(),
            "an absolute socket path such as \"/run/spidd/status.sock\"",
        )?
        .map(PathBuf::from);
        if let Some(path) = &socket {
            if !path.is_absolute() {
                return Err(invalid(
                    "status.socket",
                    "an absolute socket path such as \"/run/spidd/status.sock\"",
                    format!("{:?}", path.display().to_string()),
                ));
            }
        }
        let mode = match &self.mode {
            None => 0o660,
            Some(v) => v
                .as_str()
                .and_then(parse_mode)
                .ok_or_else(|| {
                    invalid(
                        "status.mode",
                        "octal permission bits as a string, from \"0600\" to \"0666\", such as \"0660\"",
                        v.to_string(),
                    )
                })?,
        };
        let group = match string("status.group", self.group.as_ref(), "a group name")? {
            None => DEFAULT_STATUS_GROUP.to_string(),
            Some(g) if is_group_name(&g) => g,
            Some(g) => {
                return Err(invalid(
                    "status.group",
                    "a group name (letters, digits, '_', '-', '.'), such as \"spidd-tech\"",
                    format!("{g:?}"),
                ))
            }
        };
        Ok(StatusSettings {
            socket,
            mode,
            group,
        })
    }
}

/// `"0660"` or `"660"`: read and write bits only (a socket needs no execute bit), and the
/// owner must keep read and write so the daemon's own tools work.
fn parse_mode(text: &str) -> Option<u32> {
    let digits = text
        .strip_prefix('0')
        .filter(|d| d.len() == 3)
        .unwrap_or(text);
    if digits.len() != 3 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    let mode = u32::from_str_radix(digits, 8).ok()?;
    (mode & 0o111 == 0 && mode & 0o600 == 0o600).then_some(mode)
}

fn is_group_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StatusSettings, ConfigError> {
        let value: Value = toml::from_str(text).unwrap();
        let raw: RawStatus = value.try_into().unwrap();
        raw.validate()
    }

    #[test]
    fn defaults() {
        let s = parse("").unwrap();
        assert_eq!(s.socket, None);
        assert_eq!(s.socket_path(), PathBuf::from(DEFAULT_STATUS_SOCKET));
        assert_eq!(s.mode, 0o660);
        assert_eq!(s.group, "spidd-tech");
    }

    #[test]
    fn values_are_read() {
        let s = parse("socket = \"/tmp/x.sock\"\nmode = \"0600\"\ngroup = \"wheel\"").unwrap();
        assert_eq!(s.socket, Some(PathBuf::from("/tmp/x.sock")));
        assert_eq!(s.mode, 0o600);
        assert_eq!(s.group, "wheel");
        assert_eq!(parse("mode = \"666\"").unwrap().mode, 0o666);
    }

    #[test]
    fn bad_values_name_the_key() {
        for (text, key) in [
            ("socket = \"relative.sock\"", "status.socket"),
            ("socket = 3", "status.socket"),
            ("mode = 660", "status.mode"),
            ("mode = \"0777\"", "status.mode"),
            ("mode = \"0060\"", "status.mode"),
            ("mode = \"0698\"", "status.mode"),
            ("group = \"bad group\"", "status.group"),
            ("group = \"\"", "status.group"),
        ] {
            match parse(text) {
                Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
