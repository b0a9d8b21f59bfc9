//! The real ZhianTec driver (`drivers::serial` + `drivers::zhiantec`, the real `serialport`
//! transport) against the emulated module on the master side of a real pseudo-terminal.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use drivers::serial::{SerialFamily, SystemPort};
use drivers::zhiantec::{ZhiantecReader, ZhiantecSettings};
use drivers::{Cancel, DeviceError, FingerprintReader, ReaderFamily};
use simulator::zhiantec::{
    quantised, sensor_image, BaudChange, ModuleConfig, PtyModule, ZhiantecModule,
};

const WAIT: Duration = Duration::from_secs(10);

fn settings() -> ZhiantecSettings {
    ZhiantecSettings {
        probe_timeout: Duration::from_millis(150),
        reply_timeout: Duration::from_millis(500),
        poll_interval: Duration::from_millis(20),
        ..ZhiantecSettings::default()
    }
}

fn emulator(config: ModuleConfig) -> PtyModule {
    PtyModule::spawn(ZhiantecModule::new(config)).expect("openpty")
}

fn reader(pty: &PtyModule, settings: ZhiantecSettings) -> ZhiantecReader<SystemPort> {
    SerialFamily::new(vec![], settings).reader(pty.path())
}

#[test]
fn captures_the_emulated_finger_through_a_configured_port() {
    let pty = emulator(ModuleConfig::default());
    let family = SerialFamily::new(vec![PathBuf::from(pty.path())], settings());
    let candidate = family
        .enumerate()
        .into_iter()
        .find(|c| c.address == pty.path().display().to_string())
        .expect("the configured pty is listed");
    assert_eq!(candidate.id, format!("serial:{}", pty.path().display()));
    let mut reader = family.open(&candidate).unwrap();
    reader.open().unwrap();
    assert_eq!(reader.info().driver, "zhiantec");

    // The finger arrives while the reader is polling.
    let finger = sensor_image("52998224725", 2, 0);
    let control = pty.control().clone();
    let presenter = std::thread::spawn({
        let finger = finger.clone();
        move || {
            std::thread::sleep(Duration::from_millis(120));
            control.present_finger(finger);
        }
    });
    reader.wait_finger(WAIT, &Cancel::new()).unwrap();
    presenter.join().unwrap();
    let image = reader.capture().unwrap();
    assert_eq!(
        (image.image.width(), image.image.height(), image.ppi),
        (256, 288, 500)
    );
    assert_eq!(image.image, quantised(&finger));
    assert_eq!(Some(&image.image), pty.control().image_buffer().as_ref());

    assert_eq!(
        reader.wait_finger_off(Duration::from_millis(200), &Cancel::new()),
        Err(DeviceError::Timeout)
    );
    pty.control().lift_finger();
    reader.wait_finger_off(WAIT, &Cancel::new()).unwrap();
    let commands = pty.control().commands();
    assert_eq!(&commands[..2], &[0x13, 0x0F], "VfyPwd then ReadSysPara");
    assert!(
        commands.iter().filter(|&&c| c == 0x01).count() >= 3,
        "GenImg polled: {commands:?}"
    );
    reader.close();
}

#[test]
fn garbage_before_every_reply_and_lost_replies_are_survived() {
    let pty = emulator(ModuleConfig::default());
    pty.control().set_garbage(vec![
        0x55, 0xEF, 0x01, 0x00, 0x00, 0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00,
    ]);
    let mut reader = reader(&pty, settings());
    reader.open().unwrap();
    let finger = sensor_image("93541134780", 7, 1);
    pty.control().present_finger(finger.clone());
    pty.control().drop_replies(1);
    reader.wait_finger(WAIT, &Cancel::new()).unwrap();
    assert_eq!(reader.capture().unwrap().image, quantised(&finger));
}

#[test]
fn a_wrong_password_fails_open_with_a_clear_error() {
    let pty = emulator(ModuleConfig {
        password: 0x1122_3344,
        ..ModuleConfig::default()
    });
    let err = reader(&pty, settings()).open().unwrap_err();
    assert!(
        matches!(&err, DeviceError::Protocol(m) if m.contains("password")),
        "{err:?}"
    );
    let mut right = reader(
        &pty,
        ZhiantecSettings {
            password: 0x1122_3344,
            ..settings()
        },
    );
    right.open().unwrap();
}

#[test]
fn negotiates_the_rate_and_switches_to_the_configured_one() {
    // A module left at 115 200 by an earlier run, host configured for the factory 57 600.
    let pty = emulator(ModuleConfig {
        baud: 115_200,
        ..ModuleConfig::default()
    });
    let mut r = reader(&pty, settings());
    r.open().unwrap();
    assert_eq!(r.baud(), Some(115_200));
    assert_eq!(r.system_parameters().map(|p| p.baud), Some(115_200));
    drop(r);

    let pty = emulator(ModuleConfig::default());
    let mut r = reader(
        &pty,
        ZhiantecSettings {
            switch_to_baud: Some(115_200),
            ..settings()
        },
    );
    r.open().unwrap();
    assert_eq!((r.baud(), pty.control().baud()), (Some(115_200), 115_200));
    let finger = sensor_image("39053344705", 1, 0);
    pty.control().present_finger(finger.clone());
    r.wait_finger(WAIT, &Cancel::new()).unwrap();
    assert_eq!(r.capture().unwrap().image, quantised(&finger));

    // An R503 keeps its rate until power-up: the session falls back and goes on.
    let pty = emulator(ModuleConfig {
        baud_change: BaudChange::AfterPowerCycle,
        ..ModuleConfig::default()
    });
    let mut r = reader(
        &pty,
        ZhiantecSettings {
            switch_to_baud: Some(115_200),
            ..settings()
        },
    );
    r.open().unwrap();
    assert_eq!(r.baud(), Some(57_600));
}

#[test]
fn a_module_that_stops_answering_fails_within_the_retries() {
    let pty = emulator(ModuleConfig::default());
    let mut r = reader(
        &pty,
        ZhiantecSettings {
            reply_timeout: Duration::from_millis(200),
            ..settings()
        },
    );
    r.open().unwrap();
    pty.control().set_silent(true);
    let started = Instant::now();
    let err = r.wait_finger(WAIT, &Cancel::new()).unwrap_err();
    assert!(
        matches!(&err, DeviceError::Unavailable(m) if m.contains("no answer")),
        "{err:?}"
    );
    // Three attempts of 200 ms plus line time, far below the 10 s finger wait.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    pty.control().set_silent(false);
    r.open().unwrap();
    r.wait_finger(Duration::from_millis(100), &Cancel::new())
        .unwrap_err();
}

#[test]
fn unplugging_the_module_makes_the_reader_unavailable() {
    let pty = emulator(ModuleConfig::default());
    let mut r = reader(&pty, settings());
    r.open().unwrap();
    pty.control()
        .present_finger(sensor_image("52998224725", 1, 0));
    r.wait_finger(WAIT, &Cancel::new()).unwrap();
    pty.control().unplug();
    let err = r.capture().unwrap_err();
    assert!(matches!(err, DeviceError::Unavailable(_)), "{err:?}");
    let err = r.wait_finger(WAIT, &Cancel::new()).unwrap_err();
    assert!(matches!(err, DeviceError::Unavailable(_)), "{err:?}");
}

#[test]
fn nothing_answers_on_a_pty_without_a_module() {
    let pty = emulator(ModuleConfig::default());
    pty.control().set_silent(true);
    let started = Instant::now();
    let err = reader(
        &pty,
        ZhiantecSettings {
            open_rounds: 1,
            ..settings()
        },
    )
    .open()
    .unwrap_err();
    assert!(
        matches!(&err, DeviceError::Unavailable(m) if m.contains("no fingerprint module answers")),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
