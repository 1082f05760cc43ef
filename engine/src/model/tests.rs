//! Every rule of the host model with a passing and a failing case; error texts are asserted whole.

use super::*;

const BASE: &str = r#"
[host]
name = "esx-test"
uplinks = ["vmnic0"]

[[netstack]]
key = "defaultTcpipStack"
ipv4_gateway = "10.0.0.1"

[[vmk]]
name = "vmk0"
mac = "00:50:56:00:00:a0"
vlan = 10
ipv4 = "10.0.0.11/24"
tags = ["Management"]
"#;

fn load(extra: &str) -> Result<HostModel, Diagnostics> {
    let text = format!("{BASE}{extra}");
    HostModel::from_toml("t.toml", &text).map_err(|err| match err {
        LoadError::Invalid { diagnostics, .. } => diagnostics,
        LoadError::Read { .. } => unreachable!("no file is read"),
    })
}

/// The error lines of `extra` appended to the base host.
fn errors(extra: &str) -> Vec<String> {
    match load(extra) {
        Ok(_) => Vec::new(),
        Err(diags) => diags.errors().map(ToString::to_string).collect(),
    }
}

fn warnings(extra: &str) -> Vec<String> {
    load(extra)
        .expect("valid host")
        .warnings
        .warnings()
        .map(ToString::to_string)
        .collect()
}

fn assert_valid(extra: &str) -> HostModel {
    match load(extra) {
        Ok(model) => model,
        Err(diags) => panic!("expected a valid host, got:\n{diags}"),
    }
}

fn assert_single_error(extra: &str, expected: &str) {
    assert_eq!(errors(extra), vec![expected.to_owned()]);
}

/// A vmk on `netstack` with `tags`; `n` picks name, MAC and subnet.
fn vmk(n: u32, netstack: &str, tags: &str) -> String {
    format!(
        r#"
[[vmk]]
name = "vmk{n}"
netstack = "{netstack}"
mac = "00:50:56:00:00:{n:02x}"
vlan = {vlan}
ipv4 = "10.{n}.0.11/24"
tags = [{tags}]
"#,
        vlan = 100 + n
    )
}

#[test]
fn embedded_default_is_valid_without_warnings() {
    let model = HostModel::embedded_default();
    assert_eq!(model.vmks.len(), 9);
    assert!(model.warnings.0.is_empty(), "{}", model.warnings);
}

#[test]
fn syntax_errors_name_line_and_column() {
    let text = format!("{BASE}\n[[vmk]]\nname = \"vmk1\"\nmtu = \"big\"\n");
    let diags = match HostModel::from_toml("t.toml", &text) {
        Err(LoadError::Invalid { diagnostics, .. }) => diagnostics,
        other => panic!("expected a syntax error, got {other:?}"),
    };
    let line = diags.to_string();
    assert!(
        line.starts_with("t.toml:19:7: error: (file) = \"big\": invalid type: string \"big\", expected i64"),
        "{line}"
    );
    assert!(line.contains("[syntax: "), "{line}");
}

#[test]
fn unknown_fields_are_refused() {
    let errs = errors("\n[[vmk]]\nname = \"vmk1\"\nmac = \"00:50:56:00:00:02\"\nmtuu = 9000\n");
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("t.toml:20:1: error: (file) = mtuu: unknown field `mtuu`"),
        "{}",
        errs[0]
    );
}

#[test]
fn uplink_required() {
    assert_valid("");
    let text = BASE.replace(r#"uplinks = ["vmnic0"]"#, "uplinks = []");
    let err = HostModel::from_toml("t.toml", &text).unwrap_err().to_string();
    assert!(
        err.contains(
            "t.toml:4:11: error: host.uplinks = []: no uplink given [uplink-required: a host has at least one uplink"
        ),
        "{err}"
    );
}

#[test]
fn netstack_defined_twice() {
    assert_single_error(
        "\n[[netstack]]\nkey = \"defaultTcpipStack\"\n",
        "t.toml:18:7: error: netstack[defaultTcpipStack].key = defaultTcpipStack: stack defined twice \
         [netstack-unique: each TCP/IP stack key is defined once (§1.1)]",
    );
}

#[test]
fn custom_netstack_names() {
    let model = assert_valid("\n[[netstack]]\nkey = \"replication_2\"\n");
    assert!(
        model
            .netstack_by_key(&NetstackKey::Custom("replication_2".into()))
            .is_some()
    );
    assert_single_error(
        "\n[[netstack]]\nkey = \"my stack\"\n",
        "t.toml:18:7: error: netstack[my stack].key = my stack: not a valid stack name \
         [netstack-name: a custom stack name is 1-64 letters, digits, '-' or '_' (esxcli network ip netstack add -N)]",
    );
}

#[test]
fn only_custom_stacks_are_renamed() {
    let model = assert_valid("\n[[netstack]]\nkey = \"repl\"\nname = \"Replication\"\n");
    assert_eq!(model.netstacks[3].name, "Replication");
    assert_single_error(
        "\n[[netstack]]\nkey = \"vmotion\"\nname = \"vMotion stack\"\n",
        "t.toml:19:8: error: netstack[vmotion].name = vMotion stack: only custom stacks can be renamed \
         (fact sheet §1.2) [netstack-name: a custom stack name is 1-64 letters, digits, '-' or '_' \
         (esxcli network ip netstack add -N)]",
    );
}

#[test]
fn max_connections_positive() {
    assert_valid("\n[[netstack]]\nkey = \"vmotion\"\nmax_connections = 20000\n");
    assert_single_error(
        "\n[[netstack]]\nkey = \"vmotion\"\nmax_connections = 0\n",
        "t.toml:19:19: error: netstack[vmotion].max_connections = 0: must be a positive integer \
         [max-connections: requestedMaxNumberOfConnections is a positive integer (§1.2)]",
    );
}

#[test]
fn vmk_netstack_must_exist() {
    assert_valid(&vmk(1, "vmotion", "\"VMotion\""));
    assert_single_error(
        &vmk(1, "vmotoin", "\"VMotion\""),
        "t.toml:19:12: error: vmk[vmk1].netstack = vmotoin: no such TCP/IP stack (known: defaultTcpipStack, \
         vSphereProvisioning, vmotion) [netstack-exists: an adapter is bound to an existing TCP/IP stack (§1.3 rule 9)]",
    );
}

#[test]
fn vmk_names() {
    assert_valid(&vmk(10, "defaultTcpipStack", ""));
    let text = vmk(1, "defaultTcpipStack", "").replace("\"vmk1\"", "\"eth1\"");
    assert_single_error(
        &text,
        "t.toml:18:8: error: vmk[eth1].name = eth1: adapter names are vmk followed by a number \
         [vmk-name: VMkernel adapters are named vmkN (§2)]",
    );
    let text = vmk(1, "defaultTcpipStack", "").replace("\"vmk1\"", "\"vmk01\"");
    assert_eq!(errors(&text).len(), 1);
}

#[test]
fn vmk_names_unique() {
    let text = vmk(1, "defaultTcpipStack", "").replace("\"vmk1\"", "\"vmk0\"");
    assert_single_error(
        &text,
        "t.toml:18:8: error: vmk[vmk0].name = vmk0: vmk0 is already defined at line 11 \
         [vmk-unique: each VMkernel adapter name is used once (§2)]",
    );
}

#[test]
fn macs_unicast() {
    let text = vmk(1, "defaultTcpipStack", "").replace("00:50:56:00:00:01", "01:00:5e:00:00:01");
    assert_single_error(
        &text,
        "t.toml:20:7: error: vmk[vmk1].mac = 01:00:5e:00:00:01: multicast, broadcast or zero MAC \
         [mac-unicast: an adapter's MAC is a non-zero unicast address (§2.1)]",
    );
    let text = vmk(1, "defaultTcpipStack", "").replace("00:50:56:00:00:01", "00:50:56:00:01");
    assert_single_error(
        &text,
        "t.toml:20:7: error: vmk[vmk1].mac = 00:50:56:00:01: not a MAC address (xx:xx:xx:xx:xx:xx) \
         [mac-unicast: an adapter's MAC is a non-zero unicast address (§2.1)]",
    );
}

#[test]
fn macs_unique() {
    assert_valid(&vmk(2, "defaultTcpipStack", ""));
    let text = vmk(2, "defaultTcpipStack", "").replace("00:50:56:00:00:02", "00:50:56:00:00:a0");
    assert_single_error(
        &text,
        "t.toml:18:8: error: vmk[vmk2].mac = 00:50:56:00:00:a0: MAC already used by vmk0 \
         [mac-unique: each adapter has its own MAC (§2.1)]",
    );
}

#[test]
fn vlan_range() {
    for ok in ["vlan = 0", "vlan = 4094"] {
        assert_valid(&vmk(1, "defaultTcpipStack", "").replace("vlan = 101", ok));
    }
    assert_single_error(
        &vmk(1, "defaultTcpipStack", "").replace("vlan = 101", "vlan = 4095"),
        "t.toml:21:8: error: vmk[vmk1].vlan = 4095: 4095 means virtual guest tagging (a trunk to a VM), never a \
         VMkernel adapter's VLAN [vlan-range: an adapter's VLAN is 0 (untagged) to 4094; 4095 is virtual guest \
         tagging, reserved by 802.1Q (§2.2)]",
    );
    assert_eq!(
        errors(&vmk(1, "defaultTcpipStack", "").replace("vlan = 101", "vlan = -1")).len(),
        1
    );
}

#[test]
fn mtu_range() {
    for ok in [1280, 1500, 9000] {
        let model = assert_valid(&format!("{}mtu = {ok}\n", vmk(1, "defaultTcpipStack", "")));
        assert_eq!(model.vmks[1].mtu, ok);
    }
    assert_eq!(assert_valid("").vmks[0].mtu, DEFAULT_MTU);
    for bad in [1279, 9001, 65536] {
        assert_single_error(
            &format!("{}mtu = {bad}\n", vmk(1, "defaultTcpipStack", "")),
            &format!(
                "t.toml:24:7: error: vmk[vmk1].mtu = {bad}: MTU must be between 1280 and 9000 \
                 [mtu-range: a vmk MTU is 1280 to 9000 bytes (§2.1)]"
            ),
        );
    }
}

#[test]
fn address_syntax() {
    let model = assert_valid(&vmk(1, "defaultTcpipStack", "").replace("\"10.1.0.11/24\"", "\"dhcp\""));
    assert_eq!(model.vmks[1].ipv4, Ipv4Mode::Dhcp);
    assert_single_error(
        &vmk(1, "defaultTcpipStack", "").replace("\"10.1.0.11/24\"", "\"10.1.0.11\""),
        "t.toml:22:8: error: vmk[vmk1].ipv4 = 10.1.0.11: expected `dhcp`, `none` or address/prefix-length, \
         e.g. 10.0.0.5/24 [address-syntax: addresses are written address/prefix-length]",
    );
    assert_single_error(
        &format!("{}ipv6 = [\"fd00::1/129\"]\n", vmk(1, "defaultTcpipStack", "")),
        "t.toml:24:9: error: vmk[vmk1].ipv6 = fd00::1/129: expected an IPv6 address/prefix-length, e.g. fd00::5/64 \
         [address-syntax: addresses are written address/prefix-length]",
    );
}

#[test]
fn host_addresses() {
    assert_valid(&vmk(1, "defaultTcpipStack", "").replace("\"10.1.0.11/24\"", "\"10.1.0.1/31\""));
    for bad in ["10.1.0.0/24", "10.1.0.255/24", "127.0.0.1/8", "224.0.0.5/24"] {
        assert_single_error(
            &vmk(1, "defaultTcpipStack", "").replace("10.1.0.11/24", bad),
            &format!(
                "t.toml:22:8: error: vmk[vmk1].ipv4 = {bad}: not a usable host address in its subnet \
                 [host-address: an interface address is a unicast host address, not the network, broadcast, \
                 loopback or multicast address]"
            ),
        );
    }
}

#[test]
fn address_unique_within_netstack_only() {
    let same_ip = |stack: &str| vmk(1, stack, "").replace("10.1.0.11/24", "10.0.0.11/24");
    assert_valid(&format!("\n[[netstack]]\nkey = \"other\"\n{}", same_ip("other")));
    assert_single_error(
        &same_ip("defaultTcpipStack"),
        "t.toml:18:8: error: vmk[vmk1].ipv4 = 10.0.0.11: address already used by vmk0 on the same TCP/IP stack \
         [address-unique-in-netstack: an IP address is used once per TCP/IP stack; separate stacks are separate \
         routing domains (§1.1)]",
    );
}

#[test]
fn stack_gateway_inside_connected_subnet() {
    assert_single_error(
        &format!(
            "\n[[netstack]]\nkey = \"vmotion\"\nipv4_gateway = \"10.9.0.1\"\n{}",
            vmk(1, "vmotion", "\"VMotion\"")
        ),
        "t.toml:19:16: error: netstack[vmotion].ipv4_gateway = 10.9.0.1: no adapter of this stack has a subnet \
         containing the gateway [gateway-in-subnet: a gateway must be inside a subnet connected to its stack or \
         adapter (§1.3 rules 6-7)]",
    );
    assert_valid(&format!(
        "\n[[netstack]]\nkey = \"vmotion\"\nipv4_gateway = \"10.1.0.1\"\n{}",
        vmk(1, "vmotion", "\"VMotion\"")
    ));
}

#[test]
fn adapter_gateway_override_inside_its_subnet() {
    let model = assert_valid(&format!(
        "{}ipv4_gateway = \"10.1.0.254\"\n",
        vmk(1, "defaultTcpipStack", "")
    ));
    assert_eq!(model.vmks[1].ipv4_gateway, Some("10.1.0.254".parse().unwrap()));
    assert_single_error(
        &format!("{}ipv4_gateway = \"10.0.0.1\"\n", vmk(1, "defaultTcpipStack", "")),
        "t.toml:24:16: error: vmk[vmk1].ipv4_gateway = 10.0.0.1: override gateway is outside the adapter's subnet \
         10.1.0.0/24 [gateway-in-subnet: a gateway must be inside a subnet connected to its stack or adapter \
         (§1.3 rules 6-7)]",
    );
}

#[test]
fn static_routes_need_a_reachable_gateway_of_their_family() {
    let model = assert_valid("\n[[route]]\nnetwork = \"192.168.7.0/24\"\ngateway = \"10.0.0.254\"\n");
    assert_eq!(model.routes[0].network.to_string(), "192.168.7.0/24");
    assert_single_error(
        "\n[[route]]\nnetstack = \"vmotion\"\nnetwork = \"192.168.7.0/24\"\ngateway = \"10.0.0.254\"\n",
        "t.toml:20:11: error: route[0].gateway = 10.0.0.254: no adapter of the route's stack has a subnet \
         containing the gateway [route-gateway: a static route's gateway is reachable through its own stack \
         (§1.3 rule 10)]",
    );
    assert_single_error(
        "\n[[route]]\nnetwork = \"fd00:7::/64\"\ngateway = \"10.0.0.254\"\n",
        "t.toml:19:11: error: route[0].gateway = 10.0.0.254: gateway and network are of different address families \
         [route-gateway: a static route's gateway is reachable through its own stack (§1.3 rule 10)]",
    );
}

#[test]
fn tags_use_esxcli_spelling() {
    assert_valid(&vmk(1, "defaultTcpipStack", "\"NVMeTCP\""));
    assert_single_error(
        &vmk(1, "defaultTcpipStack", "\"vsan\""),
        "t.toml:23:9: error: vmk[vmk1].tags = vsan: unknown service tag; did you mean `VSAN`? (tags are \
         case-sensitive) [tag-known: service tags are spelt as esxcli network ip interface tag add takes them (§2.3)]",
    );
}

#[test]
fn vmotion_stack_carries_only_vmotion() {
    assert_valid(&vmk(1, "vmotion", "\"VMotion\""));
    assert_single_error(
        &vmk(1, "vmotion", "\"VMotion\", \"Management\""),
        "t.toml:23:20: error: vmk[vmk1].tags = Management: `Management` cannot be enabled on an adapter of stack \
         `vmotion` [vmotion-stack-only-vmotion: vMotion-stack adapters carry only vMotion (§1.3 rule 4)]",
    );
}

#[test]
fn provisioning_stack_carries_only_provisioning() {
    assert_valid(&vmk(1, "vSphereProvisioning", "\"vSphereProvisioning\""));
    assert_single_error(
        &vmk(1, "vSphereProvisioning", "\"VMotion\""),
        "t.toml:23:9: error: vmk[vmk1].tags = VMotion: `VMotion` cannot be enabled on an adapter of stack \
         `vSphereProvisioning` [provisioning-stack-only-provisioning: provisioning-stack adapters carry only \
         provisioning (§1.3 rule 4)]",
    );
}

#[test]
fn management_ft_vsan_only_on_default_stack() {
    let custom = "\n[[netstack]]\nkey = \"repl\"\n";
    assert_valid(&format!("{custom}{}", vmk(1, "repl", "\"vSphereReplication\"")));
    for tag in [
        "Management",
        "faultToleranceLogging",
        "VSAN",
        "vSphereBackupNFC",
        "NVMeTCP",
    ] {
        assert_single_error(
            &format!("{custom}{}", vmk(1, "repl", &format!("\"{tag}\""))),
            &format!(
                "t.toml:26:9: error: vmk[vmk1].tags = {tag}: `{tag}` cannot be enabled on an adapter of stack `repl` \
                 [default-stack-only: services other than vMotion, provisioning and replication can only be enabled \
                 on default-stack adapters (§1.3 rule 4)]"
            ),
        );
    }
}

#[test]
fn only_one_ft_logging_adapter() {
    let one = vmk(1, "defaultTcpipStack", "\"faultToleranceLogging\"");
    assert_valid(&one);
    assert_single_error(
        &format!("{one}{}", vmk(2, "defaultTcpipStack", "\"faultToleranceLogging\"")),
        "t.toml:26:8: error: vmk[vmk2].tags = faultToleranceLogging: vmk1 already carries FT logging \
         [single-ft-logging: only one FT-logging adapter per host (§2.1)]",
    );
}

#[test]
fn all_errors_are_reported_at_once_in_file_order() {
    let text = vmk(1, "nope", "\"Bogus\"")
        .replace("vlan = 101", "vlan = 5000")
        .replace("00:50:56:00:00:01", "ff:ff:ff:ff:ff:ff");
    let errs = errors(&format!("{text}mtu = 100\n"));
    let rules: Vec<&str> = errs
        .iter()
        .map(|e| e.rsplit_once(" [").unwrap().1.split(':').next().unwrap())
        .collect();
    assert_eq!(
        rules,
        ["netstack-exists", "mac-unicast", "vlan-range", "tag-known", "mtu-range"]
    );
}

#[test]
fn several_services_on_one_adapter_is_a_warning() {
    assert!(warnings(&vmk(1, "defaultTcpipStack", "\"NVMeTCP\"")).is_empty());
    assert_eq!(
        warnings(&vmk(1, "defaultTcpipStack", "\"VSAN\", \"NVMeTCP\"")),
        [
            "t.toml:18:8: warning: vmk[vmk1].tags = VSAN,NVMeTCP: several traffic types share one adapter \
          [one-service-per-adapter: dedicate a VMkernel adapter to only one traffic type (§2.1)]"
        ]
    );
}

#[test]
fn vmotion_gateway_equal_to_default_is_a_warning() {
    let vmotion = vmk(1, "vmotion", "\"VMotion\"").replace("10.1.0.11/24", "10.0.0.12/24");
    let w = warnings(&format!(
        "\n[[netstack]]\nkey = \"vmotion\"\nipv4_gateway = \"10.0.0.1\"\n{vmotion}"
    ));
    assert_eq!(
        w,
        [
            "t.toml:22:8: warning: netstack[vmotion].ipv4_gateway = 10.0.0.1: the vMotion stack uses the default \
          stack's gateway [vmotion-own-gateway: the vMotion stack exists to use a gateway different from the \
          default stack's (§1.3 rule 5)]"
        ]
    );
}

#[test]
fn vmotion_stack_disables_vmotion_on_default_stack_adapters() {
    let default_vmotion = vmk(2, "defaultTcpipStack", "\"VMotion\"");
    let model = assert_valid(&default_vmotion);
    assert!(model.vmks[1].has_service(ServiceTag::Vmotion));

    let both = format!("{default_vmotion}{}", vmk(1, "vmotion", "\"VMotion\""));
    let model = assert_valid(&both);
    let vmk2 = model.vmk_by_name("vmk2").unwrap();
    assert!(!vmk2.has_service(ServiceTag::Vmotion));
    assert_eq!(vmk2.services[0].state, ServiceState::MovedTo(NetstackKey::Vmotion));
    assert!(model.vmk_by_name("vmk1").unwrap().has_service(ServiceTag::Vmotion));
    assert_eq!(
        warnings(&both),
        [
            "t.toml:18:8: warning: vmk[vmk2].tags = VMotion: vmk2 is disabled for VMotion on this adapter: the \
          `vmotion` stack has adapters [service-moved-to-own-stack: once an adapter exists on the vMotion \
          (provisioning) stack, default-stack adapters are disabled for vMotion (provisioning) (§1.3 rules 1-2)]"
        ]
    );
}

#[test]
fn provisioning_stack_disables_provisioning_on_default_stack_adapters() {
    let both = format!(
        "{}{}",
        vmk(2, "defaultTcpipStack", "\"vSphereProvisioning\""),
        vmk(1, "vSphereProvisioning", "\"vSphereProvisioning\"")
    );
    let model = assert_valid(&both);
    assert!(
        !model
            .vmk_by_name("vmk2")
            .unwrap()
            .has_service(ServiceTag::VsphereProvisioning)
    );
}

#[test]
fn vsan_mtu_mismatch_is_a_warning() {
    let a = format!("{}mtu = 9000\n", vmk(1, "defaultTcpipStack", "\"VSAN\""));
    let b = vmk(2, "defaultTcpipStack", "\"VSAN\"");
    let w = warnings(&format!("{a}{b}"));
    assert_eq!(w.len(), 1);
    assert!(
        w[0].contains("vSAN adapters have different MTUs (vmk2=1500, vmk1=9000) [vsan-uniform-mtu"),
        "{}",
        w[0]
    );
}

#[test]
fn reload_cannot_move_an_adapter_to_another_stack() {
    let old = assert_valid(&vmk(1, "defaultTcpipStack", ""));
    let same = assert_valid(&format!("{}mtu = 9000\n", vmk(1, "defaultTcpipStack", "")));
    assert!(old.check_reload(&same).0.is_empty());
    let moved = assert_valid(&vmk(1, "vmotion", "\"VMotion\""));
    assert_eq!(
        old.check_reload(&moved).to_string(),
        "t.toml:18:8: error: vmk[vmk1].netstack = vmotion: vmk1 was created on `defaultTcpipStack` \
         [netstack-fixed-at-creation: once set, an adapter's TCP/IP stack cannot be changed; remove the adapter and \
         create it again (§1.3 rule 3)]\n"
    );
}

#[test]
fn a_prefix_given_twice_is_routed_and_listed_once() {
    // A static route over vmk1's connected subnet: the connected route, listed first, is the one in force.
    let text = EMBEDDED_DEFAULT.replace("network = \"10.120.20.0/24\"", "network = \"10.20.20.0/24\"");
    let model = HostModel::from_toml("dup.toml", &text).unwrap();
    let vmotion = model.netstack_by_key(&NetstackKey::Vmotion).unwrap();
    let subnet: Vec<RouteEntry> = model
        .route_entries(vmotion)
        .into_iter()
        .filter(|r| r.network.to_string() == "10.20.20.0/24")
        .collect();
    assert_eq!(subnet.len(), 1);
    assert_eq!((subnet[0].source, subnet[0].gateway), (RouteSource::Local, None));
    let view = model.view(view::ViewKind::Routes, Some("vmotion"));
    assert_eq!(view.rows.iter().filter(|r| r[1] == "10.20.20.0").count(), 1);
}
