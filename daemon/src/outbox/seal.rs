//! Encryption at rest of biometric payloads (outbox transactions, operators' templates).
//!
//! AEAD from `ring` (already in the tree through rustls): AES-256-GCM (hardware AES and
//! carry-less multiply make it about three times faster than ChaCha20-Poly1305 on a station's
//! x86 CPU: 1 MB seals in ~0.15 ms), a fresh random 96-bit nonce per sealing, and the row's
//! identity as associated data so that a sealed blob cannot be moved to another row. Random
//! 96-bit nonces stay safe up to ~2^32 sealings per key; a station seals a few thousand a day.
//! Each sealed blob is stored with the name of its cipher ([`Cipher`]); blobs sealed before
//! schema v4 are ChaCha20-Poly1305 and still open.
//!
//! The key is 32 bytes, kept in a file as 64 hex digits (or 32 raw bytes). Where it comes
//! from is decided by [`KeySource`]: `outbox.key_file`, else the systemd credential
//! `outbox-key`, else `<data_dir>/outbox.key`. A missing key file (except a credential, which
//! systemd provides read-only) is created on first start with mode 0600, atomically and never
//! over an existing one. The key itself is never logged: only its id (a hash prefix).
//! AES-256-GCM uses a subkey derived from it with HKDF-SHA256, so no two ciphers ever share
//! key bytes; ChaCha20-Poly1305 (legacy) used the key itself.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use ring::aead::{
    Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, CHACHA20_POLY1305, MAX_TAG_LEN, NONCE_LEN,
};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};

/// The name of the systemd credential holding the key (`LoadCredential=outbox-key:…`).
pub const KEY_CREDENTIAL: &str = "outbox-key";
/// The key file created in the data directory when nothing else names one.
pub const DEFAULT_KEY_FILE: &str = "outbox.key";
const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the outbox key {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the outbox key {path} is not a key: expected 64 hex digits (or 32 raw bytes), found {found}")]
    Malformed { path: PathBuf, found: String },
    #[error("cannot create the outbox key {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no random numbers for a new outbox key")]
    Random,
}

/// Where the key comes from, in order of precedence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `outbox.key_file`: read, or created when absent.
    File(PathBuf),
    /// `$CREDENTIALS_DIRECTORY/outbox-key`: read only.
    Credential(PathBuf),
}

impl KeySource {
    /// `outbox.key_file` when set; else the credential when systemd passed one; else
    /// `<data_dir>/outbox.key`.
    pub fn resolve(
        key_file: Option<&Path>,
        credentials_directory: Option<&Path>,
        data_dir: &Path,
    ) -> KeySource {
        if let Some(path) = key_file {
            return KeySource::File(path.to_path_buf());
        }
        if let Some(dir) = credentials_directory {
            let path = dir.join(KEY_CREDENTIAL);
            if path.exists() {
                return KeySource::Credential(path);
            }
        }
        KeySource::File(data_dir.join(DEFAULT_KEY_FILE))
    }

    pub fn path(&self) -> &Path {
        match self {
            KeySource::File(p) | KeySource::Credential(p) => p,
        }
    }

    /// Reads the key; a missing `File` is created first.
    pub fn load(&self) -> Result<SealKey, KeyError> {
        match self {
            KeySource::Credential(path) => SealKey::read(path),
            KeySource::File(path) => SealKey::read_or_create(path),
        }
    }
}

/// The outbox key. `Debug` shows only its id.
/// The AEAD a blob was sealed with, stored beside it (the `cipher` columns of schema v4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cipher {
    /// What spidd sealed with before schema v4 (a `cipher` column left NULL).
    ChaCha20Poly1305,
    /// What spidd seals with now.
    Aes256Gcm,
}

impl Cipher {
    pub fn as_str(self) -> &'static str {
        match self {
            Cipher::ChaCha20Poly1305 => "chacha20-poly1305",
            Cipher::Aes256Gcm => "aes-256-gcm",
        }
    }

    /// The stored name; NULL is a blob sealed before the column existed.
    pub fn from_column(name: Option<&str>) -> Option<Cipher> {
        match name {
            None => Some(Cipher::ChaCha20Poly1305),
            Some(name) => [Cipher::ChaCha20Poly1305, Cipher::Aes256Gcm]
                .into_iter()
                .find(|c| c.as_str() == name),
        }
    }
}

/// A sealed blob and what it takes to open it, besides the key and the context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub cipher: Cipher,
    pub nonce: Vec<u8>,
    /// Ciphertext and tag.
    pub data: Vec<u8>,
}

#[derive(Clone)]
pub struct SealKey {
    bytes: [u8; KEY_LEN],
    id: String,
    /// The AEAD keys, expanded once.
    aeads: Arc<Aeads>,
}

struct Aeads {
    aes: LessSafeKey,
    chacha: LessSafeKey,
}

/// HKDF inputs of the AES-256-GCM subkey; changing them makes every sealed blob unreadable.
const SUBKEY_SALT: &[u8] = b"spidd outbox key";
const AES_SUBKEY_INFO: &[u8] = b"aes-256-gcm payloads v1";

impl Aeads {
    fn new(bytes: &[u8; KEY_LEN]) -> Aeads {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SUBKEY_SALT).extract(bytes);
        let aes: UnboundKey = prk
            .expand(&[AES_SUBKEY_INFO], &AES_256_GCM)
            .expect("HKDF-SHA256 yields 32 bytes")
            .into();
        let chacha = UnboundKey::new(&CHACHA20_POLY1305, bytes).expect("a 32-byte key");
        Aeads {
            aes: LessSafeKey::new(aes),
            chacha: LessSafeKey::new(chacha),
        }
    }

    fn of(&self, cipher: Cipher) -> &LessSafeKey {
        match cipher {
            Cipher::Aes256Gcm => &self.aes,
            Cipher::ChaCha20Poly1305 => &self.chacha,
        }
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealKey").field("id", &self.id).finish()
    }
}

impl SealKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> SealKey {
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            &[b"spidd outbox key id\0".as_slice(), &bytes].concat(),
        );
        let id = hex(&digest.as_ref()[..8]);
        let aeads = Arc::new(Aeads::new(&bytes));
        SealKey { bytes, id, aeads }
    }

    /// A new random key.
    pub fn generate() -> Result<SealKey, KeyError> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| KeyError::Random)?;
        Ok(SealKey::from_bytes(bytes))
    }

    /// A short, non-secret name of the key (16 hex digits of a hash): stored beside each
    /// sealed blob and in the database, so a different key is recognised, not misused.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn read(path: &Path) -> Result<SealKey, KeyError> {
        let data = std::fs::read(path).map_err(|source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        SealKey::parse(&data).ok_or_else(|| KeyError::Malformed {
            path: path.to_path_buf(),
            found: describe(&data),
        })
    }

    /// Reads `path`, creating it (mode 0600, 64 hex digits) when it does not exist.
    pub fn read_or_create(path: &Path) -> Result<SealKey, KeyError> {
        match std::fs::symlink_metadata(path) {
            Ok(_) => SealKey::read(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SealKey::generate()?;
                match create_exclusive(path, format!("{}\n", hex(&key.bytes)).as_bytes()) {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), key_id = %key.id, "created the outbox key");
                        Ok(key)
                    }
                    // Another process created it meanwhile: theirs wins.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => SealKey::read(path),
                    Err(source) => Err(KeyError::Create {
                        path: path.to_path_buf(),
                        source,
                    }),
                }
            }
            Err(source) => Err(KeyError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// 64 hex digits (surrounding whitespace ignored) or exactly 32 raw bytes.
    fn parse(data: &[u8]) -> Option<SealKey> {
        if let Ok(text) = std::str::from_utf8(data) {
            let text = text.trim();
            if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                let mut bytes = [0u8; KEY_LEN];
                for (i, b) in bytes.iter_mut().enumerate() {
                    *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
                }
                return Some(SealKey::from_bytes(bytes));
            }
        }
        let bytes: [u8; KEY_LEN] = data.try_into().ok()?;
        Some(SealKey::from_bytes(bytes))
    }

    /// Seals `plain` bound to `context` (the row's identity), with AES-256-GCM.
    pub fn seal(&self, context: &str, plain: &[u8]) -> Result<Sealed, SealError> {
        let mut data = Vec::with_capacity(plain.len() + MAX_TAG_LEN);
        data.extend_from_slice(plain);
        self.seal_with(Cipher::Aes256Gcm, context, data)
    }

    /// [`SealKey::seal`] in place: `plain` becomes the ciphertext, with no copy of it made.
    pub fn seal_owned(&self, context: &str, plain: Vec<u8>) -> Result<Sealed, SealError> {
        self.seal_with(Cipher::Aes256Gcm, context, plain)
    }

    pub(super) fn seal_with(
        &self,
        cipher: Cipher,
        context: &str,
        mut data: Vec<u8>,
    ) -> Result<Sealed, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        data.reserve_exact(MAX_TAG_LEN);
        self.aeads
            .of(cipher)
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut data,
            )
            .map_err(|_| SealError::Random)?;
        Ok(Sealed {
            cipher,
            nonce: nonce.to_vec(),
            data,
        })
    }

    /// Opens what [`SealKey::seal`] sealed under the same `context`, in place.
    pub fn open(&self, context: &str, sealed: Sealed) -> Result<Vec<u8>, SealError> {
        let mut data = sealed.data;
        let n = self.open_in_place(context, sealed.cipher, &sealed.nonce, &mut data)?;
        data.truncate(n);
        Ok(data)
    }

    /// Opens sealed bytes (ciphertext and tag) where they lie: the plain bytes are left at
    /// the start of `data`; answers their length.
    pub fn open_in_place(
        &self,
        context: &str,
        cipher: Cipher,
        nonce: &[u8],
        data: &mut [u8],
    ) -> Result<usize, SealError> {
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Forged)?;
        let plain = self
            .aeads
            .of(cipher)
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                data,
            )
            .map_err(|_| SealError::Forged)?;
        Ok(plain.len())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("no random numbers for a nonce")]
    Random,
    /// Wrong key, or the blob was altered or moved to another row.
    #[error("the sealed data does not open with this key")]
    Forged,
    #[error("the sealed data names a cipher this spidd does not know")]
    UnknownCipher,
}

/// Writes `data` to a new file beside `path` (mode 0600), syncs it, then links it in as
/// `path`: readers see no file or the whole key, and an existing `path` is never replaced.
fn create_exclusive(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        std::fs::hard_link(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

/// What a bad key file holds, without showing a byte of it.
fn describe(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(t) if t.trim().is_empty() => "an empty file".to_string(),
        Ok(t) => format!("{} characters of text", t.trim().chars().count()),
        Err(_) => format!("{} bytes", data.len()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("spidd-seal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn sealing_round_trips_and_binds_the_context() {
        let key = SealKey::from_bytes([7; 32]);
        let sealed = key.seal("tx:a", b"WSQ\xff\xa0 fingerprint").unwrap();
        assert_eq!(sealed.cipher, Cipher::Aes256Gcm);
        assert!(!sealed.data.windows(11).any(|w| w == b"fingerprint"));
        assert_eq!(
            key.open("tx:a", sealed.clone()).unwrap(),
            b"WSQ\xff\xa0 fingerprint"
        );
        assert_eq!(key.open("tx:b", sealed.clone()), Err(SealError::Forged));
        let other = SealKey::from_bytes([8; 32]);
        assert_eq!(other.open("tx:a", sealed.clone()), Err(SealError::Forged));
        assert_ne!(key.id(), other.id());
        let relabelled = Sealed {
            cipher: Cipher::ChaCha20Poly1305,
            ..sealed.clone()
        };
        assert_eq!(key.open("tx:a", relabelled), Err(SealError::Forged));
        let again = key.seal("tx:a", b"x").unwrap();
        assert_ne!(sealed.nonce, again.nonce, "a fresh nonce per sealing");
    }

    #[test]
    fn blobs_sealed_before_v4_still_open() {
        let key = SealKey::from_bytes([7; 32]);
        let legacy = key
            .seal_with(Cipher::ChaCha20Poly1305, "tx:a", b"template".to_vec())
            .unwrap();
        // What a v2 spidd stored: the key itself, ChaCha20-Poly1305, no cipher name.
        let v2 = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &[7; 32]).unwrap());
        let mut data = legacy.data.clone();
        let nonce: [u8; NONCE_LEN] = legacy.nonce.as_slice().try_into().unwrap();
        let plain = v2
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(b"tx:a".as_slice()),
                &mut data,
            )
            .unwrap();
        assert_eq!(plain, b"template");
        assert_eq!(Cipher::from_column(None), Some(Cipher::ChaCha20Poly1305));
        assert_eq!(
            Cipher::from_column(Some("aes-256-gcm")),
            Some(Cipher::Aes256Gcm)
        );
        assert_eq!(Cipher::from_column(Some("rot13")), None);
        assert_eq!(key.open("tx:a", legacy).unwrap(), b"template");
    }

    #[test]
    fn a_missing_key_file_is_created_0600_and_then_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("create");
        let path = dir.join("sub").join("outbox.key");
        let key = SealKey::read_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = SealKey::read_or_create(&path).unwrap();
        assert_eq!(key.id(), again.id());
        assert!(format!("{key:?}").contains(key.id()));
        assert!(!format!("{key:?}").contains(&hex(&key.bytes)));
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_short_or_garbled_key_is_refused_naming_the_file() {
        let dir = scratch("bad");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("k");
        for bad in [&b""[..], b"abcd\n", &[0u8; 31], &[b'g'; 64]] {
            std::fs::write(&path, bad).unwrap();
            let e = SealKey::read_or_create(&path).unwrap_err();
            assert!(matches!(e, KeyError::Malformed { .. }), "{e}");
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        }
        std::fs::write(&path, [9u8; 32]).unwrap();
        assert_eq!(
            SealKey::read(&path).unwrap().id(),
            SealKey::from_bytes([9; 32]).id()
        );
        let missing = KeySource::Credential(dir.join("absent"))
            .load()
            .unwrap_err();
        assert!(matches!(missing, KeyError::Read { .. }), "{missing}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_key_source_prefers_the_setting_then_the_credential() {
        let dir = scratch("source");
        let creds = dir.join("creds");
        std::fs::create_dir_all(&creds).unwrap();
        let data = dir.join("data");
        assert_eq!(
            KeySource::resolve(Some(Path::new("/k")), Some(&creds), &data),
            KeySource::File("/k".into())
        );
        assert_eq!(
            KeySource::resolve(None, Some(&creds), &data),
            KeySource::File(data.join(DEFAULT_KEY_FILE)),
            "no credential file: the data directory's key"
        );
        std::fs::write(creds.join(KEY_CREDENTIAL), [1u8; 32]).unwrap();
        assert_eq!(
            KeySource::resolve(None, Some(&creds), &data),
            KeySource::Credential(creds.join(KEY_CREDENTIAL))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
