//! Human durations for the config file: `500ms`, `30s`, `2m`, `1h30m`, `7d`.

use std::time::Duration;

/// Parses one or more `<integer><unit>` groups (units `ms`, `s`, `m`, `h`, `d`), or a bare `0`.
/// `None` when the text is not of that form or overflows.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    if text.is_empty() {
        return None;
    }
    let mut total_ms: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let value: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit_ms: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_ms = total_ms.checked_add(value.checked_mul(unit_ms)?)?;
    }
    Some(Duration::from_millis(total_ms))
}

/// The shortest text [`parse_duration`] reads back as `d` (millisecond precision).
pub fn format_duration(d: Duration) -> String {
    let mut ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration(" 0 "), Some(Duration::ZERO));
    }

    #[test]
    fn refuses_other_forms() {
        for bad in [
            "",
            "30",
            "s",
            "30 s",
            "1.5s",
            "-1s",
            "3w",
            "30sec",
            "1h 30m",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for ms in [0u64, 1, 500, 1_000, 61_500, 3_600_000, 90_061_001] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)), Some(d), "{ms}");
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
    }
}
