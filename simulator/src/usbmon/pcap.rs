//! A writer of usbmon captures in pcap form (link type 220, `DLT_USB_LINUX_MMAPPED`), the
//! format umockdev ≥ 0.16.2 replays: each transfer is a submit (`S`) and a completion (`C`)
//! record with the 64-byte usbmon header.

/// pcap link type of usbmon's memory-mapped header.
pub const LINKTYPE_USB_LINUX_MMAPPED: u32 = 220;
/// Must hold the largest record: with 65535 umockdev hands back a truncated 111 KB transfer.
const SNAPLEN: u32 = 262_144;
const USBMON_HEADER_LEN: usize = 64;
/// Status of a submitted, not yet completed URB (`-EINPROGRESS`).
const IN_PROGRESS: i32 = -115;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferType {
    Interrupt = 1,
    Control = 2,
    Bulk = 3,
}

/// One usbmon record as written.
struct Record<'a> {
    id: u64,
    event: u8,
    kind: TransferType,
    endpoint: u8,
    setup: Option<[u8; 8]>,
    /// `urb_len`: requested length on submit, actual length on completion.
    length: u32,
    data: &'a [u8],
    /// Flag byte written when no data follows (`<` for IN submits, `>` for OUT completions).
    no_data: u8,
    status: i32,
}

/// A capture of one device's traffic, built transfer by transfer in the order the host makes
/// them (umockdev replays a pcap in order).
#[derive(Clone, Debug)]
pub struct UsbmonCapture {
    bus: u16,
    device: u8,
    next_id: u64,
    micros: u64,
    out: Vec<u8>,
}

impl UsbmonCapture {
    /// A capture for the device at `bus`/`device` (its busnum/devnum in sysfs; umockdev skips
    /// records of any other device).
    pub fn new(bus: u16, device: u8) -> UsbmonCapture {
        let mut out = Vec::new();
        out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&4u16.to_le_bytes());
        out.extend_from_slice(&0i32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&SNAPLEN.to_le_bytes());
        out.extend_from_slice(&LINKTYPE_USB_LINUX_MMAPPED.to_le_bytes());
        UsbmonCapture {
            bus,
            device,
            next_id: 0xffff_8800_0000_0000,
            micros: 1_000_000,
            out,
        }
    }

    pub fn control_out(
        &mut self,
        request_type: u8,
        request: u8,
        value: u16,
        index: u16,
        data: &[u8],
    ) {
        let setup = setup(request_type, request, value, index, data.len());
        let id = self.new_id();
        let len = data.len() as u32;
        self.record(Record {
            id,
            event: b'S',
            kind: TransferType::Control,
            endpoint: 0x00,
            setup: Some(setup),
            length: len,
            data,
            no_data: 0,
            status: IN_PROGRESS,
        });
        self.record(Record {
            id,
            event: b'C',
            kind: TransferType::Control,
            endpoint: 0x00,
            setup: None,
            length: len,
            data: &[],
            no_data: b'>',
            status: 0,
        });
    }

    /// A control read the device answers with `reply` (wLength = its length).
    pub fn control_in(
        &mut self,
        request_type: u8,
        request: u8,
        value: u16,
        index: u16,
        reply: &[u8],
    ) {
        let setup = setup(request_type, request, value, index, reply.len());
        let id = self.new_id();
        let len = reply.len() as u32;
        self.record(Record {
            id,
            event: b'S',
            kind: TransferType::Control,
            endpoint: 0x80,
            setup: Some(setup),
            length: len,
            data: &[],
            no_data: b'<',
            status: IN_PROGRESS,
        });
        self.record(Record {
            id,
            event: b'C',
            kind: TransferType::Control,
            endpoint: 0x80,
            setup: None,
            length: len,
            data: reply,
            no_data: 0,
            status: 0,
        });
    }

    /// An interrupt read of `buffer` bytes that the device completes with `reply`.
    pub fn interrupt_in(&mut self, endpoint: u8, buffer: usize, reply: &[u8]) {
        self.data_in(TransferType::Interrupt, endpoint, buffer, reply);
    }

    /// A bulk read of `buffer` bytes that the device completes with `reply`.
    pub fn bulk_in(&mut self, endpoint: u8, buffer: usize, reply: &[u8]) {
        self.data_in(TransferType::Bulk, endpoint, buffer, reply);
    }

    pub fn bulk_out(&mut self, endpoint: u8, data: &[u8]) {
        let id = self.new_id();
        let len = data.len() as u32;
        self.record(Record {
            id,
            event: b'S',
            kind: TransferType::Bulk,
            endpoint,
            setup: None,
            length: len,
            data,
            no_data: 0,
            status: IN_PROGRESS,
        });
        self.record(Record {
            id,
            event: b'C',
            kind: TransferType::Bulk,
            endpoint,
            setup: None,
            length: len,
            data: &[],
            no_data: b'>',
            status: 0,
        });
    }

    /// The pcap file.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    fn data_in(&mut self, kind: TransferType, endpoint: u8, buffer: usize, reply: &[u8]) {
        assert!(
            reply.len() <= buffer,
            "a device cannot send more than the host asked for"
        );
        let endpoint = endpoint | 0x80;
        let id = self.new_id();
        self.record(Record {
            id,
            event: b'S',
            kind,
            endpoint,
            setup: None,
            length: buffer as u32,
            data: &[],
            no_data: b'<',
            status: IN_PROGRESS,
        });
        self.record(Record {
            id,
            event: b'C',
            kind,
            endpoint,
            setup: None,
            length: reply.len() as u32,
            data: reply,
            no_data: 0,
            status: 0,
        });
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 0x40;
        self.next_id
    }

    fn record(&mut self, r: Record<'_>) {
        // Each record 100 µs after the previous: umockdev replays as fast as the host asks, the
        // times only have to grow.
        self.micros += 100;
        let (sec, usec) = (self.micros / 1_000_000, (self.micros % 1_000_000) as u32);
        let caplen = (USBMON_HEADER_LEN + r.data.len()) as u32;
        let out = &mut self.out;
        out.extend_from_slice(&(sec as u32).to_le_bytes());
        out.extend_from_slice(&usec.to_le_bytes());
        out.extend_from_slice(&caplen.to_le_bytes());
        out.extend_from_slice(&caplen.to_le_bytes());

        out.extend_from_slice(&r.id.to_le_bytes());
        out.push(r.event);
        out.push(r.kind as u8);
        out.push(r.endpoint);
        out.push(self.device);
        out.extend_from_slice(&self.bus.to_le_bytes());
        out.push(if r.setup.is_some() { 0 } else { b'-' });
        out.push(if r.data.is_empty() { r.no_data } else { 0 });
        out.extend_from_slice(&(sec as i64).to_le_bytes());
        out.extend_from_slice(&(usec as i32).to_le_bytes());
        out.extend_from_slice(&r.status.to_le_bytes());
        out.extend_from_slice(&r.length.to_le_bytes());
        out.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&r.setup.unwrap_or_default());
        // interval (1 ms frames for interrupt endpoints at full speed), start_frame, flags, ndesc
        let interval: i32 = if r.kind == TransferType::Interrupt {
            1
        } else {
            0
        };
        out.extend_from_slice(&interval.to_le_bytes());
        out.extend_from_slice(&0i32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(r.data);
    }
}

fn setup(request_type: u8, request: u8, value: u16, index: u16, length: usize) -> [u8; 8] {
    let v = value.to_le_bytes();
    let i = index.to_le_bytes();
    let l = (length as u16).to_le_bytes();
    [request_type, request, v[0], v[1], i[0], i[1], l[0], l[1]]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn the_global_header_says_usbmon_mmapped() {
        let bytes = UsbmonCapture::new(1, 2).into_bytes();
        assert_eq!(bytes.len(), 24);
        assert_eq!(u32_at(&bytes, 0), 0xa1b2_c3d4);
        assert_eq!(u32_at(&bytes, 16), SNAPLEN);
        assert_eq!(u32_at(&bytes, 20), 220);
    }

    #[test]
    fn a_control_read_is_a_submit_with_setup_and_a_completion_with_data() {
        let mut cap = UsbmonCapture::new(1, 2);
        cap.control_in(0xc0, 0x04, 0x07, 0, &[0x81]);
        let b = cap.into_bytes();
        // First record: 16-byte pcap header, 64-byte usbmon header, no data.
        let s = &b[24 + 16..24 + 16 + 64];
        assert_eq!(u32_at(&b, 24 + 8), 64);
        assert_eq!((s[8], s[9], s[10], s[11]), (b'S', 2, 0x80, 2));
        assert_eq!(u16::from_le_bytes([s[12], s[13]]), 1);
        assert_eq!((s[14], s[15]), (0, b'<'));
        assert_eq!(i32::from_le_bytes(s[28..32].try_into().unwrap()), -115);
        assert_eq!(u32_at(s, 32), 1);
        assert_eq!(&s[40..48], &[0xc0, 0x04, 0x07, 0, 0, 0, 1, 0]);
        // Second record carries the byte read.
        let c_at = 24 + 16 + 64;
        assert_eq!(u32_at(&b, c_at + 8), 65);
        let c = &b[c_at + 16..];
        assert_eq!((c[8], c[14], c[15]), (b'C', b'-', 0));
        assert_eq!(c[..8], s[..8], "the completion names the submitted URB");
        assert_eq!((u32_at(c, 32), u32_at(c, 36)), (1, 1));
        assert_eq!(c[64], 0x81);
        assert_eq!(c.len(), 65);
    }

    #[test]
    fn a_bulk_read_asks_for_the_buffer_and_completes_with_what_came() {
        let mut cap = UsbmonCapture::new(3, 4);
        cap.bulk_in(0x02, 111_424, &[7; 1000]);
        let b = cap.into_bytes();
        let s = &b[24 + 16..];
        assert_eq!((s[9], s[10]), (3, 0x82));
        assert_eq!((u32_at(s, 32), u32_at(s, 36)), (111_424, 0));
        let c = &b[24 + 16 + 64 + 16..];
        assert_eq!((u32_at(c, 32), u32_at(c, 36)), (1000, 1000));
    }
}
