//! A minimal one-page PDF 1.4 written by hand (Helvetica text lines, exact xref offsets): the
//! fake server's transaction report.

use std::fmt::Write as _;

/// A4 portrait, in points.
const PAGE_WIDTH: u32 = 595;
const PAGE_HEIGHT: u32 = 842;

/// Escapes a string for a PDF literal string; non-Latin-1 characters become `?` because the
/// standard Helvetica font uses a single-byte encoding.
fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('(');
    for c in text.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push(')');
    out
}

/// A one-page PDF with `title` in bold and `lines` below it.
pub fn report(title: &str, lines: &[String]) -> Vec<u8> {
    let mut content = String::new();
    let _ = write!(
        content,
        "BT\n/F2 16 Tf\n56 {} Td\n{} Tj\n",
        PAGE_HEIGHT - 72,
        literal(title)
    );
    content.push_str("/F1 11 Tf\n0 -28 Td\n16 TL\n");
    for line in lines {
        let _ = writeln!(content, "{} Tj\nT*", literal(line));
    }
    content.push_str("ET\n");

    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] \
             /Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>"
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_string(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
            .to_string(),
        format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ),
    ];

    // The binary comment tells transfer tools the file is not text.
    let mut pdf: Vec<u8> = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    let mut tail = format!("xref\n0 {}\n0000000000 65535 f\r\n", objects.len() + 1);
    for offset in offsets {
        // Each entry is exactly 20 bytes, EOL included.
        let _ = write!(tail, "{offset:010} 00000 n\r\n");
    }
    let _ = write!(
        tail,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    pdf.extend_from_slice(tail.as_bytes());
    pdf
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Checks header, trailer and that every xref entry points at its `N 0 obj`.
    pub(crate) fn assert_valid_pdf(pdf: &[u8]) {
        assert!(pdf.starts_with(b"%PDF-1."));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let text = String::from_utf8_lossy(pdf);
        let start: usize = text
            .rsplit("startxref\n")
            .next()
            .and_then(|t| t.lines().next())
            .and_then(|l| l.trim().parse().ok())
            .expect("startxref");
        assert!(
            pdf[start..].starts_with(b"xref\n"),
            "startxref points at the xref table"
        );
        let table = &pdf[start + 5..];
        let header_end = table.iter().position(|&b| b == b'\n').unwrap();
        let header = std::str::from_utf8(&table[..header_end]).unwrap();
        let count: usize = header.split(' ').nth(1).unwrap().parse().unwrap();
        let entries = &table[header_end + 1..];
        for n in 0..count {
            let entry = &entries[n * 20..(n + 1) * 20];
            let entry = std::str::from_utf8(entry).unwrap();
            assert!(entry.ends_with("\r\n"), "entry {n} is 20 bytes");
            if n == 0 {
                assert!(entry.starts_with("0000000000 65535 f"));
                continue;
            }
            let offset: usize = entry[..10].parse().unwrap();
            let expected = format!("{n} 0 obj");
            assert!(
                pdf[offset..].starts_with(expected.as_bytes()),
                "object {n} at {offset}"
            );
        }
        assert!(std::str::from_utf8(&entries[count * 20..])
            .unwrap()
            .starts_with("trailer"));
        // The content stream's declared length must be its real length.
        let stream_at = text.find("stream\n").unwrap() + "stream\n".len();
        let end_at = text.find("endstream").unwrap();
        let declared: usize = text[..stream_at]
            .rsplit("/Length ")
            .next()
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(declared, end_at - stream_at);
    }

    #[test]
    fn report_is_a_valid_pdf_naming_its_lines() {
        let pdf = report(
            "SPID transaction report",
            &[
                "Transaction: 1234".into(),
                "Paren (and) back\\slash, acentuação".into(),
            ],
        );
        assert_valid_pdf(&pdf);
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("(Transaction: 1234) Tj"));
        assert!(text.contains(r"(Paren \(and\) back\\slash, acentua??o) Tj"));
    }
}
