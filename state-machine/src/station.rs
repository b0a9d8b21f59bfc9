//! The station: operator session, client capture, operator capture and send, as one value.
//! (Interface fixed; the implementation is being written.)

use crate::config::FlowConfig;
use crate::effect::Effect;
use crate::input::Input;
use crate::status::{CaptureState, CaptureStatus, LoginState};
use crate::Millis;

pub struct Station {
    config: FlowConfig,
}

impl Station {
    pub fn new(config: FlowConfig) -> Station {
        Station { config }
    }

    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    /// Feeds one input at time `now`; returns the effects to carry out, in order.
    pub fn handle(&mut self, now: Millis, input: Input) -> Vec<Effect> {
        let _ = (now, input);
        unimplemented!("being written")
    }

    /// The earliest time at which a [`Input::Tick`] would change something.
    pub fn next_deadline(&self) -> Option<Millis> {
        unimplemented!("being written")
    }

    pub fn state(&self) -> CaptureState {
        unimplemented!("being written")
    }

    pub fn login_status(&self) -> LoginState {
        unimplemented!("being written")
    }

    pub fn capture_status(&self) -> CaptureStatus {
        unimplemented!("being written")
    }
}
