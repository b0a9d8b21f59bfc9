//! Defaults, every key's error message, and the systemd environment fallbacks.

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str_with_env(text, &Environment::default())
}

fn error(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn empty_file_gives_the_documented_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c.api.listen.to_string(), "127.0.0.1:19980");
    assert_eq!(c.api.token_file, None);
    assert_eq!(c.upstream.url, "http://127.0.0.1:8082/gbs-spid-server");
    assert_eq!(c.upstream.username, "spid");
    assert_eq!(c.upstream.password_file, None);
    assert_eq!(c.upstream.token_path, "/auth/login");
    assert_eq!(c.upstream.connect_timeout, Duration::from_secs(5));
    assert_eq!(c.upstream.request_timeout, Duration::from_secs(30));
    assert_eq!(c.upstream.ca_bundle, None);
    assert_eq!(c.capture.timeout, Duration::from_secs(30));
    assert_eq!(c.capture.max_attempts, 3);
    assert_eq!(c.capture.finger_quality_threshold, 40);
    assert_eq!(c.capture.face_quality_threshold, 50);
    let plan: Vec<u8> = c.capture.enroll_plan.iter().map(|p| p.index()).collect();
    assert_eq!(plan, [0, 2, 3, 7, 8]);
    assert!(c.capture.verify_face);
    let verify: Vec<u8> = c.capture.verify_fingers.iter().map(|f| f.code()).collect();
    assert_eq!(verify, [2, 7, 3, 8]);
    assert_eq!(c.capture.format, ImageFormat::Wsq);
    assert_eq!(c.operator.offline_max_age, Duration::from_secs(7 * 86_400));
    assert_eq!(c.operator.max_attempts, 3);
    let op: Vec<u8> = c.operator.enroll_fingers.iter().map(|f| f.code()).collect();
    assert_eq!(op, [2, 7]);
    assert_eq!(c.outbox.data_dir, PathBuf::from("/var/lib/spidd"));
    assert_eq!(
        c.outbox.database_path(),
        PathBuf::from("/var/lib/spidd/spidd.db")
    );
    assert_eq!(c.outbox.retry_initial, Duration::from_secs(30));
    assert_eq!(c.outbox.retry_max, Duration::from_secs(3600));
    assert_eq!(c.outbox.resend_cron, "0 30 2 * * *");
    assert_eq!(c.outbox.retention, Duration::from_secs(7 * 24 * 3600));
    assert_eq!(c.outbox.key_file, None);
    assert_eq!(c.outbox.resend_concurrency, 4);
    assert_eq!(c.devices, DeviceSettings::default());
    assert_eq!(c.log.level, "info");
    assert_eq!(c.log.format, LogFormat::Text);
    // The flow's own defaults and the config's defaults are the same numbers.
    assert_eq!(c.flow_config(), FlowConfig::default());
    assert_eq!(Config::default(), c);
}

#[test]
fn every_key_is_read() {
    let c = parse(
        r#"
        [api]
        listen = "0.0.0.0:8080"
        token_file = "/etc/spidd/api-token"
        [upstream]
        url = "https://spid.example:8444/gbs-spid-server/"
        username = "station7"
        password_file = "/etc/spidd/pw"
        token_path = "api/token"
        connect_timeout = "2s"
        request_timeout = "1m"
        ca_bundle = "/etc/spidd/ca.pem"
        [capture]
        timeout = "45s"
        max_attempts = 5
        finger_quality_threshold = 60
        face_quality_threshold = 0
        enroll_plan = [2, 0, 7]
        verify_face = false
        verify_fingers = [7, 2]
        format = "wsq"
        [operator]
        offline_max_age = "1d12h"
        max_attempts = 2
        enroll_fingers = [3]
        [outbox]
        data_dir = "/srv/spidd"
        retry_initial = "500ms"
        retry_max = "10m"
        resend_cron = "0  0 3 * * 1-5"
        resend_concurrency = 8
        [devices]
        fingerprint = "aes3500:1-2"
        camera = "/dev/video2"
        [log]
        level = "daemon=debug,info"
        format = "json"
        "#,
    )
    .unwrap();
    assert_eq!(c.api.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(
        c.api.token_file.as_deref(),
        Some(Path::new("/etc/spidd/api-token"))
    );
    assert_eq!(c.upstream.url, "https://spid.example:8444/gbs-spid-server");
    assert_eq!(c.upstream.username, "station7");
    assert_eq!(c.upstream.token_path, "/api/token");
    assert_eq!(c.upstream.connect_timeout, Duration::from_secs(2));
    assert_eq!(c.upstream.request_timeout, Duration::from_secs(60));
    assert_eq!(
        c.upstream.ca_bundle.as_deref(),
        Some(Path::new("/etc/spidd/ca.pem"))
    );
    assert_eq!(c.capture.format, ImageFormat::Wsq);
    assert_eq!(
        c.capture.enroll_plan,
        vec![
            Position::Finger(Finger::RIGHT_INDEX),
            Position::Face,
            Position::Finger(Finger::LEFT_INDEX)
        ]
    );
    let flow = c.flow_config();
    assert_eq!(flow.capture_timeout, 45_000);
    assert_eq!(flow.max_attempts, 5);
    assert_eq!(flow.finger_quality_threshold, 60);
    assert_eq!(flow.face_quality_threshold, 0);
    assert!(!flow.verify_face);
    assert_eq!(
        flow.verify_fingers,
        vec![Finger::LEFT_INDEX, Finger::RIGHT_INDEX]
    );
    assert_eq!(flow.operator_enroll_fingers, vec![Finger::RIGHT_MIDDLE]);
    assert_eq!(flow.operator_max_attempts, 2);
    assert_eq!(flow.offline_max_age, 36 * 3_600_000);
    assert_eq!(c.outbox.data_dir, PathBuf::from("/srv/spidd"));
    assert_eq!(c.outbox.retry_initial, Duration::from_millis(500));
    assert_eq!(c.outbox.retry_max, Duration::from_secs(600));
    assert_eq!(c.outbox.resend_cron, "0 0 3 * * 1-5");
    assert_eq!(c.outbox.resend_concurrency, 8);
    assert_eq!(c.devices.fingerprint.as_deref(), Some("aes3500:1-2"));
    assert_eq!(c.devices.camera.as_deref(), Some("/dev/video2"));
    assert_eq!(c.log.level, "daemon=debug,info");
    assert_eq!(c.log.format, LogFormat::Json);
}

#[test]
fn unknown_keys_are_named_in_full() {
    assert_eq!(error("[api]\nlisen = \"x\""), "unknown key `api.lisen`");
    assert_eq!(
        error("[capture]\nretries = 3"),
        "unknown key `capture.retries`"
    );
    assert_eq!(error("[upstrem]\nurl = \"x\""), "unknown key `upstrem`");
    assert_eq!(error("verbose = true"), "unknown key `verbose`");
    assert_eq!(
        error("log = \"debug\""),
        "log: expected a table, got \"debug\""
    );
}

#[test]
fn syntax_errors_say_so() {
    let e = error("[api\nlisten = 1");
    assert!(e.starts_with("config: not valid TOML:"), "{e}");
}

#[test]
fn each_key_reports_its_expected_form() {
    let cases: &[(&str, &str)] = &[
        ("[api]\nlisten = \"localhost\"", "api.listen: expected an IP address and port such as \"127.0.0.1:19980\", got \"localhost\""),
        ("[api]\ntoken_file = 3", "api.token_file: expected a file path, got 3"),
        ("[upstream]\nurl = \"ftp://x/y\"", "upstream.url: expected an http:// or https:// URL such as \"https://spid.example:8444/gbs-spid-server\", got \"ftp://x/y\""),
        ("[upstream]\nusername = \"\"", "upstream.username: expected a non-empty user name, got \"\""),
        ("[upstream]\npassword_file = false", "upstream.password_file: expected a file path, got false"),
        ("[upstream]\ntoken_path = \"a b\"", "upstream.token_path: expected a path relative to upstream.url such as \"/auth/login\", or an http(s) URL, got \"a b\""),
        ("[upstream]\nconnect_timeout = \"5\"", "upstream.connect_timeout: expected a duration from 1ms to 5m such as \"30s\", \"500ms\", \"2m\" or \"7d\", got \"5\""),
        ("[upstream]\nrequest_timeout = 30", "upstream.request_timeout: expected a duration from 1ms to 1h such as \"30s\", \"500ms\", \"2m\" or \"7d\", got 30"),
        ("[upstream]\nconnect_timeout = \"40s\"", "upstream.connect_timeout: expected a duration not longer than upstream.request_timeout (30s), got \"40s\""),
        ("[upstream]\nca_bundle = \"\"", "upstream.ca_bundle: expected a file path, got \"\""),
        ("[capture]\ntimeout = \"0s\"", "capture.timeout: expected a duration from 1s to 10m such as \"30s\", \"500ms\", \"2m\" or \"7d\", got \"0s\""),
        ("[capture]\nmax_attempts = 0", "capture.max_attempts: expected an integer from 1 to 10, got 0"),
        ("[capture]\nfinger_quality_threshold = 101", "capture.finger_quality_threshold: expected an integer from 0 to 100, got 101"),
        ("[capture]\nface_quality_threshold = \"high\"", "capture.face_quality_threshold: expected an integer from 0 to 100, got \"high\""),
        ("[capture]\nenroll_plan = [0, 11]", "capture.enroll_plan: expected a non-empty list of distinct positions (face 0 or finger 1 to 10), such as [2, 7], got [0, 11]"),
        ("[capture]\nenroll_plan = []", "capture.enroll_plan: expected a non-empty list of distinct positions (face 0 or finger 1 to 10), such as [2, 7], got []"),
        ("[capture]\nverify_face = \"yes\"", "capture.verify_face: expected true or false, got \"yes\""),
        ("[capture]\nverify_fingers = [2, 0]", "capture.verify_fingers: expected a non-empty list of distinct positions (finger 1 to 10), such as [2, 7], got [2, 0]"),
        ("[capture]\nverify_fingers = [2, 2]", "capture.verify_fingers: expected a non-empty list of distinct positions (finger 1 to 10), such as [2, 7], got [2, 2]"),
        ("[capture]\nformat = \"jpeg\"", "capture.format: expected one of \"png\", \"wsq\", got \"jpeg\""),
        ("[operator]\noffline_max_age = \"400d\"", "operator.offline_max_age: expected a duration from 0s to 365d such as \"30s\", \"500ms\", \"2m\" or \"7d\", got \"400d\""),
        ("[operator]\nmax_attempts = 11", "operator.max_attempts: expected an integer from 1 to 10, got 11"),
        ("[operator]\nenroll_fingers = 2", "operator.enroll_fingers: expected a non-empty list of distinct positions (finger 1 to 10), such as [2, 7], got 2"),
        ("[outbox]\ndata_dir = []", "outbox.data_dir: expected a file path, got []"),
        ("[outbox]\nretry_initial = \"1w\"", "outbox.retry_initial: expected a duration from 10ms to 1d such as \"30s\", \"500ms\", \"2m\" or \"7d\", got \"1w\""),
        ("[outbox]\nretry_max = \"8d\"", "outbox.retry_max: expected a duration from 10ms to 7d such as \"30s\", \"500ms\", \"2m\" or \"7d\", got \"8d\""),
        ("[outbox]\nretry_initial = \"1m\"\nretry_max = \"10s\"", "outbox.retry_max: expected a duration not shorter than outbox.retry_initial (1m), got \"10s\""),
        ("[outbox]\nresend_cron = \"30 2 * * *\"", "outbox.resend_cron: expected a cron expression of 6 fields (sec min hour day month weekday) such as \"0 30 2 * * *\", got \"30 2 * * *\""),
        ("[outbox]\nresend_cron = \"0 75 2 * * *\"", "outbox.resend_cron: expected a cron expression of 6 fields (sec min hour day month weekday) such as \"0 30 2 * * *\", got \"0 75 2 * * *\""),
        ("[outbox]\nretention = \"forever\"", "outbox.retention: expected a duration from 0s to 3650d such as \"30s\", \"500ms\", \"2m\" or \"7d\", got \"forever\""),
        ("[outbox]\nkey_file = 5", "outbox.key_file: expected a file path, got 5"),
        ("[outbox]\nresend_concurrency = 0", "outbox.resend_concurrency: expected an integer from 1 to 64, got 0"),
        ("[devices]\nfingerprint = 1", "devices.fingerprint: expected a device id string, got 1"),
        ("[devices]\ncamera = \" \"", "devices.camera: expected a device id string, got \" \""),
        ("[log]\nlevel = \"verbose\"", "log.level: expected a level (\"error\", \"warn\", \"info\", \"debug\", \"trace\") or filter directives such as \"daemon=debug,info\", got \"verbose\""),
        ("[log]\nformat = \"xml\"", "log.format: expected one of \"text\", \"json\", got \"xml\""),
    ];
    for (text, expected) in cases {
        assert_eq!(&error(text), expected, "for {text:?}");
    }
}

#[test]
fn systemd_directories_fill_the_defaults_only() {
    let dir = std::env::temp_dir().join(format!("spidd-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let env = Environment {
        credentials_directory: Some(dir.clone()),
        state_directory: Some("/var/lib/spidd-a:/var/lib/spidd-b".into()),
    };
    // No credential file yet: no password.
    let c = Config::from_toml_str_with_env("", &env).unwrap();
    assert_eq!(c.upstream.password_file, None);
    assert_eq!(c.outbox.data_dir, PathBuf::from("/var/lib/spidd-a"));

    std::fs::write(dir.join(PASSWORD_CREDENTIAL), "s3cret\n").unwrap();
    let c = Config::from_toml_str_with_env("", &env).unwrap();
    assert_eq!(
        c.upstream.password_file,
        Some(dir.join(PASSWORD_CREDENTIAL))
    );
    assert_eq!(
        c.upstream.read_password().unwrap().as_deref(),
        Some("s3cret")
    );

    let c = Config::from_toml_str_with_env(
        "[upstream]\npassword_file = \"/nope/pw\"\n[outbox]\ndata_dir = \"/srv/x\"",
        &env,
    )
    .unwrap();
    assert_eq!(c.outbox.data_dir, PathBuf::from("/srv/x"));
    let e = c.upstream.read_password().unwrap_err().to_string();
    assert!(
        e.starts_with("upstream.password_file: cannot read /nope/pw"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_reads_a_file_and_names_it() {
    let dir = std::env::temp_dir().join(format!("spidd-config-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("spidd.toml");
    std::fs::write(&file, "[capture]\nmax_attempts = 4\n").unwrap();
    assert_eq!(Config::load(Some(&file)).unwrap().capture.max_attempts, 4);
    std::fs::write(&file, "[capture\n").unwrap();
    let e = Config::load(Some(&file)).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: not valid TOML", file.display())),
        "{e}"
    );
    assert_eq!(Config::load(None).unwrap().capture.max_attempts, 3);
    let missing = dir.join("absent.toml");
    let e = Config::load(Some(&missing)).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("cannot read {}", missing.display())),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn absolute_token_url_is_kept() {
    let c = parse("[upstream]\ntoken_path = \"https://sso.example/token\"").unwrap();
    assert_eq!(c.upstream.token_path, "https://sso.example/token");
}
