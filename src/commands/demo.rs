//! `atp-forwarder demo`: the newcomer's first command (wired to the emulator when it lands).

use crate::encode::Format;

/// Options of `demo`.
pub struct DemoOptions {
    /// Payload format printed.
    pub format: Format,
    /// Stop after the history.
    pub once: bool,
}

/// Runs the pipeline against the built-in emulator.
pub async fn demo(_options: DemoOptions) -> anyhow::Result<()> {
    anyhow::bail!("the demo needs the emulator")
}
