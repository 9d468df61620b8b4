//! The harness of the end-to-end tests: a real `helios dev` process and HTTP helpers.
#![allow(dead_code)] // each test binary uses its own part of it

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use helios_events::sample::{Credentials, Sample};
use helios_events::SourceSecrets;
use serde_json::Value;

pub const API_KEY: &str = "hk_e2e_admin_key_0123456789abcdef";

pub fn secrets() -> SourceSecrets {
    SourceSecrets {
        github: Some("gh-e2e-secret".into()),
        pubsub: Some("ps-e2e-token".into()),
        eventgrid: Some("eg-e2e-token".into()),
    }
}

/// A `helios dev` process; killed (SIGKILL) when dropped, and by the kernel if the test
/// process dies first.
pub struct Dev {
    child: Child,
    pub url: String,
    /// Where `helios dev` writes each answer the OpenAPI description does not describe.
    openapi_log: std::path::PathBuf,
}

impl Dev {
    pub fn start(data_dir: &Path, database_url: Option<&str>) -> Dev {
        Dev::start_with(data_dir, database_url, &[], &[])
    }

    /// With the checkout's `rules/` and `statemachines/`: deciding, and running workflows.
    pub fn start_deciding(data_dir: &Path, env: &[(&str, &str)]) -> Dev {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        Dev::start_with(
            data_dir,
            None,
            &[
                "--statemachines".as_ref(),
                root.join("statemachines").as_os_str(),
                "--rules".as_ref(),
                root.join("rules").as_os_str(),
            ],
            env,
        )
    }

    pub fn start_with(
        data_dir: &Path,
        database_url: Option<&str>,
        args: &[&std::ffi::OsStr],
        env: &[(&str, &str)],
    ) -> Dev {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_helios"));
        cmd.args(["dev", "--port", "0", "--data-dir"]).arg(data_dir);
        if let Some(url) = database_url {
            cmd.args(["--database-url", url]);
        }
        // Every answer the tests receive is checked against the OpenAPI description.
        let openapi_log = data_dir.with_extension("openapi-violations.log");
        cmd.env("HELIOS_OPENAPI_CHECK", &openapi_log);
        cmd.args(args).envs(env.iter().copied());
        let s = secrets();
        cmd.env("HELIOS_API_KEY", API_KEY)
            .env("HELIOS_GITHUB_SECRET", s.github.unwrap())
            .env("HELIOS_PUBSUB_TOKEN", s.pubsub.unwrap())
            .env("HELIOS_EVENTGRID_TOKEN", s.eventgrid.unwrap())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        unsafe {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe; the child dies with the test process.
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("helios dev starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("helios dev printed its address")
                .unwrap();
            if let Some(rest) = line.strip_prefix("helios dev listening on ") {
                break rest.trim().to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Dev {
            child,
            url,
            openapi_log,
        }
    }

    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Each answer of this process that the OpenAPI description does not describe fails
        // the test (unless it is failing already).
        let violations = std::fs::read_to_string(&self.openapi_log);
        let _ = std::fs::remove_file(&self.openapi_log);
        if std::thread::panicking() {
            return;
        }
        match violations {
            // helios dev makes the file when it installs the check: none, no check was made.
            Err(e) => panic!(
                "the OpenAPI check of helios dev was not on ({}: {e})",
                self.openapi_log.display()
            ),
            Ok(v) if !v.trim().is_empty() => {
                panic!("answers that shared/api/openapi/openapi.json does not describe:\n{v}")
            }
            Ok(_) => {}
        }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub async fn send_sample(dev: &Dev, sample: &Sample) -> (u16, http::HeaderMap, Value) {
    let creds = Credentials {
        api_key: Some(API_KEY.into()),
        secrets: secrets(),
    };
    let r = sample.prepare(&creds).unwrap();
    let mut url = format!("{}{}", dev.url, r.path);
    if let Some(q) = &r.query {
        url = format!("{url}?{q}");
    }
    let mut req = client()
        .request(
            reqwest::Method::from_bytes(r.method.as_bytes()).unwrap(),
            &url,
        )
        .body(r.body.clone());
    for (k, v) in &r.headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

pub async fn get(dev: &Dev, path: &str, key: &str) -> (u16, Value) {
    let resp = client()
        .get(format!("{}{path}", dev.url))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub async fn post_json(dev: &Dev, key: &str, body: Vec<u8>) -> (u16, http::HeaderMap, Value) {
    let resp = client()
        .post(format!("{}/v1/events", dev.url))
        .header("x-api-key", key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

/// Every event, following the cursor to the end.
pub async fn list_all(dev: &Dev) -> Vec<Value> {
    list_every(dev, "events").await
}

/// Every item of a listing (`events`, `decisions`), following the cursor to the end.
pub async fn list_every(dev: &Dev, what: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut path = format!("/v1/{what}?limit=1000");
    loop {
        let (status, page) = get(dev, &path, API_KEY).await;
        assert_eq!(status, 200, "{page}");
        out.extend(page[what].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(c) => path = format!("/v1/{what}?limit=1000&cursor={c}"),
            None => break,
        }
    }
    out
}

/// Makes an API key with `helios keys create` on the data folder of a running `helios dev`.
pub fn create_key(
    data_dir: &std::path::Path,
    name: &str,
    role: &str,
    sources: Option<&str>,
) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_helios"));
    cmd.args(["keys", "create", "--name", name, "--role", role, "--json"]);
    if let Some(s) = sources {
        cmd.args(["--sources", s]);
    }
    let out = cmd.arg("--data-dir").arg(data_dir).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    created["key"].as_str().unwrap().to_string()
}

/// Runs the `helios` binary with `args`; asserts it succeeded and returns what it printed,
/// as JSON.
pub fn helios_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_helios"))
        .args(args)
        .output()
        .expect("the helios binary runs");
    assert!(
        out.status.success(),
        "helios {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("helios {args:?} printed no JSON: {e}"))
}

/// A rule set in `dir/rules`: the checkout's starter rules, and `extra` as `name` beside them.
pub fn starter_rules_with(dir: &Path, name: &str, extra: &str) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let rules = dir.join("rules");
    std::fs::create_dir(&rules).unwrap();
    for f in std::fs::read_dir(root.join("rules")).unwrap() {
        let f = f.unwrap().path();
        if f.extension().is_some_and(|e| e == "yaml") {
            std::fs::copy(&f, rules.join(f.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(rules.join(name), extra).unwrap();
    rules
}

/// The AWS SDK configuration of a moto server: its endpoint, us-east-1, test credentials.
pub async fn moto_config(moto: &helios_testkit::moto::Moto) -> aws_config::SdkConfig {
    helios_aws::config_loader()
        .endpoint_url(moto.url())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}
