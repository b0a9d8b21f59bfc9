//! Pure image work: fingerprint quality, minutiae extraction and 1:1 matching, ISO/IEC 19794-2
//! templates, WSQ, face checks. No IO (the `spid-bio` CLI is the only edge).

pub mod face;
pub mod fingerprint;
pub mod wsq;
