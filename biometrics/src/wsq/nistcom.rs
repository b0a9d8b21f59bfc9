//! The `NIST_COM` comment: a text block of `NAME value` lines that NBIS writes first in every
//! WSQ file, carrying the image size, depth, resolution (PPI) and bit rate.

const HEADER: &str = "NIST_COM";

/// Attributes carried by a `NIST_COM` comment that the codec cares about.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct NistCom {
    pub ppi: Option<u16>,
    pub bitrate: Option<f32>,
}

/// The comment text for an encoded image, in the field order NBIS uses. The header's value is
/// the number of fields, itself included.
pub(crate) fn build(width: u16, height: u16, ppi: Option<u16>, bitrate: f32) -> String {
    let ppi = ppi.map_or_else(|| "-1".to_string(), |p| p.to_string());
    let fields = [
        ("PIX_WIDTH", width.to_string()),
        ("PIX_HEIGHT", height.to_string()),
        ("PIX_DEPTH", "8".to_string()),
        ("PPI", ppi),
        ("LOSSY", "1".to_string()),
        ("COLORSPACE", "GRAY".to_string()),
        ("COMPRESSION", "WSQ".to_string()),
        ("WSQ_BITRATE", format!("{bitrate:.6}")),
    ];
    let mut text = format!("{HEADER} {}", fields.len() + 1);
    for (name, value) in fields {
        text.push('\n');
        text.push_str(name);
        text.push(' ');
        text.push_str(&value);
    }
    text
}

/// Parses a comment body; `None` if it is not a `NIST_COM` block. Unknown or unparsable
/// fields are ignored: a comment must never make a good image undecodable.
pub(crate) fn parse(body: &[u8]) -> Option<NistCom> {
    if !body.starts_with(HEADER.as_bytes()) {
        return None;
    }
    let text = String::from_utf8_lossy(body);
    let mut out = NistCom::default();
    for line in text.split('\n') {
        let line = line.trim_matches(|c: char| c == '\r' || c == '\0');
        let mut parts = line.splitn(2, [' ', '\t']);
        let name = parts.next().unwrap_or("");
        let value = parts.next().unwrap_or("").trim();
        match name {
            "PPI" => {
                out.ppi = value
                    .parse::<i64>()
                    .ok()
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|&p| p > 0)
            }
            "WSQ_BITRATE" => {
                out.bitrate = value
                    .parse::<f32>()
                    .ok()
                    .filter(|b| b.is_finite() && *b > 0.0)
            }
            _ => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_nbis_layout() {
        let text = build(300, 260, Some(500), 0.75);
        assert_eq!(
            text,
            "NIST_COM 9\nPIX_WIDTH 300\nPIX_HEIGHT 260\nPIX_DEPTH 8\nPPI 500\nLOSSY 1\n\
             COLORSPACE GRAY\nCOMPRESSION WSQ\nWSQ_BITRATE 0.750000"
        );
    }

    #[test]
    fn ppi_round_trips_and_unknown_is_none() {
        let parsed = parse(build(10, 10, Some(1000), 2.25).as_bytes()).unwrap();
        assert_eq!(parsed.ppi, Some(1000));
        assert_eq!(parsed.bitrate, Some(2.25));
        assert_eq!(
            parse(build(10, 10, None, 0.75).as_bytes()).unwrap().ppi,
            None
        );
    }

    #[test]
    fn other_comments_and_junk_are_tolerated() {
        assert_eq!(parse(b"hello"), None);
        assert_eq!(
            parse(b"NIST_COM 3\nPPI abc\nWSQ_BITRATE"),
            Some(NistCom::default())
        );
        assert_eq!(parse(b"NIST_COM 2\nPPI\t 250\r\n").unwrap().ppi, Some(250));
        assert_eq!(parse(b"NIST_COM 2\nPPI 99999").unwrap().ppi, None);
    }
}
