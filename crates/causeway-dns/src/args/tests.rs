use clap::{CommandFactory, Parser};

use super::*;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    dns: DnsArgs,
}

#[test]
fn cli_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn defaults_and_flags() {
    let cli = Cli::try_parse_from(["dns"]).unwrap();
    assert_eq!(
        cli.dns,
        DnsArgs {
            listen: "127.0.0.1:5353".parse().unwrap(),
            zone: "clusterset.local".to_owned(),
            ttl: 5,
            write_conditions: true,
            max_udp_in_flight: 1024,
            max_tcp_connections: 1024,
            tcp_idle_timeout: 10,
        }
    );
    let cli = Cli::try_parse_from([
        "dns",
        "--listen",
        "127.0.0.1:53",
        "--zone",
        "Example.ORG.",
        "--ttl",
        "30",
        "--write-conditions",
        "false",
        "--max-udp-in-flight",
        "64",
        "--max-tcp-connections",
        "8",
        "--tcp-idle-timeout",
        "2",
    ])
    .unwrap();
    assert_eq!(cli.dns.listen, "127.0.0.1:53".parse().unwrap());
    assert_eq!(cli.dns.zone, "example.org");
    assert_eq!(cli.dns.ttl, 30);
    assert!(!cli.dns.write_conditions);
    assert_eq!(
        cli.dns.limits(),
        Limits {
            udp_in_flight: 64,
            tcp_connections: 8,
            tcp_idle: std::time::Duration::from_secs(2),
        }
    );
}

#[test]
fn bad_values_are_rejected() {
    assert!(Cli::try_parse_from(["dns", "--zone", "a..b"]).is_err());
    assert!(Cli::try_parse_from(["dns", "--ttl", "-1"]).is_err());
    assert!(Cli::try_parse_from(["dns", "--listen", "localhost"]).is_err());
    for flag in [
        "--max-udp-in-flight",
        "--max-tcp-connections",
        "--tcp-idle-timeout",
    ] {
        assert!(
            Cli::try_parse_from(["dns", flag, "0"]).is_err(),
            "{flag} 0 would serve nothing"
        );
    }
}

#[test]
fn flags_fall_back_to_environment_variables() {
    let cmd = Cli::command();
    let envs: Vec<_> = cmd
        .get_arguments()
        .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
        .collect();
    assert_eq!(
        envs,
        vec![
            "CAUSEWAY_DNS_LISTEN",
            "CAUSEWAY_DNS_ZONE",
            "CAUSEWAY_DNS_TTL",
            "CAUSEWAY_DNS_WRITE_CONDITIONS",
            "CAUSEWAY_DNS_MAX_UDP_IN_FLIGHT",
            "CAUSEWAY_DNS_MAX_TCP_CONNECTIONS",
            "CAUSEWAY_DNS_TCP_IDLE_TIMEOUT",
        ]
    );
}
