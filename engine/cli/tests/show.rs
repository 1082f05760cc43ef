//! The esxcli-style views of the embedded default host, checked against expected tables, and the `check`
//! and `show` subcommands as an operator runs them.

use std::path::Path;
use std::process::Command;

use vmknet::model::HostModel;
use vmknet::model::view::ViewKind;

fn expected(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expected").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn vmknet(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vmknet"))
        .args(args)
        .output()
        .expect("run vmknet");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("utf-8 output");
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

#[test]
fn embedded_default_views_match_expected_tables() {
    let model = HostModel::embedded_default();
    let views = [
        (ViewKind::Netstacks, "netstacks"),
        (ViewKind::Interfaces, "interfaces"),
        (ViewKind::Ipv4, "ipv4"),
        (ViewKind::Ipv6, "ipv6"),
        (ViewKind::Routes, "routes"),
        (ViewKind::Tags, "tags"),
        (ViewKind::Services, "services"),
    ];
    for (kind, name) in views {
        assert_eq!(
            model.view(kind, None).to_text(),
            expected(&format!("show-{name}.txt")),
            "show {name}"
        );
    }
    assert_eq!(
        model.view(ViewKind::Routes, Some("vmotion")).to_text(),
        expected("show-routes-vmotion.txt")
    );
}

#[test]
fn show_command_prints_the_same_tables_and_json() {
    let (code, out, _) = vmknet(&["show", "ipv4"]);
    assert_eq!(code, 0);
    assert_eq!(out, expected("show-ipv4.txt"));
    let (code, out, _) = vmknet(&["show", "interfaces", "--format", "json"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).expect("JSON output");
    assert_eq!(json[1]["Name"], "vmk1");
    assert_eq!(json[1]["Netstack Instance"], "vmotion");
    assert_eq!(json[1]["MTU"], "9000");
    let (code, out, _) = vmknet(&["show", "routes", "-N", "vmotion"]);
    assert_eq!(code, 0);
    assert_eq!(out, expected("show-routes-vmotion.txt"));
    let (code, out, _) = vmknet(&["show", "routes", "--format", "json"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).expect("JSON output");
    let witness = json
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["Network"] == "10.99.0.0")
        .expect("the static route to the vSAN witness site");
    assert_eq!(
        (
            &witness["Netstack"],
            &witness["Gateway"],
            &witness["Interface"],
            &witness["Source"]
        ),
        (
            &"defaultTcpipStack".into(),
            &"10.80.80.1".into(),
            &"vmk8".into(),
            &"MANUAL".into()
        )
    );
    let (code, _, err) = vmknet(&["show", "routes", "-N", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no netstack `nope` (known: defaultTcpipStack, vmotion, vSphereProvisioning, replication)"));
}

#[test]
fn check_accepts_the_default_and_reports_every_error_of_a_bad_file() {
    let (code, out, _) = vmknet(&["check"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "esx01.lab.vmknet.test: valid: 4 netstacks, 9 VMkernel adapters, 2 static routes, 0 warning(s)\n"
    );

    let (_, default, _) = vmknet(&["config", "default"]);
    let bad = default
        .replace(
            "mtu = 9000\nipv4 = \"10.20.20.11/24\"",
            "mtu = 9216\nipv4 = \"10.20.20.11/24\"",
        )
        .replace(
            "tags = [\"faultToleranceLogging\"]",
            "tags = [\"faultToleranceLogging\", \"Vmotion\"]",
        );
    let dir = std::env::temp_dir().join(format!("vmknet-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, bad).unwrap();
    let (code, out, _) = vmknet(&["check", "--config", file.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 1, "{out}");
    let errors: Vec<&str> = out.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(errors.len(), 2, "{out}");
    assert!(
        errors[0].contains(":54:7: error: vmk[vmk1].mtu = 9216: MTU must be between 1280 and 9000"),
        "{out}"
    );
    assert!(
        errors[1].contains("vmk[vmk5].tags = Vmotion: unknown service tag; did you mean `VMotion`?"),
        "{out}"
    );
    assert!(out.ends_with("invalid: 2 error(s), 0 warning(s)\n"), "{out}");

    let (code, _, err) = vmknet(&["check", "--config", "/nonexistent/host.toml"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("vmknet: cannot read host file /nonexistent/host.toml: "),
        "{err}"
    );
}
