//! The deployment and the code agree: every Lambda binary of `functions/` is a function in
//! `terraform/`, and every function there is a binary; every state machine file is deployed,
//! and every function an ASL file invokes exists; every workflow a rule starts and every
//! machine terraform names is a file; the API's routes reach every handler; the environment
//! terraform sets is read by the code. (`terraform validate` and checkov run in the test
//! command beside this; they cannot see these names.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use regex::Regex;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: impl AsRef<Path>) -> String {
    let path = root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn files(dir: &str, suffix: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let stem = name.strip_suffix(suffix)?.to_string();
            Some((stem, std::fs::read_to_string(e.path()).ok()?))
        })
        .collect();
    out.sort();
    out
}

/// The keys of the `functions = { … }` map of terraform/main.tf.
fn terraform_functions(main: &str) -> BTreeSet<String> {
    let start = main
        .find("\n  functions = {\n")
        .expect("terraform/main.tf has `functions = {` in its locals");
    let body = &main[start..];
    let end = body.find("\n  }\n").expect("the functions map ends");
    Regex::new(r"(?m)^    ([a-z]+) = \{$")
        .unwrap()
        .captures_iter(&body[..end])
        .map(|c| c[1].to_string())
        .collect()
}

/// The binaries of every crate under functions/.
fn lambda_binaries() -> BTreeSet<String> {
    let bin = Regex::new(r#"(?s)\[\[bin\]\]\s*name = "([a-z]+)""#).unwrap();
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("functions"))
        .unwrap()
        .flatten()
    {
        let manifest = entry.path().join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let bins: Vec<String> = bin.captures_iter(&text).map(|c| c[1].to_string()).collect();
        assert!(
            !bins.is_empty(),
            "{} declares no [[bin]]: every crate of functions/ is a Lambda",
            manifest.display()
        );
        out.extend(bins);
    }
    out
}

#[test]
fn every_function_binary_is_deployed_and_every_deployed_function_is_built() {
    let main = read("terraform/main.tf");
    let deployed = terraform_functions(&main);
    let built = lambda_binaries();
    assert_eq!(
        built, deployed,
        "functions/ binaries (left) and terraform functions (right) differ"
    );
    // package.sh builds each of them.
    let package = read("terraform/package.sh");
    for f in &built {
        assert!(
            package.contains(&format!(" {f} ")) || package.contains(&format!(" {f}\n")),
            "terraform/package.sh does not build `{f}`"
        );
    }
    // The list the zips are named from is the same set.
    let names = Regex::new(r#"(?s)function_names = \[(.*?)\]"#)
        .unwrap()
        .captures(&main)
        .expect("function_names list")[1]
        .to_string();
    let listed: BTreeSet<String> = Regex::new(r#""([a-z]+)""#)
        .unwrap()
        .captures_iter(&names)
        .map(|c| c[1].to_string())
        .collect();
    assert_eq!(listed, deployed);
}

#[test]
fn every_state_machine_is_deployed_and_invokes_only_deployed_functions() {
    let main = read("terraform/main.tf");
    assert!(
        main.contains(r#"statemachines_dir = "${path.module}/../statemachines""#)
            && main.contains("definitions_dir    = local.statemachines_dir"),
        "the workflows module deploys every file of statemachines/"
    );
    let workflows = read("terraform/modules/workflows/main.tf");
    assert!(workflows.contains(r#"fileset(var.definitions_dir, "*.asl.json")"#));
    assert!(workflows.contains(r#""${title(k)}FunctionArn" => arn"#));

    let deployed = terraform_functions(&main);
    let placeholder = Regex::new(r"\$\{([A-Za-z]+)FunctionArn\}").unwrap();
    let any_placeholder = Regex::new(r"\$\{([^}]*)\}").unwrap();
    let machines = files("statemachines", ".asl.json");
    assert!(machines.len() >= 2, "{machines:?}");
    for (machine, text) in &machines {
        for c in any_placeholder.captures_iter(text) {
            let name = &c[1];
            let function = placeholder
                .captures(&c[0])
                .unwrap_or_else(|| {
                    panic!("{machine}: `${{{name}}}` is not a `${{NameFunctionArn}}` placeholder, and terraform's templatefile would fail on it")
                })[1]
                .to_lowercase();
            assert!(
                deployed.contains(&function),
                "{machine} invokes `{function}`, which terraform does not deploy"
            );
        }
        assert!(
            !text.contains("%{"),
            "{machine}: `%{{` is a template directive to terraform's templatefile"
        );
    }

    // Every machine terraform names (local.machine_arns.X) and every workflow a rule starts
    // is a file.
    let machine_files: BTreeSet<String> = machines.iter().map(|(m, _)| m.clone()).collect();
    for c in Regex::new(r"local\.machine_arns\.([a-z]+)")
        .unwrap()
        .captures_iter(&main)
    {
        assert!(
            machine_files.contains(&c[1]),
            "terraform names machine `{}`",
            &c[1]
        );
    }
    let workflow = Regex::new(r"(?m)workflow:\s*([A-Za-z0-9_-]+)").unwrap();
    for (rules, text) in files("rules", ".yaml") {
        for c in workflow.captures_iter(&text) {
            assert!(
                machine_files.contains(&c[1]),
                "{rules} starts workflow `{}`, which statemachines/ lacks",
                &c[1]
            );
        }
    }
    let expect = read("shared/app/src/expect.rs");
    let machine = Regex::new(r#"pub const MACHINE: &str = "([a-z]+)";"#)
        .unwrap()
        .captures(&expect)
        .expect("expect names its machine")[1]
        .to_string();
    assert!(
        machine_files.contains(&machine),
        "expect starts `{machine}`"
    );
}

/// The `routes = { "METHOD /path" = "function" }` map of terraform/main.tf.
fn terraform_routes(main: &str) -> Vec<(String, String, String)> {
    let start = main
        .find("\n  routes = {\n")
        .expect("terraform/main.tf has `routes = {`");
    let body = &main[start..];
    let end = body.find("\n  }\n").expect("the routes map ends");
    Regex::new(r#"(?m)^\s*"([A-Z]+) ([^"]+)"\s*=\s*"([a-z]+)"$"#)
        .unwrap()
        .captures_iter(&body[..end])
        .map(|c| (c[1].to_string(), c[2].to_string(), c[3].to_string()))
        .collect()
}

/// Whether API Gateway's route path `pattern` (`{name}` one segment, `{name+}` the rest)
/// matches the router's path template `path`.
fn gateway_matches(pattern: &str, path: &str) -> bool {
    let (p, t): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
    for (i, seg) in p.iter().enumerate() {
        if seg.starts_with('{') && seg.ends_with("+}") {
            return t.len() > i;
        }
        match t.get(i) {
            Some(s) if seg.starts_with('{') => {
                if !s.starts_with('{') && s.is_empty() {
                    return false;
                }
            }
            Some(s) if s == seg => {}
            _ => return false,
        }
    }
    p.len() == t.len()
}

/// API Gateway sends each route of the one router (`helios_api::router::ROUTES`) to the
/// function that serves it, and has no route the router lacks. Where two gateway routes
/// match, API Gateway takes the most specific, which is the one without a greedy `{x+}`.
#[test]
fn terraform_routes_are_the_routers_routes() {
    use helios_api::router::{Function, ROUTES};
    let gateway = terraform_routes(&read("terraform/main.tf"));
    assert!(gateway.len() >= 5, "{gateway:?}");
    for r in ROUTES.iter().filter(|r| {
        !matches!(
            r.function,
            Function::Local
                | Function::Stream
                | Function::Socket
                | Function::Session
                | Function::Metrics
        )
    }) {
        let mut matching: Vec<&(String, String, String)> = gateway
            .iter()
            .filter(|(m, p, _)| *m == r.method && gateway_matches(p, r.path))
            .collect();
        matching.sort_by_key(|(_, p, _)| p.contains("+}"));
        let Some((_, pattern, function)) = matching.first() else {
            panic!(
                "terraform has no API Gateway route for {} {}",
                r.method, r.path
            );
        };
        assert_eq!(
            function,
            r.function.name(),
            "{} {} is served by {}, but terraform's `{pattern}` sends it to {function}",
            r.method,
            r.path,
            r.function.name()
        );
    }
    for (method, pattern, function) in &gateway {
        assert!(
            ROUTES.iter().any(|r| r.method == *method
                && r.function.name() == function
                && gateway_matches(pattern, r.path)),
            "terraform routes {method} {pattern} to {function}, which serves no such route"
        );
    }
    // The matcher itself.
    assert!(gateway_matches("/v1/{proxy+}", "/v1/events/{id}"));
    assert!(gateway_matches(
        "/v1/decisions/{id}/ack",
        "/v1/decisions/{id}/ack"
    ));
    assert!(!gateway_matches("/v1/events", "/v1/events/{id}"));
    assert!(!gateway_matches("/v1/hooks/{source}", "/v1/events"));
}

/// The text of every Rust source file under `dir`.
fn sources(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.push_str(&sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    out
}

#[test]
fn the_environment_terraform_sets_is_read_by_the_code() {
    let main = read("terraform/main.tf");
    let code = [
        "shared/runtime/src",
        "shared/store/src",
        "shared/app/src",
        "functions",
    ]
    .iter()
    .map(|d| sources(&root().join(d)))
    .collect::<String>();
    let names: BTreeSet<String> = Regex::new(r"\b(HELIOS_[A-Z_]+) *=")
        .unwrap()
        .captures_iter(&main)
        .map(|c| c[1].to_string())
        .collect();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        // `secret_setting(&config, "HELIOS_CHANNELS", …)` reads HELIOS_CHANNELS_SECRET_ARN.
        let setting = name.strip_suffix("_SECRET_ARN").map(|s| {
            Regex::new(&format!(r#"secret_setting\([^)]*"{}""#, regex::escape(s))).unwrap()
        });
        assert!(
            code.contains(&format!("\"{name}\"")) || setting.is_some_and(|s| s.is_match(&code)),
            "terraform sets {name}, which no function reads"
        );
    }
}

#[test]
fn every_helios_error_a_workflow_matches_is_one_the_task_functions_raise() {
    let names: BTreeSet<&str> = helios_ports::TaskError::ALL
        .iter()
        .map(|e| e.name())
        .collect();
    let re = Regex::new(r"Helios\.[A-Za-z]+").unwrap();
    let mut matched = 0;
    for (machine, text) in files("statemachines", ".asl.json") {
        for m in re.find_iter(&text) {
            matched += 1;
            assert!(
                names.contains(m.as_str()),
                "{machine}.asl.json matches `{}`, which no task function raises (helios_ports::TaskError)",
                m.as_str()
            );
        }
    }
    assert!(matched > 0, "the workflows retry and catch Helios errors");
    // And the code names them through the enum only.
    let literal = Regex::new(r#""Helios\.[A-Za-z]+""#).unwrap();
    let mut dirs: Vec<String> = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .flatten()
        .map(|d| format!("functions/{}/src", d.file_name().to_string_lossy()))
        .collect();
    dirs.push("shared/app/src".into());
    for dir in dirs {
        for (file, text) in files(&dir, ".rs") {
            assert!(
                !literal.is_match(&text),
                "{dir}/{file}.rs spells a Helios error name: use helios_ports::TaskError"
            );
        }
    }
}

/// Each function's ports (`const PORTS` of its main.rs), by the name terraform gives it.
fn declared_ports() -> std::collections::BTreeMap<String, Vec<helios_runtime::lambda::Port>> {
    let decl = Regex::new(r"(?s)const PORTS: &\[[^\]]*\] = &\[(.*?)\];").unwrap();
    let port = Regex::new(r"Port::([A-Za-z]+)").unwrap();
    let mut out = std::collections::BTreeMap::new();
    for f in lambda_binaries() {
        let main = if f == "ack" {
            "functions/record/src/bin/ack.rs".to_string()
        } else {
            format!("functions/{f}/src/main.rs")
        };
        let text = read(&main);
        let list = decl
            .captures(&text)
            .unwrap_or_else(|| panic!("{main} declares no `const PORTS: &[Port] = &[…];`"))[1]
            .to_string();
        let ports = port
            .captures_iter(&list)
            .map(|c| {
                helios_runtime::lambda::Port::named(&c[1])
                    .unwrap_or_else(|| panic!("{main}: Port::{} is no port", &c[1]))
            })
            .collect();
        out.insert(f, ports);
    }
    out
}

/// The IAM actions terraform grants each function beyond what every function has (its
/// logs, tracing, the key, the async dead-letter queue), read with `terraform console`
/// with every optional port on (a Bedrock model set).
fn terraform_actions() -> std::collections::BTreeMap<String, BTreeSet<String>> {
    let dir = root().join("terraform");
    assert!(
        dir.join(".terraform").is_dir(),
        "terraform/ is not initialised: run `terraform -chdir=terraform init -backend=false` (./.ci/test does, with the local AWS provider)"
    );
    let mut child = std::process::Command::new("terraform")
        .arg(format!("-chdir={}", dir.display()))
        .args([
            "console",
            "-var",
            "artifacts_dir=/nonexistent",
            "-var",
            "bedrock_model_id=eu.anthropic.claude-3-5-haiku-20241022-v1:0",
        ])
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("terraform not found: install terraform 1.6 or newer");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"jsonencode({for k, f in local.functions : k => distinct(flatten([for s in f.statements : s.actions]))})\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "terraform console: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    // The console prints the JSON as a quoted HCL string.
    let json: String = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"));
    serde_json::from_str(&json).unwrap()
}

/// A function's policy is derived from the ports it is handed: terraform grants each
/// function exactly the IAM actions of the AWS calls its ports make (helios_aws::iam,
/// checked against the adapters' SDK calls), no more and no fewer.
#[test]
fn each_function_is_granted_exactly_what_its_ports_call() {
    let declared = declared_ports();
    let granted = terraform_actions();
    assert_eq!(
        declared.keys().collect::<Vec<_>>(),
        granted.keys().collect::<Vec<_>>(),
        "functions with ports (left) and functions terraform deploys (right) differ"
    );
    let mut wrong = Vec::new();
    for (f, ports) in &declared {
        let need: BTreeSet<String> = helios_runtime::lambda::Port::actions(ports)
            .into_iter()
            .map(String::from)
            .collect();
        let have = &granted[f];
        let missing: Vec<_> = need.difference(have).collect();
        let extra: Vec<_> = have.difference(&need).collect();
        if !missing.is_empty() || !extra.is_empty() {
            wrong.push(format!(
                "{f} (ports {ports:?}): terraform lacks {missing:?}, grants unused {extra:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

/// The errors a task function raises that a state invoking it lets fail the execution, on
/// purpose: (machine, state, error) and why. Anything else a function raises must be
/// retried or caught by every Task state that invokes it.
const FAILS_THE_EXECUTION: &[(&str, &str, &str, &str)] = &[
    ("decision", "Record", "Helios.BadRequest", "a record request the function cannot read is a bug in the workflow: the execution fails, and the failed-executions alarm says so"),
    ("decision", "AwaitAck", "Helios.BadRequest", "as Record's"),
    ("expectation", "Check", "Helios.BadRequest", "an input that is no expectation's: the execution fails and its alarm fires"),
    ("expectation", "Check", "Helios.Internal", "a bug: the execution fails and its alarm fires"),
    ("expectation", "Emit", "Helios.BadRequest", "a missed event Helios cannot record (an invalid one): the execution fails and its alarm fires"),
    ("expectation", "Emit", "Helios.Internal", "a bug: the execution fails and its alarm fires"),
];

/// The Task states of a machine, nested ones included: (name, state).
fn task_states(
    states: &serde_json::Map<String, serde_json::Value>,
) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for (name, s) in states {
        if s["Type"] == "Task" {
            out.push((name.clone(), s.clone()));
        }
        for b in s["Branches"].as_array().into_iter().flatten() {
            out.extend(task_states(b["States"].as_object().unwrap()));
        }
        for key in ["ItemProcessor", "Iterator"] {
            if let Some(inner) = s[key]["States"].as_object() {
                out.extend(task_states(inner));
            }
        }
    }
    out
}

/// Every error a task function raises is handled where it is invoked: retried or caught
/// by each Task state that invokes the function (`States.ALL` and `States.TaskFailed`
/// catch them all), or listed in `FAILS_THE_EXECUTION` with the reason. A listed one that
/// is handled after all, or no longer raised, is stale and fails too.
#[test]
fn every_error_a_task_function_raises_is_handled_where_it_is_invoked() {
    let variant = Regex::new(r"TaskError::([A-Za-z]+)").unwrap();
    let placeholder = Regex::new(r"\$\{([A-Za-z]+)FunctionArn\}").unwrap();
    // A function raises what its main and its use case (shared/app/src/<function>.rs) do.
    let raised_by = |function: &str| -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let use_case = files("shared/app/src", ".rs")
            .into_iter()
            .filter(|(module, _)| module == function);
        for (_, text) in files(&format!("functions/{function}/src"), ".rs")
            .into_iter()
            .chain(use_case)
        {
            for c in variant.captures_iter(&text) {
                out.insert(format!("Helios.{}", &c[1]));
            }
        }
        out
    };
    let mut unhandled = Vec::new();
    let mut used = BTreeSet::new();
    let mut invoked = 0;
    for (machine, text) in files("statemachines", ".asl.json") {
        let asl: serde_json::Value = serde_json::from_str(&text).unwrap();
        for (state, s) in task_states(asl["States"].as_object().unwrap()) {
            let text = s.to_string();
            let Some(c) = placeholder.captures(&text) else {
                continue;
            };
            invoked += 1;
            let function = c[1].to_lowercase();
            let handled: BTreeSet<String> = ["Retry", "Catch"]
                .iter()
                .flat_map(|k| s[*k].as_array().cloned().unwrap_or_default())
                .flat_map(|r| r["ErrorEquals"].as_array().cloned().unwrap_or_default())
                .filter_map(|e| e.as_str().map(String::from))
                .collect();
            if handled.contains("States.ALL") || handled.contains("States.TaskFailed") {
                continue;
            }
            for error in raised_by(&function) {
                if handled.contains(&error) {
                    continue;
                }
                match FAILS_THE_EXECUTION
                    .iter()
                    .position(|(m, st, e, _)| *m == machine && *st == state && *e == error)
                {
                    Some(i) => {
                        used.insert(i);
                    }
                    None => unhandled.push(format!("{machine}.{state} invokes {function}, which raises {error}: neither retried nor caught")),
                }
            }
        }
    }
    assert!(invoked > 0, "no Task state invokes a function");
    assert!(unhandled.is_empty(), "\n{}", unhandled.join("\n"));
    let stale: Vec<_> = FAILS_THE_EXECUTION
        .iter()
        .enumerate()
        .filter(|(i, _)| !used.contains(i))
        .map(|(_, (m, st, e, _))| format!("{m}.{st} {e}"))
        .collect();
    assert!(
        stale.is_empty(),
        "FAILS_THE_EXECUTION lists what is handled after all, or no longer raised: {stale:?}"
    );
}

/// Lean Lambdas: built alone (as `terraform/package.sh` builds each), a function links the
/// AWS SDKs of the ports its `main.rs` declares and no other, and never the embedded store
/// (SQLite), the local adapters or the ASL interpreter. Read from `cargo tree -p`, which
/// resolves features for that package alone.
#[test]
fn each_lambda_links_only_the_sdks_of_its_ports() {
    use helios_runtime::lambda::Port;
    let sdk_of = |p: &Port| -> Option<&'static str> {
        match p {
            Port::ArchiveWrite | Port::ArchiveRead => Some("aws-sdk-s3"),
            Port::Publish | Port::Mail => Some("aws-sdk-sns"),
            Port::KvRead | Port::KvWrite => Some("aws-sdk-dynamodb"),
            Port::StartExecutions | Port::ReadExecutions | Port::AnswerTasks => Some("aws-sdk-sfn"),
            Port::Model => Some("aws-sdk-bedrockruntime"),
            Port::Sockets => Some("aws-sdk-apigatewaymanagement"),
            Port::DeadLetters => Some("aws-sdk-sqs"),
            _ => None,
        }
    };
    let mut by_crate: std::collections::BTreeMap<String, BTreeSet<&'static str>> =
        Default::default();
    for (function, ports) in declared_ports() {
        let krate = if function == "ack" {
            "record".to_string()
        } else {
            function
        };
        let sdks = by_crate.entry(krate).or_default();
        // Every function reads secrets (the database's, the hooks') and signs RDS tokens;
        // aws-config brings STS for its credential chain.
        sdks.extend(["aws-sdk-secretsmanager", "aws-sdk-sts"]);
        sdks.extend(ports.iter().filter_map(sdk_of));
    }
    assert!(by_crate.len() >= 9, "{by_crate:?}");
    let package_name = Regex::new(r#"(?m)^name = "([a-z-]+)""#).unwrap();
    for (krate, wanted) in by_crate {
        // The package of functions/<krate> (`helios-<krate>`; the archive function's is
        // `helios-archive-fn`, beside the library `helios-archive`).
        let manifest = read(format!("functions/{krate}/Cargo.toml"));
        let package = package_name
            .captures(&manifest)
            .unwrap_or_else(|| panic!("functions/{krate}/Cargo.toml names no package"))[1]
            .to_string();
        let out = std::process::Command::new(env!("CARGO"))
            .args(["tree", "--locked", "-e", "normal", "--prefix", "none", "-p"])
            .arg(&package)
            .current_dir(root())
            .output()
            .expect("running cargo tree");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let linked: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect();
        let sdks: BTreeSet<&str> = linked
            .iter()
            .map(String::as_str)
            .filter(|c| c.starts_with("aws-sdk-"))
            .collect();
        assert_eq!(
            sdks, wanted,
            "{package} links these AWS SDKs (left); its ports need (right)"
        );
        for never in [
            "rusqlite",
            "helios-local",
            "helios-states",
            "libsqlite3-sys",
        ] {
            assert!(!linked.contains(never), "{package} links {never}");
        }
    }
}
