//! Typed readers for single config values; each error names the key and the expected form.

use std::collections::BTreeSet;
use std::time::Duration;

use state_machine::{Finger, Position};
use toml::Value;

use super::duration::{format_duration, parse_duration};
use super::ConfigError;

pub(super) fn invalid(
    key: &str,
    expected: impl Into<String>,
    got: impl Into<String>,
) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        expected: expected.into(),
        got: got.into(),
    }
}

/// How a TOML value reads in an error message (strings quoted, tables inline).
fn shown(value: &Value) -> String {
    match value {
        Value::Table(t) if t.is_empty() => "{}".to_string(),
        Value::Table(_) => "a table".to_string(),
        other => other.to_string(),
    }
}

pub(super) fn duration(
    key: &str,
    value: Option<&Value>,
    default: Duration,
    min: Duration,
    max: Duration,
) -> Result<Duration, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    let expected = || {
        format!(
            "a duration from {} to {} such as \"30s\", \"500ms\", \"2m\" or \"7d\"",
            format_duration(min),
            format_duration(max)
        )
    };
    let parsed = match value {
        Value::String(s) => parse_duration(s),
        _ => None,
    };
    match parsed {
        Some(d) if d >= min && d <= max => Ok(d),
        _ => Err(invalid(key, expected(), shown(value))),
    }
}

pub(super) fn integer(
    key: &str,
    value: Option<&Value>,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    match value {
        None => Ok(default),
        Some(Value::Integer(i)) if (min..=max).contains(i) => Ok(*i),
        Some(other) => Err(invalid(
            key,
            format!("an integer from {min} to {max}"),
            shown(other),
        )),
    }
}

pub(super) fn boolean(
    key: &str,
    value: Option<&Value>,
    default: bool,
) -> Result<bool, ConfigError> {
    match value {
        None => Ok(default),
        Some(Value::Boolean(b)) => Ok(*b),
        Some(other) => Err(invalid(key, "true or false", shown(other))),
    }
}

/// A non-empty string; `None` when the key is absent.
pub(super) fn string(
    key: &str,
    value: Option<&Value>,
    what: &str,
) -> Result<Option<String>, ConfigError> {
    match value {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(other) => Err(invalid(key, what, shown(other))),
    }
}

/// One of `choices` (exact, lower case); returns the index of the choice.
pub(super) fn choice(
    key: &str,
    value: Option<&Value>,
    default: usize,
    choices: &[&str],
) -> Result<usize, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    let found = match value {
        Value::String(s) => choices.iter().position(|c| c == s),
        _ => None,
    };
    found.ok_or_else(|| {
        let list: Vec<String> = choices.iter().map(|c| format!("\"{c}\"")).collect();
        invalid(key, format!("one of {}", list.join(", ")), shown(value))
    })
}

/// A non-empty list of distinct position indexes; `lowest` is 0 when the face is allowed.
fn indexes(key: &str, value: &Value, lowest: i64) -> Result<Vec<u8>, ConfigError> {
    let what = if lowest == 0 {
        "face 0 or finger 1 to 10"
    } else {
        "finger 1 to 10"
    };
    let expected = format!("a non-empty list of distinct positions ({what}), such as [2, 7]");
    let fail = || invalid(key, expected.clone(), shown(value));
    let Value::Array(items) = value else {
        return Err(fail());
    };
    if items.is_empty() {
        return Err(fail());
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::Integer(i) if (lowest..=10).contains(i) && seen.insert(*i) => out.push(*i as u8),
            _ => return Err(fail()),
        }
    }
    Ok(out)
}

pub(super) fn fingers(
    key: &str,
    value: Option<&Value>,
    default: &[u8],
) -> Result<Vec<Finger>, ConfigError> {
    let codes = match value {
        None => default.to_vec(),
        Some(v) => indexes(key, v, 1)?,
    };
    Ok(codes.into_iter().filter_map(Finger::new).collect())
}

pub(super) fn positions(
    key: &str,
    value: Option<&Value>,
    default: &[u8],
) -> Result<Vec<Position>, ConfigError> {
    let codes = match value {
        None => default.to_vec(),
        Some(v) => indexes(key, v, 0)?,
    };
    Ok(codes.into_iter().filter_map(Position::from_index).collect())
}
