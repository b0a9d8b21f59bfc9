//! Command/acknowledge exchanges and image uploads over a [`SerialTransport`]: framing through
//! the [`Decoder`], reply timeouts, retries of idempotent commands, dropping stale input.

use std::time::{Duration, Instant};

use super::command::{Ack, Confirmation, Instruction};
use super::image::{ImageUpload, MAX_UPLOAD};
use super::packet::{Decoder, Packet, PacketKind, OVERHEAD};
use crate::serial::{SerialError, SerialTransport};
use crate::{DeviceError, FingerImage};

/// Why an exchange failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LinkError {
    /// Nothing usable arrived before the deadline.
    NoReply,
    /// Something arrived but was not a valid reply (bad checksum, wrong address, wrong kind).
    BadReply(String),
    /// The port failed or disappeared.
    Port(SerialError),
}

impl LinkError {
    pub(crate) fn into_device_error(self, port: &str) -> DeviceError {
        match self {
            LinkError::NoReply => {
                DeviceError::Unavailable(format!("no answer from the fingerprint module on {port}"))
            }
            LinkError::BadReply(why) => {
                DeviceError::Protocol(format!("bad reply from the module on {port}: {why}"))
            }
            LinkError::Port(e) => e.into(),
        }
    }
}

/// Bytes read from the port per call.
const READ_CHUNK: usize = 512;

/// The packet layer over one open port.
pub(crate) struct Link<T> {
    pub(crate) transport: T,
    address: u32,
    decoder: Decoder,
}

impl<T: SerialTransport> Link<T> {
    pub(crate) fn new(transport: T, address: u32) -> Link<T> {
        Link {
            transport,
            address,
            decoder: Decoder::new(),
        }
    }

    /// How long `bytes` take on the line at the current rate (10 bits per byte, 8N1).
    pub(crate) fn wire_time(&self, bytes: usize) -> Duration {
        Duration::from_micros(bytes as u64 * 10_000_000 / u64::from(self.transport.baud().max(1)))
    }

    /// Drops stale input, so the next packet read answers the next command.
    fn discard_input(&mut self) -> Result<(), LinkError> {
        self.transport.clear_input().map_err(LinkError::Port)?;
        self.decoder.clear();
        Ok(())
    }

    fn send(&mut self, packet: &Packet) -> Result<(), LinkError> {
        let bytes = packet
            .to_bytes()
            .map_err(|e| LinkError::BadReply(e.to_string()))?;
        self.transport.write_all(&bytes).map_err(LinkError::Port)
    }

    /// The next well-formed packet addressed from our module, or the first framing error.
    fn next_packet(&mut self, deadline: Instant) -> Result<Packet, LinkError> {
        let mut buf = [0u8; READ_CHUNK];
        loop {
            match self.decoder.next_packet() {
                Some(Ok(p)) if p.address == self.address => return Ok(p),
                Some(Ok(p)) => {
                    return Err(LinkError::BadReply(format!(
                        "packet from address {:08X}, expected {:08X}",
                        p.address, self.address
                    )))
                }
                Some(Err(e)) => return Err(LinkError::BadReply(e.to_string())),
                None => {}
            }
            let now = Instant::now();
            let read = if now >= deadline {
                Err(SerialError::Timeout)
            } else {
                self.transport.read(&mut buf, deadline - now)
            };
            match read {
                Ok(n) => self.decoder.push(&buf[..n]),
                // A partial packet that stopped arriving may sit behind a false header: look
                // past it before declaring silence.
                Err(SerialError::Timeout) if self.decoder.skip_stalled() => {}
                Err(SerialError::Timeout) => return Err(LinkError::NoReply),
                Err(e) => return Err(LinkError::Port(e)),
            }
        }
    }

    /// The acknowledge to the command just sent: garbage and false packets before it are
    /// skipped until `deadline`.
    fn await_ack(&mut self, deadline: Instant) -> Result<Ack, LinkError> {
        let mut last_bad = None;
        loop {
            match self.next_packet(deadline) {
                Ok(p) => match Ack::from_packet(&p) {
                    Some(ack) => return Ok(ack),
                    None => {
                        last_bad = Some(format!("{:?} packet where an acknowledge was due", p.kind))
                    }
                },
                Err(LinkError::BadReply(why)) => last_bad = Some(why),
                Err(LinkError::NoReply) => {
                    return Err(last_bad.map_or(LinkError::NoReply, LinkError::BadReply))
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends `instruction` and returns its acknowledge, trying `1 + retries` times when no
    /// valid acknowledge comes within `timeout` or the module reports a receive error.
    pub(crate) fn command(
        &mut self,
        instruction: Instruction,
        params: &[u8],
        timeout: Duration,
        retries: u32,
    ) -> Result<Ack, LinkError> {
        let packet = instruction.packet(self.address, params);
        let mut attempt = 0;
        loop {
            self.discard_input()?;
            self.send(&packet)?;
            let deadline = Instant::now() + timeout + self.wire_time(packet.wire_len() + 64);
            let result = match self.await_ack(deadline) {
                Ok(ack) if ack.code == Confirmation::RECEIVE_ERROR => {
                    Err(LinkError::BadReply(format!("module reports {}", ack.code)))
                }
                other => other,
            };
            match result {
                Ok(ack) => return Ok(ack),
                Err(LinkError::Port(e)) => return Err(LinkError::Port(e)),
                Err(e) if attempt >= retries => return Err(e),
                Err(e) => {
                    attempt += 1;
                    tracing::debug!(?instruction, attempt, error = ?e, "retrying module command");
                }
            }
        }
    }

    /// Uploads the image buffer (UpImage, then data packets up to the end packet), starting
    /// over when a packet is lost or corrupt. `gap` is the longest silence allowed between
    /// packets.
    pub(crate) fn upload_image(
        &mut self,
        gap: Duration,
        retries: u32,
    ) -> Result<UploadOutcome, LinkError> {
        let mut attempt = 0;
        loop {
            let ack = self.command(Instruction::UpImage, &[], gap, retries)?;
            if ack.code != Confirmation::OK {
                return Ok(UploadOutcome::Refused(ack.code));
            }
            match self.receive_upload(gap) {
                Ok(image) => return Ok(UploadOutcome::Image(image)),
                Err(LinkError::Port(e)) => return Err(LinkError::Port(e)),
                Err(e) if attempt >= retries => return Err(e),
                Err(e) => {
                    attempt += 1;
                    tracing::debug!(attempt, error = ?e, "image upload failed, asking again");
                    self.wait_quiet(gap)?;
                }
            }
        }
    }

    fn receive_upload(&mut self, gap: Duration) -> Result<FingerImage, LinkError> {
        let per_packet = gap + self.wire_time(OVERHEAD + 256);
        let mut upload = ImageUpload::new();
        loop {
            let packet = self.next_packet(Instant::now() + per_packet)?;
            if packet.kind == PacketKind::Ack {
                return Err(LinkError::BadReply(
                    "acknowledge inside an image upload".into(),
                ));
            }
            let done = upload
                .push(&packet)
                .map_err(|e| LinkError::BadReply(e.to_string()))?;
            if done {
                return upload
                    .finish()
                    .map_err(|e| LinkError::BadReply(e.to_string()));
            }
        }
    }

    /// Reads and drops input until the line has been silent for a while (the rest of an
    /// aborted upload), so the next command's reply is not mistaken for it.
    fn wait_quiet(&mut self, gap: Duration) -> Result<(), LinkError> {
        let quiet = (gap / 4).max(self.wire_time(3 * (OVERHEAD + 256)));
        // A module that never stops talking must not hold us forever: a whole upload's time.
        let give_up = Instant::now() + gap + self.wire_time(2 * MAX_UPLOAD);
        let mut buf = [0u8; READ_CHUNK];
        loop {
            if Instant::now() >= give_up {
                return Err(LinkError::BadReply(
                    "the module does not stop sending".into(),
                ));
            }
            match self.transport.read(&mut buf, quiet) {
                Ok(_) => continue,
                Err(SerialError::Timeout) => return self.discard_input(),
                Err(e) => return Err(LinkError::Port(e)),
            }
        }
    }
}

/// What an UpImage produced.
#[derive(Debug)]
pub(crate) enum UploadOutcome {
    Image(FingerImage),
    /// The module declined with this confirmation (no valid image in the buffer, …).
    Refused(Confirmation),
}
