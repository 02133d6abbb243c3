//! The `atp-forwarder` binary: parses the command line and runs a command. Nothing else lives here.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use atp_forwarder::commands::{self, DemoOptions, Exit, ReplayWhat, SubscriptionAction};
use atp_forwarder::config::{CollectorConfig, Config};
use atp_forwarder::encode::Format;

/// Forwards Microsoft Defender for Office 365 (ATP) events from the Office 365 Management Activity API to
/// SIEMs, at least once.
#[derive(Parser)]
#[command(name = "atp-forwarder", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (until SIGTERM/SIGINT, or once to catch up with --once).
    Run {
        /// Configuration file.
        #[arg(long, short, env = "ATP_FORWARDER_CONFIG")]
        config: Option<PathBuf>,
        /// Catch up to now, drain, commit and exit.
        #[arg(long)]
        once: bool,
    },
    /// Check the config, a token per tenant, subscriptions and every sink; non-zero exit on failure.
    Check {
        /// Configuration file.
        #[arg(long, short, env = "ATP_FORWARDER_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Run the whole pipeline against the built-in API emulator and print the events.
    Demo {
        /// Payload format of the printed events.
        #[arg(long, value_enum, default_value = "json")]
        format: DemoFormat,
        /// Stop after the emulator's history instead of following live arrivals.
        #[arg(long)]
        once: bool,
    },
    /// Serve the built-in Management Activity API emulator (test credentials are logged at start).
    Emulator {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9400")]
        listen: std::net::SocketAddr,
        /// Emulator settings (TOML); the demo preset without it.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Deliver a past span again (at most 7 days back) regardless of state, or the dead-lettered blobs.
    Replay {
        /// Start of the span (RFC 3339, e.g. 2025-11-20T00:00:00Z).
        #[arg(long, required_unless_present = "dead_letters", value_parser = parse_time)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// End of the span (default: now).
        #[arg(long, value_parser = parse_time)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// Fetch the dead-lettered blobs again (and forget those delivered).
        #[arg(long, conflicts_with_all = ["since", "until"])]
        dead_letters: bool,
        /// Only this tenant (its configured name).
        #[arg(long)]
        tenant: Option<String>,
        /// Configuration file.
        #[arg(long, short, env = "ATP_FORWARDER_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Show or change the state store.
    State {
        #[command(subcommand)]
        action: StateAction,
        /// Configuration file.
        #[arg(long, short, global = true, env = "ATP_FORWARDER_CONFIG")]
        config: Option<PathBuf>,
    },
    /// List, start or stop the Management Activity API subscriptions of the configured tenants.
    Subscriptions {
        #[command(subcommand)]
        action: SubscriptionsAction,
        /// Configuration file.
        #[arg(long, short, global = true, env = "ATP_FORWARDER_CONFIG")]
        config: Option<PathBuf>,
        /// Only this tenant (its configured name).
        #[arg(long, global = true)]
        tenant: Option<String>,
    },
}

#[derive(Subcommand)]
enum StateAction {
    /// Per stream: checkpoint, lag, committed blobs, dead letters.
    Show,
    /// Forget checkpoints and committed blobs, so the next run starts over. With --tenant (one stream) the
    /// record Ids already delivered are kept: nothing is delivered twice (use `replay` to send a span
    /// again). Without it, every stream and every record Id is forgotten.
    Reset {
        /// Tenant name.
        #[arg(long)]
        tenant: Option<String>,
        /// Content type (with --tenant).
        #[arg(long)]
        content_type: Option<String>,
    },
    /// List the most recent dead letters.
    DeadLetters {
        /// How many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(Subcommand)]
enum SubscriptionsAction {
    /// Show each subscription's status.
    List,
    /// Start the configured content types.
    Start,
    /// Stop them (content produced while stopped is lost for good).
    Stop,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DemoFormat {
    Json,
    Ecs,
    Cef,
    Leef,
}

impl From<DemoFormat> for Format {
    fn from(format: DemoFormat) -> Format {
        match format {
            DemoFormat::Json => Format::Json,
            DemoFormat::Ecs => Format::Ecs,
            DemoFormat::Cef => Format::Cef,
            DemoFormat::Leef => Format::Leef,
        }
    }
}

fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    atp_forwarder::api::parse_api_time(text)
        .ok_or_else(|| format!("`{text}` is not a time (use e.g. 2025-11-20T00:00:00Z)"))
}

/// jemalloc instead of glibc's malloc: events are built on one thread and freed on another (the sink's),
/// which glibc pays for in lock and consolidation work; jemalloc cut the daemon's CPU by about 10 % for a
/// few MiB more peak RSS (BENCHMARKS.md, step 11).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A command ready to run: `run` and `replay` carry their config, read before the runtime starts because
/// it says how many threads run the pipeline (`collector.worker_threads`).
enum Job {
    Run(Config, bool),
    Replay(Config, ReplayWhat, Option<String>),
    Other(Command),
}

impl Job {
    fn prepare(command: Command) -> anyhow::Result<Job> {
        Ok(match command {
            Command::Run { config, once } => {
                Job::Run(commands::load_config(config.as_deref())?, once)
            }
            Command::Replay {
                since,
                until,
                dead_letters,
                tenant,
                config,
            } => {
                let what = match (dead_letters, since) {
                    (false, Some(since)) => ReplayWhat::Span {
                        since,
                        until: until.unwrap_or_else(chrono::Utc::now),
                    },
                    _ => ReplayWhat::DeadLetters,
                };
                Job::Replay(commands::load_config(config.as_deref())?, what, tenant)
            }
            other => Job::Other(other),
        })
    }

    /// `collector.worker_threads` of the config, or its default; 0 is one per CPU core.
    fn worker_threads(&self) -> usize {
        match self {
            Job::Run(config, _) | Job::Replay(config, _, _) => config.collector.worker_threads,
            Job::Other(_) => CollectorConfig::default().worker_threads,
        }
    }

    async fn run(self) -> anyhow::Result<()> {
        match self {
            Job::Run(config, once) => commands::run(config, once).await,
            Job::Replay(config, what, tenant) => {
                commands::replay(config, what, tenant.as_deref()).await
            }
            Job::Other(command) => run_other(command).await,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let job = match Job::prepare(cli.command) {
        Ok(job) => job,
        Err(error) => return report(&error),
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if job.worker_threads() > 0 {
        builder.worker_threads(job.worker_threads());
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("atp-forwarder: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(job.run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => report(&error),
    }
}

/// Prints the error; the exit code is the one it carries ([`Exit`]), else 1.
fn report(error: &anyhow::Error) -> ExitCode {
    let code = error
        .downcast_ref::<Exit>()
        .map(|exit| exit.code)
        .unwrap_or(1);
    eprintln!("atp-forwarder: {error:#}");
    ExitCode::from(code)
}

/// The commands that need no config before the runtime starts.
async fn run_other(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run { .. } | Command::Replay { .. } => {
            unreachable!("Job::prepare takes run and replay")
        }
        Command::Check { config } => commands::check(config.as_deref()).await,
        Command::Demo { format, once } => {
            commands::demo(DemoOptions {
                format: format.into(),
                once,
            })
            .await
        }
        Command::Emulator { listen, config } => commands::emulator(listen, config.as_deref()).await,
        Command::State { action, config } => match action {
            StateAction::Show => commands::state_show(config.as_deref()).await,
            StateAction::Reset {
                tenant,
                content_type,
            } => {
                commands::state_reset(
                    config.as_deref(),
                    tenant.as_deref(),
                    content_type.as_deref(),
                )
                .await
            }
            StateAction::DeadLetters { limit } => {
                commands::state_dead_letters(config.as_deref(), limit).await
            }
        },
        Command::Subscriptions {
            action,
            config,
            tenant,
        } => {
            let action = match action {
                SubscriptionsAction::List => SubscriptionAction::List,
                SubscriptionsAction::Start => SubscriptionAction::Start,
                SubscriptionsAction::Stop => SubscriptionAction::Stop,
            };
            commands::subscriptions(config.as_deref(), action, tenant.as_deref()).await
        }
    }
}
