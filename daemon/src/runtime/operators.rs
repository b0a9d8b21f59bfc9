//! Operators' fingerprint templates: from the upstream's images, and to and from the
//! station's store (a list of ISO/IEC 19794-2 records, one per finger).

use base64::Engine;
use biometrics::fingerprint::Template;
use state_machine::Finger;

use crate::upstream::wire;

/// Extracts a template from every fingerprint (index 1–10) the server holds for the operator.
pub fn templates_from_wire(biometrics: &[wire::Biometric]) -> Result<Vec<(u8, Template)>, String> {
    let mut out = Vec::new();
    for b in biometrics {
        let Some(finger) = u8::try_from(b.index).ok().and_then(Finger::new) else {
            continue;
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b.content.trim())
            .map_err(|e| {
                format!(
                    "operator finger {}: content is not base64: {e}",
                    finger.code()
                )
            })?;
        let (image, ppi) = decode_finger(&bytes, b.resolution)
            .map_err(|e| format!("operator finger {}: {e}", finger.code()))?;
        out.push((finger.code(), Template::extract(&image, ppi)));
    }
    Ok(out)
}

/// A fingerprint image as the server sends it: PNG/BMP/... or WSQ.
fn decode_finger(bytes: &[u8], resolution: u32) -> Result<(image::GrayImage, u16), String> {
    let declared = u16::try_from(resolution).ok().filter(|r| *r > 0);
    if bytes.starts_with(&[0xFF, 0xA0]) {
        let (image, ppi) = biometrics::wsq::decode(bytes).map_err(|e| e.to_string())?;
        return Ok((image, ppi.or(declared).unwrap_or(500)));
    }
    let image = image::load_from_memory(bytes).map_err(|e| format!("not a readable image: {e}"))?;
    Ok((image.to_luma8(), declared.unwrap_or(500)))
}

pub fn fingers_of(templates: &[(u8, Template)]) -> Vec<Finger> {
    let mut fingers: Vec<Finger> = templates
        .iter()
        .filter_map(|(f, _)| Finger::new(*f))
        .collect();
    fingers.dedup();
    fingers
}

/// `[finger u8][len u32 BE][ISO record]...`
pub fn encode_templates(templates: &[(u8, Template)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (finger, template) in templates {
        let record = template.to_iso19794_2();
        out.push(*finger);
        out.extend_from_slice(&(record.len() as u32).to_be_bytes());
        out.extend_from_slice(&record);
    }
    out
}

pub fn decode_templates(mut bytes: &[u8]) -> Result<Vec<(u8, Template)>, String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 5 {
            return Err("truncated template list".to_string());
        }
        let finger = bytes[0];
        let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        let rest = &bytes[5..];
        if rest.len() < len {
            return Err("truncated template record".to_string());
        }
        let template = Template::from_iso19794_2(&rest[..len]).map_err(|e| e.to_string())?;
        out.push((finger, template));
        bytes = &rest[len..];
    }
    Ok(out)
}
