//! A scripted in-process [`UsbTransport`] for unit tests: each transfer must be the next one
//! the script expects, and timeouts advance a virtual clock instead of sleeping.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Clock, TransportError, UsbTransport};

/// A clock that moves only when told to (by a sleep, or by a transfer that times out).
#[derive(Clone, Debug)]
pub(crate) struct VirtualClock {
    base: Instant,
    offset: Arc<Mutex<Duration>>,
}

impl VirtualClock {
    pub(crate) fn new() -> VirtualClock {
        VirtualClock {
            base: Instant::now(),
            offset: Arc::new(Mutex::new(Duration::ZERO)),
        }
    }
    pub(crate) fn advance(&self, d: Duration) {
        *self.offset.lock().unwrap() += d;
    }
    pub(crate) fn elapsed(&self) -> Duration {
        *self.offset.lock().unwrap()
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Instant {
        self.base + self.elapsed()
    }
    fn sleep(&self, d: Duration) {
        self.advance(d)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    ControlIn {
        request_type: u8,
        request: u8,
        value: u16,
        index: u16,
        len: usize,
    },
    ControlOut {
        request_type: u8,
        request: u8,
        value: u16,
        index: u16,
        data: Vec<u8>,
    },
    InterruptIn {
        endpoint: u8,
        len: usize,
    },
    BulkIn {
        endpoint: u8,
        len: usize,
    },
    BulkOut {
        endpoint: u8,
        data: Vec<u8>,
    },
}

/// What the device answers: the bytes of an IN transfer (ignored for OUT, which then writes
/// everything), or an error.
pub(crate) type Reply = Result<Vec<u8>, TransportError>;

#[derive(Default)]
struct Script {
    steps: VecDeque<(Call, Reply)>,
    done: Vec<Call>,
}

/// Cloning gives another handle on the same script, so a test can inspect it after handing
/// the transport to a session.
#[derive(Clone)]
pub(crate) struct FakeUsb {
    script: Arc<Mutex<Script>>,
    clock: VirtualClock,
}

impl FakeUsb {
    pub(crate) fn new(clock: VirtualClock) -> FakeUsb {
        FakeUsb {
            script: Arc::default(),
            clock,
        }
    }

    pub(crate) fn expect(&self, call: Call, reply: Reply) -> &Self {
        self.script.lock().unwrap().steps.push_back((call, reply));
        self
    }

    /// Every expected transfer happened.
    pub(crate) fn assert_done(&self) {
        let script = self.script.lock().unwrap();
        assert!(
            script.steps.is_empty(),
            "transfers never made: {:?}",
            script.steps
        );
    }

    /// The transfers made so far, in order.
    pub(crate) fn calls(&self) -> Vec<Call> {
        self.script.lock().unwrap().done.clone()
    }

    fn next(&self, call: Call, timeout: Duration) -> Reply {
        assert!(
            !timeout.is_zero(),
            "{call:?} without a timeout would block forever on real hardware"
        );
        let mut script = self.script.lock().unwrap();
        let Some((want, reply)) = script.steps.pop_front() else {
            panic!(
                "unexpected transfer {call:?} after the script ended (made: {:?})",
                script.done
            );
        };
        assert_eq!(
            call,
            want,
            "transfer #{} differs from the script",
            script.done.len()
        );
        script.done.push(call);
        if reply == Err(TransportError::Timeout) {
            self.clock.advance(timeout);
        }
        reply
    }

    fn read(&self, call: Call, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        let data = self.next(call, timeout)?;
        assert!(
            data.len() <= buf.len(),
            "scripted reply longer than the buffer"
        );
        buf[..data.len()].copy_from_slice(&data);
        Ok(data.len())
    }
}

impl UsbTransport for FakeUsb {
    fn control_in(
        &mut self,
        request_type: u8,
        request: u8,
        value: u16,
        index: u16,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransportError> {
        let call = Call::ControlIn {
            request_type,
            request,
            value,
            index,
            len: buf.len(),
        };
        self.read(call, buf, timeout)
    }
    fn control_out(
        &mut self,
        request_type: u8,
        request: u8,
        value: u16,
        index: u16,
        data: &[u8],
        timeout: Duration,
    ) -> Result<usize, TransportError> {
        let call = Call::ControlOut {
            request_type,
            request,
            value,
            index,
            data: data.to_vec(),
        };
        self.next(call, timeout).map(|_| data.len())
    }
    fn interrupt_in(
        &mut self,
        endpoint: u8,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransportError> {
        self.read(
            Call::InterruptIn {
                endpoint,
                len: buf.len(),
            },
            buf,
            timeout,
        )
    }
    fn bulk_in(
        &mut self,
        endpoint: u8,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransportError> {
        self.read(
            Call::BulkIn {
                endpoint,
                len: buf.len(),
            },
            buf,
            timeout,
        )
    }
    fn bulk_out(
        &mut self,
        endpoint: u8,
        data: &[u8],
        timeout: Duration,
    ) -> Result<usize, TransportError> {
        self.next(
            Call::BulkOut {
                endpoint,
                data: data.to_vec(),
            },
            timeout,
        )
        .map(|_| data.len())
    }
}
