//! Configuration loading: any text is either a valid configuration or a `ConfigError` that names the file —
//! never a panic (TOML parsing, deserialization into every typed section, validation).
#![no_main]

use std::path::Path;

use atp_forwarder::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) = Config::from_toml_str(text, Path::new("fuzz.toml")) {
        assert!(error.to_string().contains("fuzz.toml"), "{error}");
    }
});
