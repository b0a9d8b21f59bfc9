//! The last log lines for `GET /logs`: a `tracing` layer that formats each event (after the
//! log filter) into one line and keeps the newest [`CAPACITY`] in a process-wide ring.
//!
//! Log events already carry no biometric data, no secrets and no full CPF (see the
//! invariants); as a second guard every CPF-shaped number is masked on its way in.

use std::collections::VecDeque;
use std::fmt::{self, Write};
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// Lines kept.
pub const CAPACITY: usize = 1000;
/// A longer line is cut (with a mark) so one event cannot hold much memory.
const MAX_LINE: usize = 2000;

static RING: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

/// The layer to install beside the formatter.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogRing;

/// The newest `n` lines, oldest first.
pub fn last_lines(n: usize) -> Vec<String> {
    let ring = RING.lock().unwrap_or_else(|p| p.into_inner());
    ring.iter()
        .skip(ring.len().saturating_sub(n))
        .cloned()
        .collect()
}

fn push(line: String) {
    let mut ring = RING.lock().unwrap_or_else(|p| p.into_inner());
    if ring.len() == CAPACITY {
        ring.pop_front();
    }
    ring.push_back(line);
}

impl<S: Subscriber> Layer<S> for LogRing {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut line = String::with_capacity(160);
        let now = time::OffsetDateTime::now_utc();
        let _ = write!(
            line,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {:>5} {}:",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second(),
            now.millisecond(),
            meta.level(),
            meta.target()
        );
        let mut fields = Fields {
            message: String::new(),
            rest: String::new(),
        };
        event.record(&mut fields);
        if !fields.message.is_empty() {
            line.push(' ');
            line.push_str(&fields.message);
        }
        line.push_str(&fields.rest);
        let mut line = mask_cpfs(&line);
        if line.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push_str(" […]");
        }
        push(line);
    }
}

struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

/// Masks every CPF-shaped number: a run of exactly 11 digits, or `ddd.ddd.ddd-dd`, becomes
/// `ddd.***.***-dd`.
pub fn mask_cpfs(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || (i > 0 && bytes[i - 1].is_ascii_digit()) {
            i += 1;
            continue;
        }
        let digit_at = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_digit);
        let run = (i..).take_while(|&j| digit_at(j)).count();
        let formatted = run == 3
            && bytes.get(i + 3) == Some(&b'.')
            && (4..7).all(|k| digit_at(i + k))
            && bytes.get(i + 7) == Some(&b'.')
            && (8..11).all(|k| digit_at(i + k))
            && bytes.get(i + 11) == Some(&b'-')
            && (12..14).all(|k| digit_at(i + k))
            && !digit_at(i + 14);
        let (len, last2) = if run == 11 {
            (11, i + 9)
        } else if formatted {
            (14, i + 12)
        } else {
            i += run;
            continue;
        };
        out.push_str(&text[copied..i]);
        out.push_str(&text[i..i + 3]);
        out.push_str(".***.***-");
        out.push_str(&text[last2..last2 + 2]);
        i += len;
        copied = i;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn cpfs_are_masked_in_every_shape() {
        assert_eq!(mask_cpfs("cpf=52998224725 ok"), "cpf=529.***.***-25 ok");
        assert_eq!(mask_cpfs("529.982.247-25"), "529.***.***-25");
        assert_eq!(mask_cpfs("\"52998224725\""), "\"529.***.***-25\"");
        // Not CPF-shaped: left alone.
        assert_eq!(
            mask_cpfs("id 1234567890 at 1733390000123"),
            "id 1234567890 at 1733390000123"
        );
        assert_eq!(mask_cpfs("port 19980, ééé 12"), "port 19980, ééé 12");
        assert_eq!(mask_cpfs(""), "");
    }

    #[test]
    fn events_become_masked_lines_and_the_ring_keeps_the_newest() {
        let subscriber = tracing_subscriber::registry().with(LogRing);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(cpf = "39053344705", attempt = 2, "logring test event");
            for i in 0..CAPACITY + 5 {
                tracing::debug!(i, "logring filler");
            }
            tracing::warn!("logring last");
        });
        let lines = last_lines(CAPACITY + 10);
        assert_eq!(lines.len(), CAPACITY);
        assert!(lines.last().unwrap().contains(" WARN "));
        assert!(
            lines.last().unwrap().ends_with("logring last"),
            "{:?}",
            lines.last()
        );
        let two = last_lines(2);
        assert_eq!(two.len(), 2);
        assert!(two[0].contains("logring filler"));
        assert!(lines.iter().all(|l| !l.contains("39053344705")));
    }
}
