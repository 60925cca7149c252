//! Unit tests of the template helpers.
use super::*;
use serde_json::json;

fn hb() -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    register(&mut hb);
    hb
}

fn render(t: &str, data: Value) -> Result<String, String> {
    hb().render_template(t, &data).map_err(|e| e.to_string())
}

fn ok(t: &str) -> String {
    render(t, json!({"v": {"n": 3, "s": "Hi", "m": {"b": 1, "a": [1, 2]}, "e": "", "z": 0, "t": true, "nul": null, "ml": "a\nb"}})).unwrap()
}

fn err(t: &str) -> String {
    render(t, json!({"v": {"n": 3, "s": "Hi"}})).unwrap_err()
}

#[test]
fn yaml_and_json() {
    assert_eq!(ok("{{toYaml v.m}}"), "a:\n- 1\n- 2\nb: 1");
    assert_eq!(ok("{{toJson v.m}}"), r#"{"a":[1,2],"b":1}"#);
}

#[test]
fn from_yaml_and_json() {
    assert_eq!(
        ok("{{toJson (fromYaml \"x: [1, a]\")}}"),
        r#"{"x":[1,"a"]}"#
    );
    assert!(err("{{fromYaml \"x: [1\"}}").contains("fromYaml: invalid YAML"));
    assert_eq!(ok("{{toYaml (fromJson \"[1]\")}}"), "- 1");
    assert!(err("{{fromJson \"[1\"}}").contains("fromJson: invalid JSON"));
}

#[test]
fn indentation() {
    assert_eq!(ok("{{indent 2 v.ml}}"), "  a\n  b");
    assert_eq!(
        ok("x:{{nindent 2 (toYaml v.m)}}"),
        "x:\n  a:\n  - 1\n  - 2\n  b: 1"
    );
    assert!(err("{{indent \"x\" \"a\"}}").contains("indent: `x` is not a number"));
    assert!(err("{{nindent 99999999999 \"a\"}}").contains("outside 0..=1024"));
    // Sprig's: the pad, then every line break followed by the pad (so an
    // empty line and an empty last line get it too).
    for s in ["", "a", "\n", "a\n\nb\n", "\n\nx", "ä\nß"] {
        for n in [0, 1, 4] {
            let pad = " ".repeat(n as usize);
            let sprig = format!("{pad}{}", s.replace('\n', &format!("\n{pad}")));
            assert_eq!(indent(n, s), sprig, "{n} {s:?}");
        }
    }
}

#[test]
fn quoting() {
    assert_eq!(ok("{{quote v.s}}"), "\"Hi\"");
    assert_eq!(ok("{{quote \"a\\\"b\"}}"), r#""a\"b""#);
    assert_eq!(ok("{{quote v.n}}"), "\"3\"");
    assert_eq!(ok("{{squote v.s}}"), "'Hi'");
    assert!(err("{{quote v.nope}}").contains("missing value `v.nope`"));
}

#[test]
fn default_required_empty_ternary() {
    assert_eq!(ok("{{default \"d\" v.nope}}"), "d");
    assert_eq!(ok("{{default \"d\" v.e}}"), "d");
    assert_eq!(ok("{{default 5 v.z}}"), "5");
    assert_eq!(ok("{{default \"d\" v.s}}"), "Hi");
    assert_eq!(ok("{{default \"d\" v.nul}}"), "d");
    assert_eq!(ok("{{required \"need s\" v.s}}"), "Hi");
    assert!(err("{{required \"v.x is required\" v.x}}").contains("required: v.x is required"));
    assert!(err("{{required \"msg\" \"\"}}").contains("msg"));
    assert_eq!(
        ok("{{empty v.e}} {{empty v.s}} {{empty v.nope}}"),
        "true false true"
    );
    assert_eq!(
        ok("{{ternary \"a\" \"b\" v.t}}{{ternary \"a\" \"b\" v.z}}"),
        "ab"
    );
}

#[test]
fn strings() {
    assert_eq!(
        ok("{{trunc 2 v.s}}|{{trunc -1 v.s}}|{{trunc 9 v.s}}"),
        "Hi|i|Hi"
    );
    assert_eq!(
        ok("{{trimSuffix \"-x\" \"a-x\"}}{{trimPrefix \"a\" \"ab\"}}{{trim \"  c \"}}"),
        "abc"
    );
    assert_eq!(ok("{{lower v.s}}{{upper v.s}}"), "hiHI");
    assert_eq!(ok("{{replace \"i\" \"o\" v.s}}"), "Ho");
    assert_eq!(ok("{{contains \"i\" v.s}}"), "true");
    assert_eq!(
        ok("{{printf \"%s-%d-%v-%q-%%\" v.s v.n true \"x\"}}"),
        "Hi-3-true-\"x\"-%"
    );
    assert!(err("{{printf \"%s %s\" \"a\"}}").contains("needs more arguments"));
    assert!(err("{{printf \"%x\" 1}}").contains("unsupported verb"));
    assert_eq!(ok("{{concat v.s \"-\" v.n}}"), "Hi-3");
    assert_eq!(ok("{{join \",\" v.m.a}}"), "1,2");
    assert!(err("{{join \",\" v.s}}").contains("expects a list"));
    assert_eq!(
        ok("{{xmlEscape \"a<b&'c\\\"\"}}"),
        "a&lt;b&amp;&apos;c&quot;"
    );
    assert_eq!(ok("{{toString v.n}}"), "3");
}

#[test]
fn encodings() {
    assert_eq!(ok("{{b64enc v.s}}"), "SGk=");
    assert_eq!(ok("{{b64dec \"SGk=\"}}"), "Hi");
    assert!(err("{{b64dec \"!!\"}}").contains("b64dec: invalid base64"));
    assert_eq!(
        ok("{{sha256sum \"abc\"}}"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn comparisons_and_logic() {
    assert_eq!(
        ok("{{eq v.n 3}} {{ne v.s \"Hi\"}} {{eq 1 1.0}}"),
        "true false true"
    );
    assert_eq!(
        ok("{{lt 1 2}} {{le 2 2}} {{gt \"b\" \"a\"}} {{ge 1 2}}"),
        "true true true false"
    );
    assert!(err("{{lt \"a\" 1}}").contains("lt: `a` is not a number"));
    assert_eq!(
        ok("{{and v.t v.n}} {{and v.t v.z}} {{or v.z v.nope v.s}} {{not v.e}}"),
        "true false true true"
    );
    assert_eq!(ok("{{and v.t v.nope}}"), "false");
    assert!(err("{{not}}").contains("exactly 1"));
    assert_eq!(ok("{{#if (and v.t (eq v.s \"Hi\"))}}yes{{/if}}"), "yes");
}

#[test]
fn arithmetic() {
    assert_eq!(
        ok("{{add 1 2 3}} {{sub 5 7}} {{mul 2 3}} {{div 7 2}} {{div 7.0 2}}"),
        "6 -2 6 3 3.5"
    );
    assert_eq!(ok("{{max 1 5 3}} {{min 4 2}} {{min 3 v.n}}"), "5 2 3");
    assert!(err("{{div 1 0}}").contains("division by zero"));
    assert!(err("{{add 9223372036854775807 1}}").contains("overflow"));
    assert!(err("{{sub 1}}").contains("exactly 2"));
    assert_eq!(ok("{{int \"42\"}} {{int 3.9}} {{int \"2.5\"}}"), "42 3 2");
    assert!(err("{{int \"x\"}}").contains("not a number"));
}

#[test]
fn collections() {
    assert_eq!(ok("{{toJson (list 1 \"a\" v.t)}}"), r#"[1,"a",true]"#);
    assert_eq!(
        ok("{{toJson (dict \"k\" 1 \"j\" v.s)}}"),
        r#"{"j":"Hi","k":1}"#
    );
    assert!(err("{{dict \"k\"}}").contains("even number"));
    assert_eq!(
        ok("{{hasKey v.m \"a\"}} {{hasKey v.m \"zz\"}}"),
        "true false"
    );
    assert!(err("{{hasKey v.s \"a\"}}").contains("expects a map"));
    assert_eq!(ok("{{has 2 v.m.a}} {{has 9 v.m.a}}"), "true false");
    assert_eq!(ok("{{len v.m.a}} {{len v.s}}"), "2 2");
    assert_eq!(
        ok("{{#each (range 3)}}{{this}}{{/each}}|{{#each (range 2 4)}}{{this}}{{/each}}"),
        "012|23"
    );
    assert!(err("{{range 1000000}}").contains("larger than"));
    assert_eq!(
        ok("{{toJson (mergeOverwrite (dict \"a\" 1 \"b\" (dict \"c\" 1)) (dict \"b\" (dict \"d\" 2)))}}"),
        r#"{"a":1,"b":{"c":1,"d":2}}"#
    );
    assert!(err("{{mergeOverwrite 1}}").contains("expects maps"));
}

#[test]
fn semver_compare() {
    assert_eq!(ok("{{semverCompare \">=1.25.0-0\" \"v1.31.2\"}}"), "true");
    assert_eq!(ok("{{semverCompare \"<1.20\" \"1.31.0\"}}"), "false");
    assert!(err("{{semverCompare \">=\" \"1.0.0\"}}").contains("invalid version constraint"));
    assert!(err("{{semverCompare \">=1.0.0\" \"banana\"}}").contains("invalid version"));
}

#[test]
fn include_and_tpl() {
    let mut hb = hb();
    hb.register_template_string("labels", "app: {{Values.name}}\n\n")
        .unwrap();
    hb.register_template_string("self", "{{include \"self\" this}}")
        .unwrap();
    let data = json!({"Values": {"name": "hdfs", "t": "n={{Values.name}}"}});
    assert_eq!(
        hb.render_template("x:{{nindent 2 (include \"labels\" this)}}", &data)
            .unwrap(),
        "x:\n  app: hdfs"
    );
    assert_eq!(
        hb.render_template("{{tpl Values.t this}}", &data).unwrap(),
        "n=hdfs"
    );
    assert_eq!(
        hb.render_template(
            "{{#each (list 1) as |i|}}{{include \"labels\" @root}}{{len @root}}{{/each}}",
            &data
        )
        .unwrap(),
        "app: hdfs1"
    );
    let e = hb
        .render_template("{{include \"nope\" this}}", &data)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no partial named `nope`"), "{e}");
    let e = hb
        .render_template("{{include \"self\" this}}", &data)
        .unwrap_err()
        .to_string();
    assert!(e.contains("nested more than"), "{e}");
    let e = hb
        .render_template("{{tpl \"{{Values.nope}}\" this}}", &data)
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope"), "{e}");
}

#[test]
fn memory_sizes_and_fail() {
    assert_eq!(ok("{{bytes \"1536Mi\"}}"), "1610612736");
    assert_eq!(ok("{{bytes \"1g\"}}"), "1073741824");
    assert_eq!(ok("{{bytes \"512m\"}}"), "536870912");
    assert_eq!(ok("{{bytes \"2G\"}}"), "2000000000");
    assert_eq!(ok("{{bytes \"64k\"}}"), "65536");
    assert_eq!(ok("{{bytes \"100\"}}"), "100");
    assert_eq!(ok("{{gt (bytes \"2g\") (bytes \"1536Mi\")}}"), "true");
    assert!(err("{{bytes \"1x\"}}").contains("unknown unit `x`"));
    assert!(err("{{bytes \"lots\"}}").contains("is not a memory size"));
    assert!(err("{{fail \"no way\"}}").contains("no way"));
}
