//! CPF (Cadastro de Pessoas Físicas) numbers: parsing, check digits, formatting and masking.

use std::fmt;

/// A valid CPF: 11 digits whose two check digits are right and which are not all the same.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cpf(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpfError {
    #[error("a CPF has 11 digits (dots and dash allowed), got {0} digits")]
    Length(usize),
    #[error("a CPF has only digits, dots and a dash")]
    Character,
    #[error("the CPF's check digits are wrong")]
    CheckDigits,
    #[error("a CPF of one repeated digit is not valid")]
    Repeated,
}

impl Cpf {
    /// Parses `52998224725` or `529.982.247-25`; dots and the dash are stripped.
    pub fn parse(input: &str) -> Result<Cpf, CpfError> {
        let mut digits = Vec::with_capacity(11);
        for c in input.trim().chars() {
            match c {
                '0'..='9' => digits.push(c as u8 - b'0'),
                '.' | '-' => {}
                _ => return Err(CpfError::Character),
            }
        }
        if digits.len() != 11 {
            return Err(CpfError::Length(digits.len()));
        }
        if digits.iter().all(|&d| d == digits[0]) {
            return Err(CpfError::Repeated);
        }
        let check = |n: usize| -> u8 {
            let sum: u32 = digits[..n]
                .iter()
                .enumerate()
                .map(|(i, &d)| u32::from(d) * (n as u32 + 1 - i as u32))
                .sum();
            let r = (sum * 10) % 11;
            if r == 10 {
                0
            } else {
                r as u8
            }
        };
        if check(9) != digits[9] || check(10) != digits[10] {
            return Err(CpfError::CheckDigits);
        }
        Ok(Cpf(digits.iter().map(|d| char::from(b'0' + d)).collect()))
    }

    /// The 11 digits, as the upstream wants them.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// `529.982.247-25`.
    pub fn formatted(&self) -> String {
        let d = &self.0;
        format!("{}.{}.{}-{}", &d[0..3], &d[3..6], &d[6..9], &d[9..11])
    }

    /// `529.***.***-25`: safe for logs and the technician's screens.
    pub fn masked(&self) -> String {
        let d = &self.0;
        format!("{}.***.***-{}", &d[0..3], &d[9..11])
    }
}

impl fmt::Display for Cpf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Debug shows the masked form so that a stray `{:?}` never leaks a full CPF into a log.
impl fmt::Debug for Cpf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cpf({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_formatted_and_bare() {
        for s in [
            "529.982.247-25",
            "52998224725",
            "111.444.777-35",
            "935.411.347-80",
            "390.533.447-05",
        ] {
            assert!(Cpf::parse(s).is_ok(), "{s}");
        }
        assert_eq!(
            Cpf::parse("529.982.247-25").unwrap().digits(),
            "52998224725"
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(Cpf::parse("529.982.247-26"), Err(CpfError::CheckDigits));
        assert_eq!(Cpf::parse("111.111.111-11"), Err(CpfError::Repeated));
        assert_eq!(Cpf::parse("1234"), Err(CpfError::Length(4)));
        assert_eq!(Cpf::parse("529a98224725"), Err(CpfError::Character));
        assert_eq!(Cpf::parse(""), Err(CpfError::Length(0)));
    }

    #[test]
    fn masks_and_formats() {
        let c = Cpf::parse("52998224725").unwrap();
        assert_eq!(c.masked(), "529.***.***-25");
        assert_eq!(c.formatted(), "529.982.247-25");
        assert_eq!(format!("{c:?}"), "Cpf(529.***.***-25)");
    }
}
