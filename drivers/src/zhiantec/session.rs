//! A ZhianTec/Synochip module as a [`FingerprintReader`]: baud negotiation and password
//! verification on open, GenImg polling for finger on/off, UpImage for the capture.

use std::time::{Duration, Instant};

use super::command::{Confirmation, Instruction, SysParaRegister};
use super::link::{Link, LinkError, UploadOutcome};
use super::settings::ZhiantecSettings;
use super::syspara::SystemParameters;
use crate::serial::{SerialError, SerialTransport};
use crate::{Cancel, DeviceError, DeviceInfo, DeviceKind, FingerImage, FingerprintReader};

/// Opens the port at a given rate; called on `open` and again after an unplug.
pub type Connector<T> = Box<dyn FnMut(u32) -> Result<T, SerialError> + Send>;

/// Waits never sleep longer than this, so a cancel is seen within about 10 ms.
const CANCEL_SLICE: Duration = Duration::from_millis(10);

/// A module behind a serial port.
pub struct ZhiantecReader<T: SerialTransport> {
    port: String,
    settings: ZhiantecSettings,
    connect: Connector<T>,
    link: Option<Link<T>>,
    params: Option<SystemParameters>,
    /// The module's image buffer holds an image of the finger found by the last GenImg.
    image_ready: bool,
}

impl<T: SerialTransport> ZhiantecReader<T> {
    /// A reader for the module on `port` (a path, for humans and `DeviceInfo`), reached
    /// through `connect`. Nothing is opened until [`FingerprintReader::open`].
    pub fn new(port: impl Into<String>, settings: ZhiantecSettings, connect: Connector<T>) -> Self {
        ZhiantecReader {
            port: port.into(),
            settings,
            connect,
            link: None,
            params: None,
            image_ready: false,
        }
    }

    /// The module's parameters, read on open.
    pub fn system_parameters(&self) -> Option<SystemParameters> {
        self.params
    }

    /// The line speed in use, once open.
    pub fn baud(&self) -> Option<u32> {
        self.link.as_ref().map(|l| l.transport.baud())
    }

    fn fail(&mut self, e: LinkError) -> DeviceError {
        let err = e.into_device_error(&self.port);
        if matches!(err, DeviceError::Unavailable(_)) {
            // The next open starts from scratch: reconnect, renegotiate.
            self.link = None;
            self.image_ready = false;
        }
        err
    }

    fn link(&mut self) -> Result<&mut Link<T>, DeviceError> {
        match self.link {
            Some(ref mut link) => Ok(link),
            None => Err(DeviceError::Unavailable(format!(
                "{} is not open",
                self.port
            ))),
        }
    }

    fn command(
        &mut self,
        instruction: Instruction,
        params: &[u8],
    ) -> Result<super::command::Ack, DeviceError> {
        let (timeout, retries) = (self.settings.reply_timeout, self.settings.retries);
        let result = self.link()?.command(instruction, params, timeout, retries);
        result.map_err(|e| self.fail(e))
    }

    /// Finds the rate the module answers at and verifies the password there.
    fn negotiate(&mut self) -> Result<Link<T>, DeviceError> {
        let candidates = self.settings.baud_candidates();
        let mut transport = (self.connect)(candidates[0]).map_err(DeviceError::from)?;
        for round in 0..self.settings.open_rounds.max(1) {
            for &baud in &candidates {
                transport.set_baud(baud).map_err(DeviceError::from)?;
                let mut link = Link::new(transport, self.settings.address);
                match self.verify_password(&mut link, self.settings.probe_timeout, 0) {
                    Ok(()) => {
                        tracing::info!(port = %self.port, baud, round, "fingerprint module answers");
                        return Ok(link);
                    }
                    Err(ProbeError::Silent) => transport = link.transport,
                    Err(ProbeError::Device(e)) => return Err(e),
                }
            }
        }
        let tried: Vec<String> = candidates.iter().map(u32::to_string).collect();
        Err(DeviceError::Unavailable(format!(
            "no fingerprint module answers on {} at {} baud",
            self.port,
            tried.join(", ")
        )))
    }

    fn verify_password(
        &self,
        link: &mut Link<T>,
        timeout: Duration,
        retries: u32,
    ) -> Result<(), ProbeError> {
        let pwd = self.settings.password.to_be_bytes();
        match link.command(Instruction::VfyPwd, &pwd, timeout, retries) {
            Ok(ack) if ack.code == Confirmation::OK => Ok(()),
            Ok(ack) if ack.code == Confirmation::WRONG_PASSWORD => {
                Err(ProbeError::Device(DeviceError::Protocol(format!(
                    "the module on {} refused the configured password ({})",
                    self.port, ack.code
                ))))
            }
            Ok(ack) => Err(ProbeError::Device(DeviceError::Protocol(format!(
                "the module on {} answered VfyPwd with {}",
                self.port, ack.code
            )))),
            Err(LinkError::NoReply | LinkError::BadReply(_)) => Err(ProbeError::Silent),
            Err(e) => Err(ProbeError::Device(e.into_device_error(&self.port))),
        }
    }

    fn read_system_parameters(&mut self) -> Result<SystemParameters, DeviceError> {
        let ack = self.command(Instruction::ReadSysPara, &[])?;
        if ack.code != Confirmation::OK {
            return Err(DeviceError::Protocol(format!(
                "ReadSysPara answered {}",
                ack.code
            )));
        }
        SystemParameters::parse(&ack.params)
            .map_err(|e| DeviceError::Protocol(format!("ReadSysPara: {e}")))
    }

    /// SetSysPara 4 to the configured rate, then reopen at it; back to the old rate when the
    /// module does not answer there (the R503 applies it only after a power cycle).
    fn switch_baud(&mut self, target: u32) -> Result<(), DeviceError> {
        let Some(old) = self.baud() else {
            return Ok(());
        };
        if old == target {
            return Ok(());
        }
        let multiplier = (target / 9600) as u8;
        let ack = self.command(
            Instruction::SetSysPara,
            &[SysParaRegister::BaudMultiplier.number(), multiplier],
        )?;
        if ack.code != Confirmation::OK {
            tracing::warn!(port = %self.port, code = %ack.code, target, "module refused the baud change");
            return Ok(());
        }
        for baud in [target, old] {
            let mut link = self
                .link
                .take()
                .ok_or_else(|| DeviceError::Unavailable(self.port.clone()))?;
            link.transport.set_baud(baud).map_err(DeviceError::from)?;
            let result = self.verify_password(
                &mut link,
                self.settings.probe_timeout,
                self.settings.retries,
            );
            self.link = Some(link);
            match result {
                Ok(()) => {
                    if baud != target {
                        tracing::warn!(port = %self.port, target, baud, "module kept its old rate");
                    }
                    return Ok(());
                }
                Err(ProbeError::Silent) => continue,
                Err(ProbeError::Device(e)) => return Err(e),
            }
        }
        self.link = None;
        Err(DeviceError::Unavailable(format!(
            "the module on {} stopped answering after a baud change to {target}",
            self.port
        )))
    }

    /// One GenImg: true when a finger was imaged into the buffer.
    fn finger_present(&mut self) -> Result<bool, DeviceError> {
        let mut ack = self.command(Instruction::GenImg, &[])?;
        if ack.code == Confirmation::PASSWORD_REQUIRED {
            // The module was power-cycled under us and forgot the verification.
            let (timeout, retries) = (self.settings.reply_timeout, self.settings.retries);
            let mut link = self
                .link
                .take()
                .ok_or_else(|| DeviceError::Unavailable(self.port.clone()))?;
            let verified = self.verify_password(&mut link, timeout, retries);
            self.link = Some(link);
            match verified {
                Ok(()) => {}
                Err(ProbeError::Silent) => return Err(self.fail(LinkError::NoReply)),
                Err(ProbeError::Device(e)) => return Err(e),
            }
            ack = self.command(Instruction::GenImg, &[])?;
        }
        match ack.code {
            Confirmation::OK => Ok(true),
            // A capture failure is a finger badly placed or moving: not there yet.
            Confirmation::NO_FINGER | Confirmation::CAPTURE_FAILED => Ok(false),
            code => Err(DeviceError::Protocol(format!("GenImg answered {code}"))),
        }
    }

    /// Polls GenImg until it reports `want` (finger on or off).
    fn poll_finger(
        &mut self,
        want: bool,
        timeout: Duration,
        cancel: &Cancel,
    ) -> Result<(), DeviceError> {
        let deadline = Instant::now() + timeout;
        loop {
            if cancel.is_cancelled() {
                return Err(DeviceError::Cancelled);
            }
            let present = self.finger_present()?;
            self.image_ready = present;
            if present == want {
                return Ok(());
            }
            pause(self.settings.poll_interval, cancel, deadline)?;
        }
    }
}

enum ProbeError {
    /// No valid reply: wrong rate, module still powering up, or nothing there.
    Silent,
    Device(DeviceError),
}

/// Sleeps `duration` in short slices; stops early on cancel or when `deadline` passes.
fn pause(duration: Duration, cancel: &Cancel, deadline: Instant) -> Result<(), DeviceError> {
    let end = Instant::now() + duration;
    loop {
        if cancel.is_cancelled() {
            return Err(DeviceError::Cancelled);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(DeviceError::Timeout);
        }
        if now >= end {
            return Ok(());
        }
        std::thread::sleep(CANCEL_SLICE.min(end - now).min(deadline - now));
    }
}

impl<T: SerialTransport> FingerprintReader for ZhiantecReader<T> {
    fn info(&self) -> DeviceInfo {
        let name = match self.params {
            Some(p) => format!(
                "ZhianTec/Synochip fingerprint module (library {}, {} baud)",
                p.capacity,
                self.baud().unwrap_or(p.baud)
            ),
            None => "ZhianTec/Synochip fingerprint module".into(),
        };
        DeviceInfo {
            kind: DeviceKind::FingerprintReader,
            driver: super::DRIVER.into(),
            address: self.port.clone(),
            name,
            firmware: None,
        }
    }

    fn open(&mut self) -> Result<(), DeviceError> {
        if self.link.is_some() {
            return Ok(());
        }
        let link = self.negotiate()?;
        self.link = Some(link);
        self.image_ready = false;
        let params = self.read_system_parameters()?;
        if params.address != self.settings.address {
            tracing::warn!(port = %self.port, reported = params.address, "module reports another address than it answers on");
        }
        self.params = Some(params);
        if let Some(target) = self.settings.switch_to_baud {
            self.switch_baud(target)?;
        }
        Ok(())
    }

    fn wait_finger(&mut self, timeout: Duration, cancel: &Cancel) -> Result<(), DeviceError> {
        self.poll_finger(true, timeout, cancel)
    }

    fn capture(&mut self) -> Result<FingerImage, DeviceError> {
        if !self.image_ready && !self.finger_present()? {
            return Err(DeviceError::Protocol(
                "no finger on the sensor to capture".into(),
            ));
        }
        self.image_ready = false;
        let (gap, retries) = (self.settings.reply_timeout, self.settings.retries);
        let started = Instant::now();
        let outcome = self.link()?.upload_image(gap, retries);
        match outcome.map_err(|e| self.fail(e))? {
            UploadOutcome::Image(image) => {
                tracing::debug!(
                    port = %self.port,
                    width = image.image.width(),
                    height = image.image.height(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "module image uploaded"
                );
                Ok(image)
            }
            UploadOutcome::Refused(code) => {
                Err(DeviceError::Protocol(format!("UpImage answered {code}")))
            }
        }
    }

    fn wait_finger_off(&mut self, timeout: Duration, cancel: &Cancel) -> Result<(), DeviceError> {
        let result = self.poll_finger(false, timeout, cancel);
        self.image_ready = false;
        result
    }

    fn close(&mut self) {
        self.link = None;
        self.image_ready = false;
    }
}
