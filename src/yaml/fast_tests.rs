//! The fast reader against the general one: whatever it accepts must mean
//! exactly what yaml-rust2 with windlass' resolver reads.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::parse;
use crate::yaml::parse_general;

/// Asserts the fast reader accepts `doc` and agrees with the general one.
fn accepted(doc: &str) -> serde_json::Value {
    let fast = parse(doc).unwrap_or_else(|| panic!("fast reader refused {doc:?}"));
    assert_eq!(Ok(&fast), parse_general(doc).as_ref(), "{doc:?}");
    fast
}

#[test]
fn reads_what_templates_emit() {
    let pv = "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: data0-hdfs-datanode-0.default\n  labels:\n    app.kubernetes.io/component: datanode\n    windlass.io/chart: hdfs-0.1.0\nspec:\n  capacity:\n    storage: 2Gi\n  accessModes:\n    - ReadWriteOnce\n  claimRef:\n    namespace: default\n  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n        - matchExpressions:\n            - key: kubernetes.io/hostname\n              operator: In\n              values:\n                - minikube\n";
    let v = accepted(pv);
    assert_eq!(
        v["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]
            ["values"],
        json!(["minikube"])
    );
    // Lists at their key's column, quoted strings, empty collections,
    // YAML 1.1 scalars, comments and blank lines, a null value.
    let v = accepted(
        "# Source: x\n\nspec:\n  ports:\n  - name: rpc\n    port: 8020\n    protocol: TCP\n  - name: http\n    port: 0x10\n  args: []\n  resources: {}\n  mode: 0555\n  on: yes\n  quoted: \"0555\"\n  single: 'a: #b'\n  empty:\n  tail: -Xmx1g -XX:+UseG1GC\nlast: ~\n",
    );
    assert_eq!(
        v,
        json!({"spec": {"ports": [{"name": "rpc", "port": 8020, "protocol": "TCP"},
                                  {"name": "http", "port": 16}],
                        "args": [], "resources": {}, "mode": 365, "true": true,
                        "quoted": "0555", "single": "a: #b", "empty": null,
                        "tail": "-Xmx1g -XX:+UseG1GC"},
               "last": null})
    );
    accepted("- a\n- b\n");
    accepted("items:\n- a:\n    b: 1\n  c:\n  - 1\n  - 2\n- d: 2\n");
}

#[test]
fn leaves_everything_else_to_the_general_reader() {
    for doc in [
        "data:\n  f: |\n    text\n",
        "a: >-\n  folded\n",
        "a: &x 1\nb: *x\n",
        "<<: {a: 1}\n",
        "a: [1, 2]\n",
        "a: {b: 1}\n",
        "a: b\n  continued\n",
        "- a\n  continued\n",
        "a:\n  scalar on the next line\n",
        "a: 1\na: 2\n",
        "a:\n  x: 1\na: 2\n",
        "a: 1 # comment\n",
        "a:\tb\n",
        "\ta: b\n",
        "a: b\r\n",
        "a: ünï\n",
        "a: .inf\n",
        "~: 1\n",
        "null: 1\n",
        "\"key\": 1\n",
        "a: \"esc\\\"aped\"\n",
        "a: 'it''s'\n",
        "a: !!str 1\n",
        "a: b: c\n",
        "a: b:\n",
        "- - a\n",
        "-\n  a: 1\n",
        "? a\n: b\n",
        "just a scalar\n",
        "a: 1\n...\n",
        "",
        "# only a comment\n",
    ] {
        assert_eq!(parse(doc), None, "{doc:?}");
    }
}

const KEYS: &[&str] = &[
    "a", "b", "name", "on", "y", "8020", "0x10", "1.5", "1e+3", ".5", "a.b/c", "k-8", "_x", "-x",
    "~", "null", ".inf", "a b", "<<", "\"q\"", "NO",
];

const VALUES: &[&str] = &[
    "x",
    "0555",
    "08",
    "yes",
    "Off",
    "~",
    "null",
    "'q'",
    "\"d\"",
    "''",
    "\"\"",
    "{}",
    "[]",
    "a: b",
    "a #b",
    "a#b",
    "a:b",
    "-x",
    "- x",
    "-",
    "-1",
    "--5",
    "|",
    ">-",
    "&a x",
    "*a",
    "!!str 1",
    "[1, 2]",
    "{a: 1}",
    "'it''s'",
    "\"a\\\"b\"",
    "1e3",
    "1e+3",
    ".5",
    ".inf",
    "x:",
    "::",
    "a,b",
    "ünï",
    "2024-01-02",
    "1_000",
    "0b101",
    "+12",
    "18446744073709551616",
    "a 'b' c",
    "%x",
    "@x",
    "`x",
    "? x",
    ": x",
    "#",
    "a\tb",
    "500m",
    "true",
    "\"a: #b\"",
    "'\"'",
];

fn line(rng: &mut StdRng) -> String {
    let indent = " ".repeat([0, 0, 0, 1, 2, 2, 2, 3, 4, 4, 6][rng.gen_range(0..11)]);
    let key = KEYS[rng.gen_range(0..KEYS.len())];
    let value = VALUES[rng.gen_range(0..VALUES.len())];
    let body = match rng.gen_range(0..10) {
        0..=2 => format!("{key}: {value}"),
        3..=4 => format!("{key}:"),
        5 => format!("- {value}"),
        6 => format!("- {key}: {value}"),
        7 => format!("- {key}:"),
        8 => "# comment".to_string(),
        _ => String::new(),
    };
    format!("{indent}{body}\n")
}

#[test]
fn agrees_with_the_general_reader_on_generated_documents() {
    let mut rng = StdRng::seed_from_u64(11);
    let mut read = 0;
    for _ in 0..30_000 {
        let n = rng.gen_range(1..9);
        let doc: String = (0..n).map(|_| line(&mut rng)).collect();
        if let Some(fast) = parse(&doc) {
            read += 1;
            assert_eq!(Ok(&fast), parse_general(&doc).as_ref(), "{doc:?}");
        }
    }
    // The documents must reach the fast reader often enough to test it.
    assert!(
        read > 1_000,
        "only {read} generated documents were read fast"
    );
}

#[test]
fn lines_and_the_colon_search_answer_as_the_standard_library_does() {
    for text in [
        "",
        "\n",
        "a",
        "a\n",
        "a\nb",
        "\n\na\r\n b \n",
        "k: v # c\nx:#y\n#z: w",
    ] {
        let want: Vec<&str> = text.split('\n').collect();
        assert_eq!(super::lines(text).collect::<Vec<_>>(), want, "{text:?}");
        let b = text.as_bytes();
        assert_eq!(
            super::has_colon_space_or_space_hash(b),
            text.contains(": ") || text.contains(" #"),
            "{text:?}"
        );
    }
}

#[test]
fn a_word_reads_as_itself_by_the_full_rules_too() {
    // The fast reader takes a word (yaml::is_word) as a string without
    // resolving it; the general resolver must agree, as key and as value.
    let mut words = 0;
    for s in crate::yaml::test_strings(12, 100_000, "yYnNtTfFoOiIeEaAlLsSuU0159.+-_/~") {
        if crate::yaml::is_word(&s) {
            words += 1;
            let doc = format!("{s}: {s}\n");
            assert_eq!(
                parse_general(&doc).unwrap(),
                json!({ s.clone(): s }),
                "{s:?}"
            );
            assert_eq!(accepted(&doc), json!({ s.clone(): s }), "{s:?}");
        }
    }
    assert!(words > 1000, "{words}");
}
