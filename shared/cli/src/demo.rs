//! `helios demo`: `helios dev` on a fresh data folder with the traffic simulator sending to
//! it, and the dashboard's address with a sign-in link, opened in a browser when there is
//! one. Within a minute every page has something to show.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser};

use crate::simulate::Traffic;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Port to serve on (127.0.0.1); 0 picks a free one.
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// The data folder (it must not exist yet, and is kept). Default: a new temporary folder,
    /// removed when the demo ends.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The rule set (a folder or a file).
    #[arg(long, default_value = "rules")]
    pub rules: PathBuf,
    /// The folder of the workflows (ASL files).
    #[arg(long, default_value = "statemachines")]
    pub statemachines: PathBuf,
    /// Do not open a browser.
    #[arg(long)]
    pub no_open: bool,
    #[command(flatten)]
    pub traffic: Traffic,
}

/// `helios dev`'s arguments, parsed as the command line would give them.
#[derive(Parser, Debug)]
struct Dev {
    #[command(flatten)]
    dev: crate::dev::DevArgs,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<std::process::ExitCode> {
    // The terminal is for the demo's own lines: warnings only, unless RUST_LOG says more.
    helios_runtime::init_tracing_or(false, "warn");
    let (data_dir, _temporary) = match &args.data_dir {
        Some(d) => {
            if d.exists() {
                anyhow::bail!(
                    "{} exists: the demo starts on a fresh data folder (give one that does not exist, or none)",
                    d.display()
                );
            }
            (d.clone(), None)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("helios-demo-")
                .tempdir()
                .context("making a temporary data folder")?;
            (t.path().join("data"), Some(t))
        }
    };
    for (what, path, flag) in [
        ("rule set", &args.rules, "--rules"),
        ("state machines", &args.statemachines, "--statemachines"),
    ] {
        if !path.exists() {
            anyhow::bail!(
                "no {what} at {}: run the demo at the root of a Helios checkout, or give {flag}",
                path.display()
            );
        }
    }
    // The workflows' channels (chat, pager) post to an inbox of the demo's own, which takes
    // every message: notifications succeed as they would against a real chat.
    let inbox = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("listening for the demo's notification inbox")?;
    let inbox_url = format!("http://{}", inbox.local_addr()?);
    tokio::spawn(async move {
        let app = axum::Router::new().route("/{channel}", axum::routing::post(|| async { "ok" }));
        if let Err(e) = axum::serve(inbox, app).await {
            tracing::warn!(error = %e, "the demo's notification inbox stopped");
        }
    });
    std::fs::create_dir_all(&data_dir).with_context(|| format!("making {}", data_dir.display()))?;
    let secret = format!("{:032x}", fastrand::u128(..));
    let channels = serde_json::json!({
        "chat": {"url": format!("{inbox_url}/chat"), "secret": secret},
        "pager": {"url": format!("{inbox_url}/pager"), "secret": secret},
    });
    helios_runtime::write_private(&data_dir.join("channels.json"), &channels.to_string())?;
    // Port 0: a free one, chosen here so that the address can be printed.
    let port = match args.port {
        0 => std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port")?
            .port(),
        p => p,
    };
    let dev = Dev::try_parse_from([
        "dev".as_ref(),
        "--port".as_ref(),
        port.to_string().as_ref(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
        "--rules".as_ref(),
        args.rules.as_os_str(),
        "--statemachines".as_ref(),
        args.statemachines.as_os_str(),
        // The simulator sends up to 1,000 requests a second with one key.
        "--rate-limit".as_ref(),
        "100000".as_ref(),
    ] as [&std::ffi::OsStr; 11])
    .context("the demo's helios dev arguments")?
    .dev;
    let mut server = tokio::spawn(crate::dev::run(dev));
    let endpoint = format!("http://127.0.0.1:{port}");
    // Up when it answers its health check; a server that ended says why.
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if server.is_finished() {
            return match (&mut server).await {
                Ok(Err(e)) => Err(e.context("helios dev did not start")),
                _ => Err(anyhow::anyhow!("helios dev ended before it served")),
            };
        }
        if client
            .get(format!("{endpoint}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("helios dev did not answer at {endpoint} within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let creds = crate::send::credentials_for(None, &data_dir);
    let key = creds
        .api_key
        .clone()
        .context("helios dev kept no admin key in the data folder")?;
    // The link carries a one-time ticket, never the key: the page trades it for the key
    // (`POST /v1/session/redeem`), keeps the key in the tab's sessionStorage and takes the
    // ticket out of the address; the same link does not sign in a second time.
    let ticket: serde_json::Value = client
        .post(format!("{endpoint}/v1/session/tickets"))
        .bearer_auth(&key)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .context("helios dev made no sign-in ticket")?
        .json()
        .await
        .context("helios dev answered no sign-in ticket")?;
    let ticket = ticket
        .get("ticket")
        .and_then(serde_json::Value::as_str)
        .context("helios dev answered no sign-in ticket")?;
    let link = format!("{endpoint}/#/sign-in?ticket={ticket}");
    println!();
    println!(
        "Helios demo: {} events/s of simulated traffic",
        args.traffic.rate
    );
    println!("  dashboard: {endpoint}/");
    println!("  sign in:   {link}");
    match &_temporary {
        Some(_) => println!(
            "  data:      {} (removed when the demo ends)",
            data_dir.display()
        ),
        None => println!("  data:      {} (kept)", data_dir.display()),
    }
    println!("  Ctrl-C ends it.");
    println!();
    if !args.no_open {
        open_browser(&link);
    }
    let traffic = crate::simulate::run_traffic(&endpoint, creds, args.traffic.clone(), None, false);
    let ended = tokio::select! {
        r = traffic => r.map(|_| std::process::ExitCode::SUCCESS),
        // helios dev ends on Ctrl-C (or SIGTERM) by itself; the traffic with it.
        r = &mut server => match r {
            Ok(Ok(())) => Ok(std::process::ExitCode::SUCCESS),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(anyhow::anyhow!("helios dev failed: {e}")),
        },
    };
    if let Some(t) = _temporary {
        // helios dev's own shutdown first (it ends on the same Ctrl-C as the traffic).
        if !server.is_finished() {
            let _ = tokio::time::timeout(Duration::from_secs(10), &mut server).await;
        }
        remove_folder(t).await;
    }
    ended
}

/// Removes the demo's temporary folder. helios dev's threads that write files (the SQLite
/// checkpointer, the workflow runner) can still be finishing when it returns, and a file they
/// make while the folder is being removed leaves the folder behind (`TempDir`'s drop ignores
/// that): so removal is tried again, for a few seconds, until the folder is gone.
async fn remove_folder(t: tempfile::TempDir) {
    let path = t.keep();
    for _ in 0..50 {
        match std::fs::remove_dir_all(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Ok(()) if !path.exists() => return,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    eprintln!(
        "could not remove the demo's folder {}: remove it yourself",
        path.display()
    );
}

/// Opens `url` in the desktop's browser, when there is a desktop; says nothing otherwise.
fn open_browser(url: &str) {
    let has_desktop = cfg!(target_os = "macos")
        || std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if !has_desktop {
        return;
    }
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if spawned.is_err() {
        println!("  (could not start {opener}: open the sign-in link yourself)");
    }
}
