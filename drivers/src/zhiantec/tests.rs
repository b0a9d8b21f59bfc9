//! Session tests over an in-process fake module (a [`SerialTransport`] answering through the
//! codec); the independent emulator over a real pty is tested in `simulator/tests/`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::serial::{SerialError, SerialTransport};
use crate::{Cancel, DeviceError, FingerprintReader};

const PACKED_LEN: usize = 256 * 288 / 2;

struct Module {
    baud: u32,
    /// What SetSysPara 4 changes: the rate used from now on (ZFM) or only after power-up (R503).
    switch_applies_now: bool,
    password: u32,
    verified: bool,
    /// GenImg answers "no finger" this many times before a finger is there.
    polls_before_finger: u32,
    /// Then the finger stays for this many GenImg after the first hit.
    polls_with_finger: u32,
    polls: u32,
    garbage_before_reply: Vec<u8>,
    drop_replies: u32,
    corrupt_next_upload: bool,
    silent: bool,
    unplugged: bool,
    image: Vec<u8>,
    line_baud: u32,
    out: VecDeque<u8>,
    commands: Vec<u8>,
}

impl Module {
    fn new() -> Module {
        Module {
            baud: 57_600,
            switch_applies_now: true,
            password: 0,
            verified: false,
            polls_before_finger: 2,
            polls_with_finger: 3,
            polls: 0,
            garbage_before_reply: Vec::new(),
            drop_replies: 0,
            corrupt_next_upload: false,
            silent: false,
            unplugged: false,
            image: (0..PACKED_LEN).map(|i| (i * 7 % 256) as u8).collect(),
            line_baud: 0,
            out: VecDeque::new(),
            commands: Vec::new(),
        }
    }

    fn send(&mut self, kind: PacketKind, content: Vec<u8>) {
        let bytes = Packet::new(DEFAULT_ADDRESS, kind, content)
            .to_bytes()
            .unwrap();
        self.out.extend(bytes);
    }

    fn ack(&mut self, code: u8, params: &[u8]) {
        if self.drop_replies > 0 {
            self.drop_replies -= 1;
            return;
        }
        let garbage = self.garbage_before_reply.clone();
        self.out.extend(garbage);
        let mut content = vec![code];
        content.extend_from_slice(params);
        self.send(PacketKind::Ack, content);
    }

    fn handle(&mut self, cmd: &[u8]) {
        if self.silent || self.line_baud != self.baud {
            return;
        }
        self.commands.push(cmd[0]);
        if cmd[0] != 0x13 && self.password != 0 && !self.verified {
            return self.ack(0x21, &[]);
        }
        match cmd[0] {
            0x13 => {
                let ok = cmd[1..5] == self.password.to_be_bytes();
                self.verified = ok;
                self.ack(if ok { 0x00 } else { 0x13 }, &[]);
            }
            0x0F => {
                let mut block = vec![
                    0, 4, 0, 0, 0x03, 0xE8, 0, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0, 2, 0,
                ];
                block.push((self.baud / 9600) as u8);
                self.ack(0x00, &block);
            }
            0x0E if cmd[1] == 4 => {
                self.ack(0x00, &[]);
                if self.switch_applies_now {
                    self.baud = 9600 * u32::from(cmd[2]);
                }
            }
            0x01 => {
                self.polls += 1;
                let on = self.polls > self.polls_before_finger
                    && self.polls <= self.polls_before_finger + self.polls_with_finger;
                self.ack(if on { 0x00 } else { 0x02 }, &[]);
            }
            0x0A => {
                self.ack(0x00, &[]);
                let chunks: Vec<Vec<u8>> = self.image.chunks(128).map(<[u8]>::to_vec).collect();
                for (i, mut chunk) in chunks.into_iter().enumerate() {
                    let last = i + 1 == PACKED_LEN / 128;
                    let mut bytes = Packet::new(
                        DEFAULT_ADDRESS,
                        if last {
                            PacketKind::End
                        } else {
                            PacketKind::Data
                        },
                        chunk.clone(),
                    )
                    .to_bytes()
                    .unwrap();
                    if self.corrupt_next_upload && i == 100 {
                        chunk[5] ^= 0x40;
                        bytes[9 + 5] ^= 0x40;
                    }
                    self.out.extend(bytes);
                }
                self.corrupt_next_upload = false;
            }
            _ => self.ack(0xFC, &[]),
        }
    }
}

/// One connection to the shared fake module.
struct FakePort {
    module: Arc<Mutex<Module>>,
    decoder: Decoder,
    baud: u32,
}

impl SerialTransport for FakePort {
    fn read(&mut self, buf: &mut [u8], _timeout: Duration) -> Result<usize, SerialError> {
        let mut m = self.module.lock().unwrap();
        if m.unplugged {
            return Err(SerialError::Disconnected("fake unplugged".into()));
        }
        let n = buf.len().min(m.out.len());
        if n == 0 {
            return Err(SerialError::Timeout);
        }
        for b in buf.iter_mut().take(n) {
            *b = m.out.pop_front().unwrap();
        }
        Ok(n)
    }

    fn write_all(&mut self, data: &[u8]) -> Result<(), SerialError> {
        let mut m = self.module.lock().unwrap();
        if m.unplugged {
            return Err(SerialError::Disconnected("fake unplugged".into()));
        }
        m.line_baud = self.baud;
        self.decoder.push(data);
        while let Some(Ok(packet)) = self.decoder.next_packet() {
            assert_eq!(packet.kind, PacketKind::Command);
            m.handle(&packet.content);
        }
        Ok(())
    }

    fn clear_input(&mut self) -> Result<(), SerialError> {
        let mut m = self.module.lock().unwrap();
        if m.unplugged {
            return Err(SerialError::Disconnected("fake unplugged".into()));
        }
        m.out.clear();
        Ok(())
    }

    fn set_baud(&mut self, baud: u32) -> Result<(), SerialError> {
        self.baud = baud;
        Ok(())
    }

    fn baud(&self) -> u32 {
        self.baud
    }
}

fn settings() -> ZhiantecSettings {
    ZhiantecSettings {
        poll_interval: Duration::from_millis(1),
        probe_timeout: Duration::from_millis(5),
        reply_timeout: Duration::from_millis(20),
        ..ZhiantecSettings::default()
    }
}

fn reader(module: &Arc<Mutex<Module>>, settings: ZhiantecSettings) -> ZhiantecReader<FakePort> {
    let module = module.clone();
    ZhiantecReader::new(
        "/dev/ttyFAKE",
        settings,
        Box::new(move |baud| {
            if module.lock().unwrap().unplugged {
                return Err(SerialError::Disconnected("no such port".into()));
            }
            Ok(FakePort {
                module: module.clone(),
                decoder: Decoder::new(),
                baud,
            })
        }),
    )
}

fn expected_image(module: &Arc<Mutex<Module>>) -> crate::GrayImage {
    unpack_4bit(&module.lock().unwrap().image, 256, 288).unwrap()
}

const LONG: Duration = Duration::from_secs(5);

#[test]
fn opens_waits_captures_and_waits_for_lift() {
    let module = Arc::new(Mutex::new(Module::new()));
    let mut r = reader(&module, settings());
    r.open().unwrap();
    r.open().unwrap();
    assert_eq!(r.baud(), Some(57_600));
    assert_eq!(r.system_parameters().map(|p| p.capacity), Some(1000));
    assert!(r.info().name.contains("library 1000"));
    assert_eq!(r.info().driver, "zhiantec");
    r.wait_finger(LONG, &Cancel::new()).unwrap();
    let img = r.capture().unwrap();
    assert_eq!(
        (img.image.width(), img.image.height(), img.ppi),
        (256, 288, 500)
    );
    assert_eq!(img.image, expected_image(&module));
    r.wait_finger_off(LONG, &Cancel::new()).unwrap();
    let commands = module.lock().unwrap().commands.clone();
    // VfyPwd, ReadSysPara, GenImg ×3 (no, no, yes), UpImage, GenImg until the finger leaves.
    assert_eq!(&commands[..6], &[0x13, 0x0F, 0x01, 0x01, 0x01, 0x0A]);
    assert_eq!(
        commands.iter().filter(|&&c| c == 0x0A).count(),
        1,
        "capture reuses the buffered image"
    );
    r.close();
}

#[test]
fn finds_a_module_at_another_rate() {
    let module = Arc::new(Mutex::new(Module {
        baud: 19_200,
        ..Module::new()
    }));
    let mut r = reader(&module, settings());
    r.open().unwrap();
    assert_eq!(r.baud(), Some(19_200));
}

#[test]
fn switches_to_the_configured_rate_and_falls_back_when_the_module_keeps_its_own() {
    let module = Arc::new(Mutex::new(Module::new()));
    let mut r = reader(
        &module,
        ZhiantecSettings {
            switch_to_baud: Some(115_200),
            ..settings()
        },
    );
    r.open().unwrap();
    assert_eq!(
        (r.baud(), module.lock().unwrap().baud),
        (Some(115_200), 115_200)
    );

    let module = Arc::new(Mutex::new(Module {
        switch_applies_now: false,
        ..Module::new()
    }));
    let mut r = reader(
        &module,
        ZhiantecSettings {
            switch_to_baud: Some(115_200),
            ..settings()
        },
    );
    r.open().unwrap();
    assert_eq!(r.baud(), Some(57_600));
    r.wait_finger(LONG, &Cancel::new()).unwrap();
}

#[test]
fn garbage_and_dropped_replies_are_survived() {
    let module = Arc::new(Mutex::new(Module {
        garbage_before_reply: vec![0x55, 0xEF, 0x01, 0xFF, 0x00, 0xEF],
        drop_replies: 1,
        corrupt_next_upload: true,
        ..Module::new()
    }));
    let mut r = reader(&module, settings());
    r.open().unwrap();
    module.lock().unwrap().drop_replies = 1;
    r.wait_finger(LONG, &Cancel::new()).unwrap();
    let img = r.capture().unwrap();
    assert_eq!(img.image, expected_image(&module));
    let uploads = module
        .lock()
        .unwrap()
        .commands
        .iter()
        .filter(|&&c| c == 0x0A)
        .count();
    assert_eq!(uploads, 2, "the corrupt upload was asked for again");
}

#[test]
fn a_wrong_password_is_a_clear_protocol_error() {
    let module = Arc::new(Mutex::new(Module {
        password: 0x1234_5678,
        ..Module::new()
    }));
    let err = reader(&module, settings()).open().unwrap_err();
    assert!(
        matches!(&err, DeviceError::Protocol(m) if m.contains("password")),
        "{err:?}"
    );
    let mut r = reader(
        &module,
        ZhiantecSettings {
            password: 0x1234_5678,
            ..settings()
        },
    );
    r.open().unwrap();
    // A power cycle forgets the verification; the session verifies again.
    module.lock().unwrap().verified = false;
    r.wait_finger(LONG, &Cancel::new()).unwrap();
}

#[test]
fn a_silent_module_is_unavailable() {
    let module = Arc::new(Mutex::new(Module {
        silent: true,
        ..Module::new()
    }));
    let err = reader(&module, settings()).open().unwrap_err();
    assert!(
        matches!(&err, DeviceError::Unavailable(m) if m.contains("57600, 115200")),
        "{err:?}"
    );

    let module = Arc::new(Mutex::new(Module::new()));
    let mut r = reader(&module, settings());
    r.open().unwrap();
    module.lock().unwrap().silent = true;
    let err = r.wait_finger(LONG, &Cancel::new()).unwrap_err();
    assert!(matches!(err, DeviceError::Unavailable(_)), "{err:?}");
    module.lock().unwrap().silent = false;
    r.open().unwrap();
    r.wait_finger(LONG, &Cancel::new()).unwrap();
}

#[test]
fn unplugging_is_unavailable_and_a_replug_reopens() {
    let module = Arc::new(Mutex::new(Module::new()));
    let mut r = reader(&module, settings());
    r.open().unwrap();
    module.lock().unwrap().unplugged = true;
    assert!(matches!(
        r.wait_finger(LONG, &Cancel::new()),
        Err(DeviceError::Unavailable(_))
    ));
    assert!(matches!(r.capture(), Err(DeviceError::Unavailable(_))));
    assert!(matches!(r.open(), Err(DeviceError::Unavailable(_))));
    module.lock().unwrap().unplugged = false;
    r.open().unwrap();
    r.wait_finger(LONG, &Cancel::new()).unwrap();
}

#[test]
fn waits_end_on_timeout_and_cancel() {
    let module = Arc::new(Mutex::new(Module {
        polls_before_finger: u32::MAX / 2,
        ..Module::new()
    }));
    let mut r = reader(&module, settings());
    r.open().unwrap();
    assert_eq!(
        r.wait_finger(Duration::from_millis(30), &Cancel::new()),
        Err(DeviceError::Timeout)
    );
    let cancel = Cancel::new();
    cancel.cancel();
    assert_eq!(r.wait_finger(LONG, &cancel), Err(DeviceError::Cancelled));
    let err = r.capture().unwrap_err();
    assert!(
        matches!(err, DeviceError::Protocol(ref m) if m.contains("no finger")),
        "{err:?}"
    );
}
