//! Injected upstream faults: the mode set through `POST /sim/upstream` and the per-request
//! decision it implies (drop the connection, answer 503, delay, garble, reset after the body).

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How the upstream behaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpstreamMode {
    /// Normal service (`latency_ms` still applies).
    #[default]
    #[serde(rename = "up")]
    Up,
    /// Every request's connection is dropped as soon as its head is read, with no answer, as a
    /// dead backend behind a TCP proxy looks. Nothing is processed or recorded.
    #[serde(rename = "down")]
    Down,
    /// Normal service, answered after `latency_ms` (the work is done before the wait).
    #[serde(rename = "slow")]
    Slow,
    /// The request is read and processed (state stored, request recorded), then the connection
    /// is dropped before any answer.
    #[serde(rename = "reset_after_body")]
    ResetAfterBody,
    /// `503` with an `ErrorResponse`; nothing is processed or recorded.
    #[serde(rename = "error_5xx")]
    Error5xx,
    /// A seeded random mix of normal answers, timeouts, resets after the body and 5xx bursts.
    #[serde(rename = "flaky")]
    Flaky,
    /// Requests are processed, but JSON answers are cut in half (invalid JSON).
    #[serde(rename = "malformed_json")]
    MalformedJson,
}

/// The fault configuration; every field has a default so a control body may name only some.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultConfig {
    pub mode: UpstreamMode,
    /// Added before every answer in any mode (the `slow` mode's delay).
    pub latency_ms: u64,
    /// How long a flaky "timeout" holds the answer back.
    pub timeout_ms: u64,
    /// Seed of the flaky mode's random choices (the same seed gives the same sequence).
    pub seed: u64,
    pub p_timeout: f64,
    pub p_reset: f64,
    pub p_5xx: f64,
    /// A flaky 5xx lasts this many consecutive requests.
    pub burst: u32,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            mode: UpstreamMode::Up,
            latency_ms: 0,
            timeout_ms: 60_000,
            seed: 0,
            p_timeout: 0.1,
            p_reset: 0.1,
            p_5xx: 0.1,
            burst: 3,
        }
    }
}

/// The body of `POST /sim/upstream`: a fault configuration, or the mode `expire_tokens`
/// (also `"expire_tokens": true`) which revokes every token and keeps the current mode.
#[derive(Clone, Debug, Deserialize)]
pub struct FaultRequest {
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub expire_tokens: bool,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

impl FaultRequest {
    /// The new configuration (None: keep the current one) and whether to expire tokens.
    pub fn resolve(self) -> Result<(Option<FaultConfig>, bool), String> {
        let mut expire = self.expire_tokens;
        let mut fields = self.rest;
        match self.mode.as_deref() {
            Some("expire_tokens") => {
                expire = true;
                if fields.is_empty() {
                    return Ok((None, expire));
                }
            }
            Some(mode) => {
                fields.insert("mode".into(), serde_json::Value::String(mode.into()));
            }
            None if fields.is_empty() => return Ok((None, expire)),
            None => {}
        }
        let config: FaultConfig =
            serde_json::from_value(serde_json::Value::Object(fields)).map_err(|e| e.to_string())?;
        for p in [config.p_timeout, config.p_reset, config.p_5xx] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("probability {p} is not within 0..=1"));
            }
        }
        if config.p_timeout + config.p_reset + config.p_5xx > 1.0 {
            return Err("p_timeout + p_reset + p_5xx exceed 1".into());
        }
        Ok((Some(config), expire))
    }
}

/// What to do with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Process it; answer after `delay`; garble JSON answers when `garble`.
    Answer { delay: Duration, garble: bool },
    /// Drop the connection without processing.
    Drop,
    /// Answer 503 without processing.
    Unavailable,
    /// Process it, then drop the connection without answering.
    ResetAfterBody,
}

#[derive(Debug)]
pub struct FaultState {
    config: FaultConfig,
    rng: ChaCha8Rng,
    burst_left: u32,
}

impl Default for FaultState {
    fn default() -> Self {
        FaultState::new(FaultConfig::default())
    }
}

impl FaultState {
    pub fn new(config: FaultConfig) -> Self {
        FaultState {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            burst_left: 0,
        }
    }

    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// Decides the fate of the next request (advances the flaky sequence).
    pub fn next_action(&mut self) -> Action {
        let delay = Duration::from_millis(self.config.latency_ms);
        let answer = Action::Answer {
            delay,
            garble: false,
        };
        match self.config.mode {
            UpstreamMode::Up | UpstreamMode::Slow => answer,
            UpstreamMode::Down => Action::Drop,
            UpstreamMode::ResetAfterBody => Action::ResetAfterBody,
            UpstreamMode::Error5xx => Action::Unavailable,
            UpstreamMode::MalformedJson => Action::Answer {
                delay,
                garble: true,
            },
            UpstreamMode::Flaky => {
                if self.burst_left > 0 {
                    self.burst_left -= 1;
                    return Action::Unavailable;
                }
                let c = &self.config;
                let r: f64 = self.rng.gen();
                if r < c.p_timeout {
                    Action::Answer {
                        delay: delay + Duration::from_millis(c.timeout_ms),
                        garble: false,
                    }
                } else if r < c.p_timeout + c.p_reset {
                    Action::ResetAfterBody
                } else if r < c.p_timeout + c.p_reset + c.p_5xx {
                    self.burst_left = c.burst.saturating_sub(1);
                    Action::Unavailable
                } else {
                    answer
                }
            }
        }
    }
}

/// A JSON answer cut in half: never valid JSON for an object or array body.
pub fn garble(body: &[u8]) -> Vec<u8> {
    body[..(body.len() / 2).max(1).min(body.len())].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> FaultRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn parses_control_bodies() {
        let (c, e) = request(r#"{"mode":"slow","latency_ms":250}"#)
            .resolve()
            .unwrap();
        let c = c.unwrap();
        assert_eq!((c.mode, c.latency_ms, e), (UpstreamMode::Slow, 250, false));
        let (c, e) = request(r#"{"mode":"error_5xx"}"#).resolve().unwrap();
        assert_eq!((c.unwrap().mode, e), (UpstreamMode::Error5xx, false));
        let (c, e) = request(r#"{"mode":"expire_tokens"}"#).resolve().unwrap();
        assert_eq!((c, e), (None, true));
        assert!(request(r#"{"mode":"sideways"}"#).resolve().is_err());
        assert!(request(r#"{"mode":"flaky","p_5xx":0.9,"p_reset":0.5}"#)
            .resolve()
            .is_err());
    }

    #[test]
    fn fixed_modes_decide_the_same_every_time() {
        let mut s = FaultState::new(FaultConfig {
            mode: UpstreamMode::Down,
            ..FaultConfig::default()
        });
        assert_eq!(s.next_action(), Action::Drop);
        let mut s = FaultState::new(FaultConfig {
            mode: UpstreamMode::Slow,
            latency_ms: 40,
            ..FaultConfig::default()
        });
        assert_eq!(
            s.next_action(),
            Action::Answer {
                delay: Duration::from_millis(40),
                garble: false
            }
        );
    }

    #[test]
    fn flaky_is_seeded_and_mixes_outcomes_with_5xx_bursts() {
        let config = FaultConfig {
            mode: UpstreamMode::Flaky,
            seed: 7,
            p_timeout: 0.2,
            p_reset: 0.2,
            p_5xx: 0.2,
            burst: 3,
            ..FaultConfig::default()
        };
        let run = |c: &FaultConfig| {
            let mut s = FaultState::new(c.clone());
            (0..400).map(|_| s.next_action()).collect::<Vec<_>>()
        };
        let a = run(&config);
        assert_eq!(a, run(&config));
        let count = |f: &dyn Fn(&Action) -> bool| a.iter().filter(|x| f(x)).count();
        let timeouts = count(
            &|x| matches!(x, Action::Answer { delay, .. } if *delay >= Duration::from_secs(60)),
        );
        let resets = count(&|x| *x == Action::ResetAfterBody);
        let errors = count(&|x| *x == Action::Unavailable);
        let ok = count(&|x| {
            *x == Action::Answer {
                delay: Duration::ZERO,
                garble: false,
            }
        });
        assert!(
            timeouts > 20 && resets > 20 && errors > 60 && ok > 60,
            "{timeouts} {resets} {errors} {ok}"
        );
        // Every 5xx that starts a burst is followed by burst-1 more.
        let first = a.iter().position(|x| *x == Action::Unavailable).unwrap();
        assert!(a[first..first + 3]
            .iter()
            .all(|x| *x == Action::Unavailable));
        let other_seed = run(&FaultConfig { seed: 8, ..config });
        assert_ne!(a, other_seed);
    }

    #[test]
    fn garbled_json_does_not_parse() {
        for body in [
            &br#"{"id":"x","status":"OK","message":"m"}"#[..],
            b"[]",
            b"{}",
            b"[{\"a\":1}]",
        ] {
            let g = garble(body);
            assert!(!g.is_empty());
            assert!(
                serde_json::from_slice::<serde_json::Value>(&g).is_err(),
                "{:?}",
                String::from_utf8_lossy(&g)
            );
        }
    }
}
