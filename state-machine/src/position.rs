//! Biometric positions (ANSI/NIST-ITL finger codes, face = 0) and declared missing fingers.

use std::fmt;

/// A finger by its ANSI/NIST-ITL position code: 1 right thumb … 5 right little,
/// 6 left thumb … 10 left little.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Finger(u8);

impl Finger {
    pub const RIGHT_INDEX: Finger = Finger(2);
    pub const RIGHT_MIDDLE: Finger = Finger(3);
    pub const LEFT_INDEX: Finger = Finger(7);
    pub const LEFT_MIDDLE: Finger = Finger(8);

    /// `Some` for codes 1 to 10.
    pub fn new(code: u8) -> Option<Finger> {
        (1..=10).contains(&code).then_some(Finger(code))
    }

    pub fn code(self) -> u8 {
        self.0
    }

    /// "right index", "left little", ...
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 10] = [
            "right thumb",
            "right index",
            "right middle",
            "right ring",
            "right little",
            "left thumb",
            "left index",
            "left middle",
            "left ring",
            "left little",
        ];
        NAMES[usize::from(self.0 - 1)]
    }
}

/// What a capture step records: the face (index 0 in the API) or one finger.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Position {
    Face,
    Finger(Finger),
}

impl Position {
    /// The API's index: 0 for the face, the finger code otherwise.
    pub fn index(self) -> u8 {
        match self {
            Position::Face => 0,
            Position::Finger(f) => f.code(),
        }
    }

    pub fn from_index(index: u8) -> Option<Position> {
        if index == 0 {
            Some(Position::Face)
        } else {
            Finger::new(index).map(Position::Finger)
        }
    }

    pub fn is_face(self) -> bool {
        matches!(self, Position::Face)
    }

    /// The prompt a kiosk shows while this position is being captured.
    pub fn prompt(self) -> String {
        match self {
            Position::Face => "Look at the camera".to_string(),
            Position::Finger(f) => format!("Place the {} finger", f.name()),
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Face => f.write_str("face"),
            Position::Finger(x) => f.write_str(x.name()),
        }
    }
}

/// Why a finger cannot be captured, as the integrator declares it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum MissingType {
    Amputated,
    Bandaged,
    UnableToCapture,
}

impl MissingType {
    pub fn as_str(self) -> &'static str {
        match self {
            MissingType::Amputated => "AMPUTATED",
            MissingType::Bandaged => "BANDAGED",
            MissingType::UnableToCapture => "UNABLE_TO_CAPTURE",
        }
    }

    pub fn parse(s: &str) -> Option<MissingType> {
        match s {
            "AMPUTATED" => Some(MissingType::Amputated),
            "BANDAGED" => Some(MissingType::Bandaged),
            "UNABLE_TO_CAPTURE" => Some(MissingType::UnableToCapture),
            _ => None,
        }
    }
}

/// A finger declared missing for one transaction.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Missing {
    pub finger: Finger,
    pub kind: MissingType,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MissingError {
    #[error("missing fingers are written `7:AMPUTATED,8:BANDAGED`; `{0}` is not of that form")]
    Form(String),
    #[error("`{0}` is not a finger position (1 to 10)")]
    Finger(String),
    #[error("`{0}` is not a missing type (AMPUTATED, BANDAGED, UNABLE_TO_CAPTURE)")]
    Type(String),
    #[error("finger {0} is declared missing twice")]
    Repeated(u8),
}

impl Missing {
    /// Parses the `missing` query value: `7:AMPUTATED,8:BANDAGED`. Empty means none.
    pub fn parse_list(input: &str) -> Result<Vec<Missing>, MissingError> {
        let mut out: Vec<Missing> = Vec::new();
        for item in input.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (finger, kind) = item
                .split_once(':')
                .ok_or_else(|| MissingError::Form(item.to_string()))?;
            let finger = finger
                .trim()
                .parse::<u8>()
                .ok()
                .and_then(Finger::new)
                .ok_or_else(|| MissingError::Finger(finger.to_string()))?;
            let kind = MissingType::parse(&kind.trim().to_ascii_uppercase())
                .ok_or_else(|| MissingError::Type(kind.to_string()))?;
            if out.iter().any(|m| m.finger == finger) {
                return Err(MissingError::Repeated(finger.code()));
            }
            out.push(Missing { finger, kind });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_missing_lists() {
        let m = Missing::parse_list("7:AMPUTATED, 8:bandaged").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].finger.code(), 7);
        assert_eq!(m[1].kind, MissingType::Bandaged);
        assert!(Missing::parse_list("").unwrap().is_empty());
        assert!(matches!(
            Missing::parse_list("11:AMPUTATED"),
            Err(MissingError::Finger(_))
        ));
        assert!(matches!(
            Missing::parse_list("7:LOST"),
            Err(MissingError::Type(_))
        ));
        assert!(matches!(
            Missing::parse_list("7"),
            Err(MissingError::Form(_))
        ));
        assert!(matches!(
            Missing::parse_list("7:AMPUTATED,7:BANDAGED"),
            Err(MissingError::Repeated(7))
        ));
    }

    #[test]
    fn positions_round_trip() {
        for i in 0..=10 {
            assert_eq!(Position::from_index(i).unwrap().index(), i);
        }
        assert!(Position::from_index(11).is_none());
        assert_eq!(
            Position::Finger(Finger::RIGHT_INDEX).prompt(),
            "Place the right index finger"
        );
    }
}
