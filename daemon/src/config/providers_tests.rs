//! `[remote]` and `[providers.*]`: defaults, secrets from files or credentials, errors by key.
use super::super::{Config, Environment};
use super::*;

fn parse(text: &str, env: &Environment) -> Result<Config, ConfigError> {
    Config::from_toml_str_with_env(text, env)
}

#[test]
fn defaults_are_the_spid_server_and_no_provider() {
    let c = parse("", &Environment::default()).unwrap();
    assert_eq!(c.remote.provider, RemoteProvider::Spid);
    assert_eq!(c.remote.poll_initial, Duration::from_secs(2));
    assert_eq!(c.providers, ProviderSettings::default());
}

#[test]
fn secrets_come_from_files_or_credentials_and_errors_name_the_key() {
    let dir = tempdir();
    let env = Environment {
        credentials_directory: Some(dir.clone()),
        state_directory: None,
    };
    let text = "[providers.claro]\n";
    let e = parse(text, &env).unwrap_err().to_string();
    assert!(e.starts_with("providers.claro.key_file: expected a file holding the secret, or the systemd credential `claro-key`"), "{e}");
    std::fs::write(dir.join("claro-key"), "k").unwrap();
    std::fs::write(dir.join("providers_claro-secret"), "s").unwrap();
    let c = parse(text, &env).unwrap();
    let claro = c.providers.claro.unwrap();
    assert_eq!(claro.key_file, dir.join("claro-key"));
    assert_eq!(claro.secret_file, dir.join("providers_claro-secret"));
    assert_eq!(claro.base_url, "https://api.claro.com.br");
    // An inline secret is not a key at all.
    let e = parse("[providers.claro]\nsecret = \"s\"\n", &env)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "unknown key `providers.claro.secret`");
    let e = parse("[providers.claro]\npurpose = \"x\"\n", &env)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "unknown key `providers.claro.purpose`");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_remote_provider_needs_its_section() {
    let env = Environment::default();
    let e = parse("[remote]\nprovider = \"unico\"\n", &env)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(
            "remote.provider: expected a provider whose section [providers.by_unico] is configured"
        ),
        "{e}"
    );
    let e = parse("[remote]\nprovider = \"aws\"\n", &env)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("one of \"spid\", \"unico\", \"faceverify\""),
        "{e}"
    );
    let e = parse(
        "[providers.by_unico]\nservice_account = \"a\"\ntenant = \"t\"\nprivate_key_file = \"/k\"\n",
        &env,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("providers.by_unico.purpose: expected the process purpose"),
        "{e}"
    );
    let c = parse(
        "[remote]\nprovider = \"unico\"\n[providers.by_unico]\nservice_account = \"a\"\ntenant = \"t\"\nprivate_key_file = \"/k\"\npurpose = \"p\"\n",
        &env,
    )
    .unwrap();
    let u = c.providers.by_unico.unwrap();
    assert_eq!(u.account.identity_url, "https://identity.acesso.io");
    assert_eq!(u.flow, "idlive");
    assert_eq!(u.expires_in, Duration::from_secs(3600));
    let e = parse(
        "[providers.faceverify]\napi_key_file = \"/a\"\nsecret_file = \"/s\"\ncountry = \"bra\"\n",
        &env,
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("providers.faceverify.country:"), "{e}");
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spidd-cfg-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
