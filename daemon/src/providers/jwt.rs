//! RS256 JSON Web Tokens for the Unico JWT-bearer grant (RFC 7523), built with `ring`: PEM
//! keys (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`), base64url, RSASSA-PKCS1-v1_5 with
//! SHA-256.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
use serde::Serialize;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KeyError {
    #[error("no PEM block `PRIVATE KEY` or `RSA PRIVATE KEY` in the file")]
    NoPem,
    #[error("the PEM body is not valid base64")]
    Base64,
    #[error("not a usable RSA private key: {0}")]
    Rejected(String),
    #[error("signing failed")]
    Sign,
}

/// An RSA private key that signs RS256.
pub struct RsaSigner {
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaSigner(<private key>)")
    }
}

/// The DER body of the first PEM block labelled `label`.
pub fn pem_block(pem: &str, label: &str) -> Option<Result<Vec<u8>, KeyError>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let body: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    Some(STANDARD.decode(body).map_err(|_| KeyError::Base64))
}

impl RsaSigner {
    pub fn from_pem(pem: &str) -> Result<RsaSigner, KeyError> {
        let key = if let Some(der) = pem_block(pem, "PRIVATE KEY") {
            RsaKeyPair::from_pkcs8(&der?)
        } else if let Some(der) = pem_block(pem, "RSA PRIVATE KEY") {
            RsaKeyPair::from_der(&der?)
        } else {
            return Err(KeyError::NoPem);
        }
        .map_err(|e| KeyError::Rejected(e.to_string()))?;
        Ok(RsaSigner {
            key,
            rng: SystemRandom::new(),
        })
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut signature)
            .map_err(|_| KeyError::Sign)?;
        Ok(signature)
    }

    /// The public key as DER `RSAPublicKey` (what `ring` verifies with).
    pub fn public_key_der(&self) -> Vec<u8> {
        self.key.public_key().as_ref().to_vec()
    }
}

/// The assertion's claims: exactly these five, in this order (Unico rejects any other claim).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AssertionClaims {
    pub iss: String,
    pub aud: String,
    pub scope: String,
    pub iat: u64,
    pub exp: u64,
}

#[derive(Serialize)]
struct Header {
    alg: &'static str,
    typ: &'static str,
}

/// `base64url(header).base64url(claims).base64url(signature)`.
pub fn assertion(signer: &RsaSigner, claims: &AssertionClaims) -> Result<String, KeyError> {
    let header = serde_json::to_vec(&Header {
        alg: "RS256",
        typ: "JWT",
    })
    .map_err(|_| KeyError::Sign)?;
    let claims = serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?;
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = signer.sign(signing_input.as_bytes())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

    /// Test-only key pair, generated with `openssl genpkey -algorithm RSA -pkeyopt
    /// rsa_keygen_bits:2048` (see `daemon/tests/fixtures/README.md`).
    const TEST_KEY: &str = include_str!("../../tests/fixtures/unico-test-key.pem");
    const TEST_PUBLIC_DER: &[u8] = include_bytes!("../../tests/fixtures/unico-test-public.der");

    #[test]
    fn the_assertion_verifies_with_the_public_key_and_carries_exactly_five_claims() {
        let signer = RsaSigner::from_pem(TEST_KEY).unwrap();
        assert_eq!(signer.public_key_der(), TEST_PUBLIC_DER);
        let claims = AssertionClaims {
            iss: "station-7@tenant-x.iam.acesso.io".into(),
            aud: "https://identityhomolog.acesso.io".into(),
            scope: "*".into(),
            iat: 1_764_900_000,
            exp: 1_764_903_600,
        };
        let jwt = assertion(&signer, &claims).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "RS256", "typ": "JWT"}));
        let body: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 5, "{body}");
        assert_eq!(
            body,
            serde_json::json!({"iss": "station-7@tenant-x.iam.acesso.io",
                "aud": "https://identityhomolog.acesso.io", "scope": "*",
                "iat": 1_764_900_000u64, "exp": 1_764_903_600u64})
        );
        // Verified with the committed public key, independently of the signer.
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, TEST_PUBLIC_DER);
        let signed = format!("{}.{}", parts[0], parts[1]);
        public.verify(signed.as_bytes(), &signature).unwrap();
        // A changed claim does not verify.
        let forged = format!(
            "{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(b"{\"scope\":\"*\"}")
        );
        assert!(public.verify(forged.as_bytes(), &signature).is_err());
    }

    #[test]
    fn keys_are_read_from_pem_and_bad_files_are_named() {
        assert_eq!(RsaSigner::from_pem("nothing").unwrap_err(), KeyError::NoPem);
        assert_eq!(
            RsaSigner::from_pem("-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----")
                .unwrap_err(),
            KeyError::Base64
        );
        assert!(matches!(
            RsaSigner::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
            Err(KeyError::Rejected(_))
        ));
    }
}
