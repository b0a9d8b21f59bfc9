//! Transaction payloads on disk, one file each beside the database: `<db>-payloads/<id>`.
//!
//! In SQLite a 1 MB payload became ~74 WAL frames of 16 KiB + 24 bytes, each written in two
//! pieces across page-cache pages and checksummed, after three copies on the way in (bind,
//! record, page) and before a fourth by the checkpoint: about half of an enqueue's CPU, and
//! 1.2–1.6 ms of CPU where writing the same bytes to a new file costs 0.3–0.4 ms. In a file of
//! its own a payload is written once and synced once; the row that schedules and reports it
//! stays in SQLite.
//!
//! One sync per enqueue: the file also carries what its row holds at enqueue (mode, CPFs,
//! timestamps, summary). An enqueue syncs the file and the directory, then commits the row
//! without syncing the WAL (`Outbox::enqueue`). A kill -9 loses nothing (the commit is in the
//! OS's cache); a power cut may lose the row, never the file, and the next open rebuilds the
//! row from it ([`Outbox::recover_spool`]). No send can begin before the row is on disk:
//! announcing or marking a send commits with a sync, which takes the row with it.
//!
//! A file: `SPIDDTX1`, the header's length (u32, little-endian), the header (JSON), then the
//! sealed bytes, whose length the header states: a file cut short by a crash is known, and
//! dropped (its enqueue never answered). The sealed bytes are exactly what the `payloads`
//! table held (same key, nonce and associated data), so older databases move out unchanged.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::Range;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::seal::Cipher;

const MAGIC: &[u8; 8] = b"SPIDDTX1";
/// A header is a few hundred bytes plus the capture summary (~1 kB).
const MAX_HEADER: u32 = 1 << 20;

/// What a payload file says about itself: how to open its sealed bytes, and the row it
/// belongs to as enqueued.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Header {
    pub key_id: String,
    pub cipher: String,
    /// Base64.
    pub nonce: String,
    /// Of the sealed bytes that follow.
    pub len: u64,
    pub mode: String,
    pub cpf: String,
    pub operator: String,
    pub timestamp: i64,
    pub created_at: i64,
    pub summary: String,
}

/// What a send needs of a header: how to open the sealed bytes. The rest (the summary
/// above all) is skipped, not unescaped.
#[derive(Deserialize)]
struct SealFields {
    key_id: String,
    cipher: String,
    nonce: String,
    len: u64,
}

/// A payload file read whole, its sealed bytes opened in place (see [`PayloadFile::open`]).
pub(super) struct PayloadFile {
    bytes: Vec<u8>,
    /// Where the header's JSON lies in `bytes`; the sealed bytes follow it to the end.
    header: Range<usize>,
    pub key_id: String,
    pub cipher: Cipher,
    pub nonce: Vec<u8>,
}

/// Sizes, never bytes: they are sealed biometric data.
impl std::fmt::Debug for PayloadFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadFile")
            .field("key_id", &self.key_id)
            .field("cipher", &self.cipher)
            .field("header_bytes", &self.header.len())
            .field("sealed_bytes", &(self.bytes.len() - self.header.end))
            .finish()
    }
}

impl PayloadFile {
    /// Checks the layout: magic, a header that reads, and exactly as many sealed bytes as it
    /// states.
    fn parse(bytes: Vec<u8>) -> io::Result<PayloadFile> {
        let head = bytes
            .get(..12)
            .ok_or_else(|| damaged("it ends inside its header"))?;
        if &head[..8] != MAGIC {
            return Err(damaged("it does not begin like a payload file"));
        }
        let header_len = u32::from_le_bytes(head[8..].try_into().expect("4 bytes"));
        if header_len > MAX_HEADER {
            return Err(damaged("its header is too long"));
        }
        let header = 12..12 + header_len as usize;
        let json = bytes
            .get(header.clone())
            .ok_or_else(|| damaged("it ends inside its header"))?;
        let fields: SealFields = serde_json::from_slice(json)
            .map_err(|e| damaged(&format!("its header does not read: {e}")))?;
        let held = (bytes.len() - header.end) as u64;
        if held != fields.len {
            return Err(damaged(&format!(
                "it holds {held} sealed bytes, its header says {}",
                fields.len
            )));
        }
        let nonce = base64::engine::general_purpose::STANDARD
            .decode(&fields.nonce)
            .map_err(|_| damaged("its nonce is not base64"))?;
        let cipher = Cipher::from_column(Some(&fields.cipher))
            .ok_or_else(|| damaged("it names an unknown cipher"))?;
        Ok(PayloadFile {
            bytes,
            header,
            key_id: fields.key_id,
            cipher,
            nonce,
        })
    }

    /// The whole header, as the file was written.
    pub fn header(&self) -> io::Result<Header> {
        serde_json::from_slice(&self.bytes[self.header.clone()])
            .map_err(|e| damaged(&format!("its header does not read: {e}")))
    }

    /// The sealed bytes (ciphertext and tag).
    #[cfg(test)]
    pub fn sealed(&self) -> &[u8] {
        &self.bytes[self.header.end..]
    }

    /// Opens the sealed bytes where they lie: `open` gets the cipher, the nonce and the
    /// sealed bytes, leaves the plain bytes at their start and answers their length. The
    /// plain bytes come out without a copy.
    pub fn open<E>(
        mut self,
        open: impl FnOnce(Cipher, &[u8], &mut [u8]) -> Result<usize, E>,
    ) -> Result<Bytes, E> {
        let start = self.header.end;
        let n = open(self.cipher, &self.nonce, &mut self.bytes[start..])?;
        Ok(Bytes::from(self.bytes).slice(start..start + n))
    }
}

/// The directory of payload files.
pub(super) struct Spool {
    dir: PathBuf,
    /// The directory, open: files are opened relative to it (one name to look up, not the
    /// whole path) and it is synced through it.
    handle: File,
    /// Tests: the error (errno) every write of a payload's bytes meets, as on a full disk.
    #[cfg(test)]
    pub(super) refuse_writes: std::sync::Mutex<Option<i32>>,
}

/// A payload file that is not whole: cut short, or not one of ours.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct Damaged(String);

impl Spool {
    /// The directory beside the database at `db`.
    pub(super) fn dir_of(db: &Path) -> PathBuf {
        let mut name = db.file_name().unwrap_or_default().to_os_string();
        name.push("-payloads");
        db.with_file_name(name)
    }

    /// [`Spool::dir_of`] `db`, created 0700 when absent.
    pub(super) fn open(db: &Path) -> io::Result<Spool> {
        let dir = Spool::dir_of(db);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        Ok(Spool {
            handle: File::open(&dir)?,
            dir,
            #[cfg(test)]
            refuse_writes: std::sync::Mutex::new(None),
        })
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `id`'s file is, for messages (files are reached through the open directory).
    /// Ids are made by the station (UUIDs; older databases' may differ) and are checked
    /// anyway: nothing but letters, digits and dashes becomes a file name.
    pub(super) fn path(&self, id: &str) -> PathBuf {
        match is_file_name(id) {
            true => self.dir.join(id),
            // A name no file has.
            false => self.dir.join(".refused"),
        }
    }

    /// Writes a new payload file and syncs it and the directory: on disk when this returns.
    /// A file already there (another enqueue under the same id) is an error.
    pub(super) fn write(&self, id: &str, header: &Header, sealed: &[u8]) -> io::Result<()> {
        let mut file = self.open_at(id, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL)?;
        let written = (|| {
            let json = serde_json::to_vec(header)?;
            let mut head = Vec::with_capacity(12 + json.len());
            head.extend_from_slice(MAGIC);
            head.extend_from_slice(&(json.len() as u32).to_le_bytes());
            head.extend_from_slice(&json);
            file.write_all(&head)?;
            #[cfg(test)]
            if let Some(errno) = *self.refuse_writes.lock().unwrap() {
                return Err(io::Error::from_raw_os_error(errno));
            }
            file.write_all(sealed)?;
            file.sync_data()?;
            self.sync_dir()
        })();
        if written.is_err() {
            // Nothing may stay behind a refused enqueue; if even this fails, the next open
            // finds the file without a row and whole or not, drops or rebuilds it.
            let _ = self.remove(id);
        }
        written
    }

    /// A new or removed directory entry on disk.
    pub(super) fn sync_dir(&self) -> io::Result<()> {
        self.handle.sync_all()
    }

    /// `id`'s file, read whole and its layout checked; `None`: no such file. The send path
    /// reads a file per transaction: one open (of a name in the open directory), one read
    /// sized from the file's length, and the check for its end, whatever the payload's size.
    pub(super) fn read(&self, id: &str) -> io::Result<Option<PayloadFile>> {
        if !is_file_name(id) {
            return Ok(None);
        }
        let mut file = match self.open_for_reading(id) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        PayloadFile::parse(bytes).map(Some)
    }

    /// Opens `id`'s file without updating its access time: under `relatime` the first read
    /// after the write would dirty the inode, and a drain of thousands of files would write
    /// them all back to the disk. `O_NOATIME` is for the file's owner (or `CAP_FOWNER`); any
    /// other reader opens it the usual way.
    fn open_for_reading(&self, id: &str) -> io::Result<File> {
        match self.open_at(id, libc::O_RDONLY | libc::O_NOATIME) {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => self.open_at(id, libc::O_RDONLY),
            opened => opened,
        }
    }

    /// Opens `id`'s file in the open directory (a new one is created 0600): every file is
    /// reached through the same directory, even if it is moved or deleted while spidd runs.
    /// A name that cannot be a payload file's is refused.
    fn open_at(&self, id: &str, flags: libc::c_int) -> io::Result<File> {
        let name = file_name(id)?;
        // SAFETY: `name` is a NUL-terminated string that outlives the call, and `handle` an
        // open directory.
        let fd = unsafe {
            libc::openat(
                self.handle.as_raw_fd(),
                name.as_ptr(),
                flags | libc::O_CLOEXEC,
                0o600 as libc::c_uint,
            )
        };
        match fd {
            -1 => Err(io::Error::last_os_error()),
            // SAFETY: `fd` was just opened here and nothing else owns it.
            fd => Ok(unsafe { File::from_raw_fd(fd) }),
        }
    }

    /// Removes `id`'s file; none there is fine. The directory is not synced: a removal lost
    /// to a power cut is redone by the next open's sweep.
    pub(super) fn remove(&self, id: &str) -> io::Result<()> {
        if !is_file_name(id) {
            return Ok(());
        }
        let name = file_name(id)?;
        // SAFETY: as in `open_at`.
        match unsafe { libc::unlinkat(self.handle.as_raw_fd(), name.as_ptr(), 0) } {
            -1 => match io::Error::last_os_error() {
                e if e.kind() == io::ErrorKind::NotFound => Ok(()),
                e => Err(e),
            },
            _ => Ok(()),
        }
    }

    /// The ids of every payload file (listed by path: this runs as the outbox opens, with
    /// the directory just opened).
    pub(super) fn ids(&self) -> io::Result<Vec<String>> {
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            match name.to_str() {
                Some(id) if is_file_name(id) => ids.push(id.to_string()),
                _ => {
                    tracing::warn!(file = ?name, dir = %self.dir.display(), "not a payload file; left alone")
                }
            }
        }
        ids.sort();
        Ok(ids)
    }
}

/// `id` as a file name for the system calls; one that cannot be a payload file's is refused.
fn file_name(id: &str) -> io::Result<CString> {
    match is_file_name(id) {
        true => Ok(CString::new(id).expect("checked: letters, digits and dashes")),
        false => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{id:?} cannot name a payload file"),
        )),
    }
}

fn is_file_name(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn damaged(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, Damaged(why.to_string()))
}

/// Whether `e` says the file is not whole (as opposed to the disk failing).
pub(super) fn is_damaged(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Damaged>())
}

/// A nonce as the header holds it.
pub(super) fn nonce_text(nonce: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::tests::Scratch;

    fn header(len: u64) -> Header {
        Header {
            key_id: "k".into(),
            cipher: "aes-256-gcm".into(),
            nonce: nonce_text(&[1, 2, 0xab]),
            len,
            mode: "ENROLL".into(),
            cpf: "52998224725".into(),
            operator: "11144477735".into(),
            timestamp: 7,
            created_at: 8,
            summary: "{\"a\":1}".into(),
        }
    }

    /// A spool in a scratch directory `name`, holding one file of five sealed bytes.
    fn one_file(name: &str) -> (Scratch, Spool, String) {
        let dir = Scratch::new(name);
        std::fs::create_dir_all(&dir.0).unwrap();
        let spool = Spool::open(&dir.db()).unwrap();
        let id = uuid::Uuid::now_v7().to_string();
        spool.write(&id, &header(5), b"hello").unwrap();
        (dir, spool, id)
    }

    #[test]
    fn a_payload_file_reads_back_whole_and_a_cut_one_is_known() {
        let (_dir, spool, id) = one_file("spool");
        let file = spool.read(&id).unwrap().unwrap();
        assert_eq!(file.header().unwrap(), header(5));
        assert_eq!(file.sealed(), b"hello");
        assert_eq!(file.nonce, vec![1, 2, 0xab]);
        assert_eq!(file.cipher, Cipher::Aes256Gcm);
        // Opened where it lies: the plain bytes come out of the file's own buffer.
        let opened = file.open(|_, _, data| {
            data[..2].copy_from_slice(b"hi");
            Ok::<_, ()>(2)
        });
        assert_eq!(opened.unwrap(), &b"hi"[..]);
        assert_eq!(spool.ids().unwrap(), vec![id.clone()]);
        // A second file under the same id is refused, and the first stays.
        assert!(spool.write(&id, &header(1), b"x").is_err());
        assert!(spool.read(&id).unwrap().is_some());
        // Cut short anywhere: inside the header, inside the sealed bytes.
        let bytes = std::fs::read(spool.path(&id)).unwrap();
        for cut in [3, 20, bytes.len() - 1] {
            std::fs::write(spool.path(&id), &bytes[..cut]).unwrap();
            let e = spool.read(&id).unwrap_err();
            assert!(is_damaged(&e), "{cut}: {e}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        std::fs::write(spool.path(&id), &longer).unwrap();
        assert!(is_damaged(&spool.read(&id).unwrap_err()));
        spool.remove(&id).unwrap();
        spool.remove(&id).unwrap();
        assert!(spool.read(&id).unwrap().is_none());
    }

    #[test]
    fn only_payload_names_reach_the_disk_and_only_through_the_open_directory() {
        let (_dir, spool, id) = one_file("spool-names");
        for bad in ["../spidd.db", "a/b", "", ".refused", "x\0y"] {
            assert!(spool.read(bad).unwrap().is_none(), "{bad:?}");
            let e = spool.write(bad, &header(1), b"x").unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
            spool.remove(bad).unwrap();
        }
        // The directory moved away under a running station: its files are still found
        // through it, and nothing is written at the old path.
        let moved = spool.dir().with_file_name("moved-payloads");
        std::fs::rename(spool.dir(), &moved).unwrap();
        assert!(spool.read(&id).unwrap().is_some());
        let other = uuid::Uuid::now_v7().to_string();
        spool.write(&other, &header(5), b"hello").unwrap();
        assert!(moved.join(&other).exists());
        assert!(!spool.dir().exists());
        spool.remove(&id).unwrap();
        assert!(!moved.join(&id).exists());
    }

    #[test]
    fn the_directory_is_private_and_strangers_in_it_are_left_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = Scratch::new("spool-dir");
        std::fs::create_dir_all(&dir.0).unwrap();
        let spool = Spool::open(&dir.db()).unwrap();
        let mode = std::fs::metadata(spool.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::write(spool.dir().join("notes.txt"), b"x").unwrap();
        assert!(spool.ids().unwrap().is_empty());
    }

    #[test]
    fn reading_a_payload_leaves_its_access_time_alone() {
        let (_dir, spool, id) = one_file("spool-atime");
        // Two days old: `relatime` (and `strictatime`) would bring it up to date on a read.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
        let file = File::options().write(true).open(spool.path(&id)).unwrap();
        file.set_times(std::fs::FileTimes::new().set_accessed(old))
            .unwrap();
        drop(file);
        assert!(spool.read(&id).unwrap().is_some());
        let accessed = std::fs::metadata(spool.path(&id))
            .unwrap()
            .accessed()
            .unwrap();
        assert_eq!(accessed, old);
    }
}
