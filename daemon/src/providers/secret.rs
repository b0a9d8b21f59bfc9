//! Secrets read from files (or systemd credentials): never printed, never in a `Debug`.

use std::path::Path;

use crate::config::ConfigError;

/// A secret value. `Debug` and `Display` show nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Reads `path` (the value of config key `key`), trailing newline stripped; an empty file
    /// is refused because it can only be a mistake.
    pub fn read(key: &str, path: &Path) -> Result<Secret, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::SecretFile {
            key: key.to_string(),
            path: path.to_path_buf(),
            source,
        })?;
        let value = text.trim_end_matches(['\r', '\n']).to_string();
        if value.trim().is_empty() {
            return Err(ConfigError::Invalid {
                key: key.to_string(),
                expected: "a file holding the secret".to_string(),
                got: format!("{} (empty)", path.display()),
            });
        }
        Ok(Secret(value))
    }

    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
    }
}
