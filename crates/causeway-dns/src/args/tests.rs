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
    ])
    .unwrap();
    assert_eq!(cli.dns.listen, "127.0.0.1:53".parse().unwrap());
    assert_eq!(cli.dns.zone, "example.org");
    assert_eq!(cli.dns.ttl, 30);
    assert!(!cli.dns.write_conditions);
}

#[test]
fn bad_values_are_rejected() {
    assert!(Cli::try_parse_from(["dns", "--zone", "a..b"]).is_err());
    assert!(Cli::try_parse_from(["dns", "--ttl", "-1"]).is_err());
    assert!(Cli::try_parse_from(["dns", "--listen", "localhost"]).is_err());
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
            "CAUSEWAY_DNS_WRITE_CONDITIONS"
        ]
    );
}
