//! How the station talks to a ZhianTec module: address, password, rates, timeouts.

use std::time::Duration;

/// The rates probed after the configured one, most likely first: the factory 57 600, the
/// 115 200 a previous run may have switched to, then the other 9600 × N the modules accept.
const COMMON_BAUDS: [u32; 12] = [
    57_600, 115_200, 9_600, 19_200, 38_400, 28_800, 48_000, 67_200, 76_800, 86_400, 96_000, 105_600,
];

/// Session settings; [`Default`] is a factory module at 57 600 baud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZhiantecSettings {
    /// The module's address (factory `FFFFFFFF`).
    pub address: u32,
    /// The module's password (factory `00000000`).
    pub password: u32,
    /// The rate tried first.
    pub baud: u32,
    /// When set, the module is switched to this rate (SetSysPara 4) after open, e.g. 115 200
    /// to halve the 7 s image upload of 57 600.
    pub switch_to_baud: Option<u32>,
    /// Acknowledge timeout for a command, and the longest silence inside an image upload
    /// (the datasheets' hosts use 1 s).
    pub reply_timeout: Duration,
    /// Acknowledge timeout per rate while probing on open.
    pub probe_timeout: Duration,
    /// Extra attempts of a command that got no valid acknowledge.
    pub retries: u32,
    /// Passes over the rate list on open; the second covers a module still powering up
    /// (the ZFM-20 ignores commands for about 500 ms).
    pub open_rounds: u32,
    /// Pause between GenImg polls (the datasheets suggest 100–200 ms).
    pub poll_interval: Duration,
}

impl Default for ZhiantecSettings {
    fn default() -> Self {
        ZhiantecSettings {
            address: super::DEFAULT_ADDRESS,
            password: 0,
            baud: 57_600,
            switch_to_baud: None,
            reply_timeout: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(300),
            retries: 2,
            open_rounds: 2,
            poll_interval: Duration::from_millis(150),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{field} = {value}: expected 9600 × N baud with N in 1..=12")]
    Baud { field: &'static str, value: u32 },
    #[error("{field}: expected a duration above zero")]
    ZeroDuration { field: &'static str },
}

/// True when `baud` is one the modules accept: 9600 × N, N = 1…12.
pub fn is_module_baud(baud: u32) -> bool {
    (1..=12).any(|n| n * 9600 == baud)
}

impl ZhiantecSettings {
    /// Checks the values a config file may set; errors name the field.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if !is_module_baud(self.baud) {
            return Err(SettingsError::Baud {
                field: "baud",
                value: self.baud,
            });
        }
        if let Some(value) = self.switch_to_baud.filter(|b| !is_module_baud(*b)) {
            return Err(SettingsError::Baud {
                field: "switch_to_baud",
                value,
            });
        }
        for (field, value) in [
            ("reply_timeout", self.reply_timeout),
            ("probe_timeout", self.probe_timeout),
            ("poll_interval", self.poll_interval),
        ] {
            if value.is_zero() {
                return Err(SettingsError::ZeroDuration { field });
            }
        }
        Ok(())
    }

    /// The rates to probe on open: the configured one, the switch target, then the common
    /// ones, each once.
    pub fn baud_candidates(&self) -> Vec<u32> {
        let mut list = vec![self.baud];
        list.extend(self.switch_to_baud);
        list.extend(COMMON_BAUDS);
        let mut seen = Vec::with_capacity(list.len());
        list.retain(|b| {
            let new = !seen.contains(b);
            seen.push(*b);
            new
        });
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_start_with_the_configured_rate_and_hold_no_duplicates() {
        let s = ZhiantecSettings {
            baud: 9_600,
            switch_to_baud: Some(115_200),
            ..Default::default()
        };
        let list = s.baud_candidates();
        assert_eq!(&list[..4], &[9_600, 115_200, 57_600, 19_200]);
        assert_eq!(list.len(), 12);
        assert!(list.iter().all(|b| is_module_baud(*b)));
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(ZhiantecSettings::default().validate(), Ok(()));
        let s = ZhiantecSettings {
            baud: 56_000,
            ..Default::default()
        };
        assert_eq!(
            s.validate(),
            Err(SettingsError::Baud {
                field: "baud",
                value: 56_000
            })
        );
        let s = ZhiantecSettings {
            switch_to_baud: Some(230_400),
            ..Default::default()
        };
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("switch_to_baud"));
        let s = ZhiantecSettings {
            poll_interval: Duration::ZERO,
            ..Default::default()
        };
        assert_eq!(
            s.validate(),
            Err(SettingsError::ZeroDuration {
                field: "poll_interval"
            })
        );
    }
}
