//! The emulated module: a sans-IO state machine that takes the host's bytes and returns its
//! replies, plus a [`ModuleControl`] handle for tests to present fingers and inject faults.

use std::sync::{Arc, Mutex, MutexGuard};

use image::GrayImage;

use super::frame::{write_frame, FrameReader, Received, PID_ACK, PID_COMMAND, PID_DATA, PID_END};

/// When a SetSysPara baud change takes effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaudChange {
    /// After the acknowledge, which still goes out at the old rate (ZFM-20 datasheet).
    AfterAck,
    /// At the next power cycle (R503 manual).
    AfterPowerCycle,
}

/// What the emulated module is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleConfig {
    pub address: u32,
    pub password: u32,
    /// The rate it listens at (9600 × N).
    pub baud: u32,
    /// Data packet content size: 32, 64, 128 or 256.
    pub packet_size: usize,
    pub capacity: u16,
    pub system_id: u16,
    pub security_level: u16,
    pub baud_change: BaudChange,
}

impl Default for ModuleConfig {
    /// A factory ZFM-20/R307: address FFFFFFFF, password 0, 57 600 baud, 128-byte packets.
    fn default() -> Self {
        ModuleConfig {
            address: 0xFFFF_FFFF,
            password: 0,
            baud: 57_600,
            packet_size: 128,
            capacity: 1000,
            system_id: 0,
            security_level: 3,
            baud_change: BaudChange::AfterAck,
        }
    }
}

#[derive(Debug)]
struct State {
    config: ModuleConfig,
    verified: bool,
    pending_baud: Option<u32>,
    /// The finger on the glass, at full 8-bit depth.
    finger: Option<GrayImage>,
    /// What the last successful GenImg captured, already at 4 bits (expanded ×17).
    image_buffer: Option<GrayImage>,
    garbage: Vec<u8>,
    drop_replies: u32,
    silent: bool,
    unplugged: bool,
    commands: Vec<u8>,
}

/// A handle on a running module for tests and the simulator.
#[derive(Clone, Debug)]
pub struct ModuleControl(Arc<Mutex<State>>);

impl ModuleControl {
    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts a finger on the sensor; the next GenImg images it.
    pub fn present_finger(&self, image: GrayImage) {
        self.state().finger = Some(image);
    }

    pub fn lift_finger(&self) {
        self.state().finger = None;
    }

    /// While set, the module reads but never answers (a hung or unpowered module).
    pub fn set_silent(&self, silent: bool) {
        self.state().silent = silent;
    }

    /// Bytes sent before every acknowledge (line noise, the R503's `0x55`); empty stops it.
    pub fn set_garbage(&self, bytes: Vec<u8>) {
        self.state().garbage = bytes;
    }

    /// The next `n` acknowledges are lost.
    pub fn drop_replies(&self, n: u32) {
        self.state().drop_replies = n;
    }

    /// Pulls the plug: the pty runner closes its side, the host sees a hangup.
    pub fn unplug(&self) {
        self.state().unplugged = true;
    }

    pub fn is_unplugged(&self) -> bool {
        self.state().unplugged
    }

    /// Forgets the password verification and applies a pending baud change.
    pub fn power_cycle(&self) {
        let mut s = self.state();
        s.verified = false;
        if let Some(baud) = s.pending_baud.take() {
            s.config.baud = baud;
        }
    }

    /// The rate the module listens at now.
    pub fn baud(&self) -> u32 {
        self.state().config.baud
    }

    /// Instruction codes received so far, oldest first.
    pub fn commands(&self) -> Vec<u8> {
        self.state().commands.clone()
    }

    /// The last captured image as the host should decode it (4-bit, expanded by ×17).
    pub fn image_buffer(&self) -> Option<GrayImage> {
        self.state().image_buffer.clone()
    }
}

/// The image as the module's 4-bit upload carries it, expanded back to 8 bits by ×17.
pub fn quantised(image: &GrayImage) -> GrayImage {
    let mut out = image.clone();
    for p in out.pixels_mut() {
        p.0[0] = (p.0[0] >> 4) * 17;
    }
    out
}

/// Packs an image 4 bits per pixel, high nibble = left pixel, rows top to bottom.
pub fn pack_4bit(image: &GrayImage) -> Vec<u8> {
    image
        .as_raw()
        .chunks(2)
        .map(|pair| (pair[0] & 0xF0) | (pair.get(1).copied().unwrap_or(0) >> 4))
        .collect()
}

/// An emulated ZhianTec/Synochip module.
#[derive(Debug)]
pub struct ZhiantecModule {
    state: ModuleControl,
    reader: FrameReader,
}

impl ZhiantecModule {
    pub fn new(config: ModuleConfig) -> ZhiantecModule {
        let state = State {
            config,
            verified: false,
            pending_baud: None,
            finger: None,
            image_buffer: None,
            garbage: Vec::new(),
            drop_replies: 0,
            silent: false,
            unplugged: false,
            commands: Vec::new(),
        };
        ZhiantecModule {
            state: ModuleControl(Arc::new(Mutex::new(state))),
            reader: FrameReader::default(),
        }
    }

    pub fn control(&self) -> ModuleControl {
        self.state.clone()
    }

    /// Takes bytes from the host, heard on a line at `line_baud` (`None`: always right), and
    /// returns the module's answer. Bytes at the wrong rate are noise to a UART: dropped.
    pub fn receive(&mut self, bytes: &[u8], line_baud: Option<u32>) -> Vec<u8> {
        let mut out = Vec::new();
        let control = self.state.clone();
        let mut s = control.state();
        if s.silent || s.unplugged || line_baud.is_some_and(|b| b != s.config.baud) {
            return out;
        }
        self.reader.push(bytes);
        while let Some(received) = self.reader.next() {
            match received {
                Received::Corrupt { address } if address == s.config.address => {
                    ack(&mut s, &mut out, 0x01, &[])
                }
                Received::Frame(f) if f.address == s.config.address && f.pid == PID_COMMAND => {
                    if let Some((&code, params)) = f.content.split_first() {
                        s.commands.push(code);
                        execute(&mut s, code, params, &mut out);
                    }
                }
                // Other addresses, data from the host, empty commands: a module ignores them.
                _ => {}
            }
        }
        out
    }
}

fn ack(s: &mut State, out: &mut Vec<u8>, code: u8, params: &[u8]) {
    if s.drop_replies > 0 {
        s.drop_replies -= 1;
        return;
    }
    out.extend_from_slice(&s.garbage);
    let mut content = Vec::with_capacity(1 + params.len());
    content.push(code);
    content.extend_from_slice(params);
    write_frame(s.config.address, PID_ACK, &content, out);
}

fn execute(s: &mut State, code: u8, params: &[u8], out: &mut Vec<u8>) {
    const VFY_PWD: u8 = 0x13;
    if code != VFY_PWD && s.config.password != 0 && !s.verified {
        return ack(s, out, 0x21, &[]);
    }
    match code {
        VFY_PWD => match params.get(..4) {
            Some(p) if p == s.config.password.to_be_bytes() => {
                s.verified = true;
                ack(s, out, 0x00, &[]);
            }
            Some(_) => ack(s, out, 0x13, &[]),
            None => ack(s, out, 0x01, &[]),
        },
        // GenImg
        0x01 => match s.finger.as_ref().map(quantised) {
            Some(image) => {
                s.image_buffer = Some(image);
                ack(s, out, 0x00, &[]);
            }
            None => ack(s, out, 0x02, &[]),
        },
        // UpImage
        0x0A => match s.image_buffer.as_ref().map(pack_4bit) {
            Some(packed) => {
                ack(s, out, 0x00, &[]);
                let chunks: Vec<&[u8]> = packed.chunks(s.config.packet_size).collect();
                for (i, chunk) in chunks.iter().enumerate() {
                    let pid = if i + 1 == chunks.len() {
                        PID_END
                    } else {
                        PID_DATA
                    };
                    write_frame(s.config.address, pid, chunk, out);
                }
            }
            None => ack(s, out, 0x0F, &[]),
        },
        // SetSysPara
        0x0E => set_sys_para(s, params, out),
        // ReadSysPara
        0x0F => {
            let c = &s.config;
            let mut block = Vec::with_capacity(16);
            let status: u16 =
                (u16::from(s.verified) << 2) | (u16::from(s.image_buffer.is_some()) << 3);
            for word in [status, c.system_id, c.capacity, c.security_level] {
                block.extend_from_slice(&word.to_be_bytes());
            }
            block.extend_from_slice(&c.address.to_be_bytes());
            let size_code = (c.packet_size / 32).trailing_zeros() as u16;
            block.extend_from_slice(&size_code.to_be_bytes());
            block.extend_from_slice(&((c.baud / 9600) as u16).to_be_bytes());
            ack(s, out, 0x00, &block);
        }
        // TempleteNum: the emulated library is empty.
        0x1D => ack(s, out, 0x00, &[0, 0]),
        // HandShake
        0x40 => ack(s, out, 0x00, &[]),
        _ => ack(s, out, 0xFC, &[]),
    }
}

fn set_sys_para(s: &mut State, params: &[u8], out: &mut Vec<u8>) {
    let (Some(&register), Some(&value)) = (params.first(), params.get(1)) else {
        return ack(s, out, 0x01, &[]);
    };
    match (register, value) {
        (4, 1..=12) => {
            ack(s, out, 0x00, &[]);
            let baud = 9600 * u32::from(value);
            match s.config.baud_change {
                BaudChange::AfterAck => s.config.baud = baud,
                BaudChange::AfterPowerCycle => s.pending_baud = Some(baud),
            }
        }
        (5, 1..=5) => {
            s.config.security_level = u16::from(value);
            ack(s, out, 0x00, &[]);
        }
        (6, 0..=3) => {
            s.config.packet_size = 32 << value;
            ack(s, out, 0x00, &[]);
        }
        (4..=6, _) => ack(s, out, 0x1B, &[]),
        _ => ack(s, out, 0x1A, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(code: u8, params: &[u8]) -> Vec<u8> {
        let mut content = vec![code];
        content.extend_from_slice(params);
        let mut out = Vec::new();
        write_frame(0xFFFF_FFFF, PID_COMMAND, &content, &mut out);
        out
    }

    fn acks(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut reader = FrameReader::default();
        reader.push(bytes);
        std::iter::from_fn(|| reader.next())
            .filter_map(|r| match r {
                Received::Frame(f) if f.pid == PID_ACK => Some(f.content),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn answers_gen_img_no_finger_then_ok() {
        let mut m = ZhiantecModule::new(ModuleConfig::default());
        let out = m.receive(&command(0x01, &[]), None);
        assert_eq!(
            out,
            [0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00, 0x03, 0x02, 0x00, 0x0C]
        );
        m.control()
            .present_finger(GrayImage::from_pixel(256, 288, image::Luma([0xA7])));
        assert_eq!(
            acks(&m.receive(&command(0x01, &[]), None)),
            vec![vec![0x00]]
        );
        assert_eq!(
            m.control().image_buffer().unwrap().get_pixel(0, 0).0[0],
            0xA * 17
        );
    }

    #[test]
    fn uploads_in_packets_of_the_configured_size() {
        let mut m = ZhiantecModule::new(ModuleConfig {
            packet_size: 256,
            ..ModuleConfig::default()
        });
        m.control()
            .present_finger(GrayImage::from_pixel(256, 288, image::Luma([0x37])));
        m.receive(&command(0x01, &[]), None);
        let out = m.receive(&command(0x0A, &[]), None);
        let mut reader = FrameReader::default();
        reader.push(&out);
        let frames: Vec<_> = std::iter::from_fn(|| reader.next()).collect();
        assert_eq!(frames.len(), 1 + 144);
        let Received::Frame(last) = frames.last().unwrap() else {
            panic!()
        };
        assert_eq!(
            (last.pid, last.content.len(), last.content[0]),
            (PID_END, 256, 0x33)
        );
    }

    #[test]
    fn password_gate_sys_params_and_baud() {
        let mut m = ZhiantecModule::new(ModuleConfig {
            password: 7,
            ..ModuleConfig::default()
        });
        assert_eq!(
            acks(&m.receive(&command(0x0F, &[]), None)),
            vec![vec![0x21]]
        );
        assert_eq!(
            acks(&m.receive(&command(0x13, &[0, 0, 0, 6]), None)),
            vec![vec![0x13]]
        );
        assert_eq!(
            acks(&m.receive(&command(0x13, &[0, 0, 0, 7]), None)),
            vec![vec![0x00]]
        );
        let block = &acks(&m.receive(&command(0x0F, &[]), None))[0];
        assert_eq!(block.len(), 17);
        assert_eq!(&block[1..3], &[0, 4]);
        assert_eq!(&block[13..17], &[0, 2, 0, 6]);
        // Wrong line rate: nothing understood.
        assert!(m.receive(&command(0x40, &[]), Some(9600)).is_empty());
        assert_eq!(
            acks(&m.receive(&command(0x0E, &[4, 12]), Some(57_600))),
            vec![vec![0x00]]
        );
        assert_eq!(m.control().baud(), 115_200);
        assert_eq!(
            acks(&m.receive(&command(0x0E, &[9, 1]), None)),
            vec![vec![0x1A]]
        );
    }

    #[test]
    fn faults_garble_drop_and_silence() {
        let mut m = ZhiantecModule::new(ModuleConfig::default());
        let c = m.control();
        c.set_garbage(vec![0x55, 0xEF]);
        let out = m.receive(&command(0x40, &[]), None);
        assert_eq!(&out[..2], &[0x55, 0xEF]);
        c.drop_replies(1);
        assert!(m.receive(&command(0x40, &[]), None).is_empty());
        c.set_silent(true);
        assert!(m.receive(&command(0x40, &[]), None).is_empty());
        let mut corrupt = command(0x40, &[]);
        corrupt[10] ^= 0xFF;
        c.set_silent(false);
        c.set_garbage(vec![]);
        assert_eq!(acks(&m.receive(&corrupt, None)), vec![vec![0x01]]);
    }
}
