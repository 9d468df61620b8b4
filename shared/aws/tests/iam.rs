//! `helios_aws::iam::OPERATIONS` names exactly the AWS calls the adapters make: every SDK
//! client call in this crate's source is in it (so a new call cannot go ungranted), and
//! every entry is a call the source makes (so nothing is granted for a call gone).

use std::collections::BTreeSet;

/// The SDK operations a source file calls: `client.<operation>()`, whitespace ignored.
fn calls(source: &str) -> BTreeSet<String> {
    let flat: String = source.chars().filter(|c| !c.is_whitespace()).collect();
    let mut out = BTreeSet::new();
    for (at, _) in flat.match_indices("client.") {
        let rest = &flat[at + "client.".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        if !name.is_empty() && rest[name.len()..].starts_with("()") {
            out.insert(name);
        }
    }
    out
}

#[test]
fn the_table_names_every_sdk_call_and_no_other() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let services = [
        ("s3.rs", "s3"),
        ("sns.rs", "sns"),
        ("dynamo.rs", "dynamodb"),
        ("sfn.rs", "sfn"),
        ("secrets.rs", "secretsmanager"),
        ("bedrock.rs", "bedrockruntime"),
        ("sqs.rs", "sqs"),
        ("sockets.rs", "apigatewaymanagement"),
    ];
    let mut made = BTreeSet::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let found = calls(&std::fs::read_to_string(&path).unwrap());
        match services.iter().find(|(file, _)| *file == name) {
            Some((_, service)) => {
                assert!(
                    !found.is_empty(),
                    "{name}: no SDK call found (has the client been renamed?)"
                );
                made.extend(found.into_iter().map(|op| format!("{service}.{op}")));
            }
            None => assert!(
                found.is_empty(),
                "{name} makes SDK calls {found:?}: add it to this test's services"
            ),
        }
    }
    // The RDS token is signed offline (rds.rs), not an SDK call.
    assert!(std::fs::read_to_string(src.join("rds.rs"))
        .unwrap()
        .contains("\"rds-db\""));
    made.insert("rds-db.connect".to_string());

    let table: BTreeSet<String> = helios_aws::iam::OPERATIONS
        .iter()
        .map(|(op, _)| op.to_string())
        .collect();
    let ungranted: Vec<_> = made.difference(&table).collect();
    let unused: Vec<_> = table.difference(&made).collect();
    assert!(
        ungranted.is_empty(),
        "calls missing from iam::OPERATIONS: {ungranted:?}"
    );
    assert!(
        unused.is_empty(),
        "iam::OPERATIONS names calls no adapter makes: {unused:?}"
    );
}
