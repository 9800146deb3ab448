//! Tests of the command line and its validation.

use super::*;

fn args(extra: &[&str]) -> Result<Args, clap::Error> {
    let mut argv = vec!["dockerhub_exporter"];
    argv.extend_from_slice(extra);
    Args::try_parse_from(argv)
}

#[test]
fn durations_take_the_documented_units() {
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
    assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
    for bad in ["", "10", "s", "1x", "-1s", "1.5s", "99999999999999999999h"] {
        assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn a_bad_duration_is_a_usage_error_naming_the_flag() {
    let err = args(&["--hub.namespace", "acme", "--refresh.interval", "soon"]).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("--refresh.interval"), "{err}");
}

#[test]
fn the_namespace_defaults_to_the_username() {
    let a = args(&["--hub.username", "alice"]).unwrap();
    let c = Config::from_args(a, Some("s3cret".into())).unwrap();
    assert_eq!(c.hub.namespaces, ["alice"]);
    assert_eq!(c.hub.credentials.unwrap().secret(), "s3cret");
}

#[test]
fn namespaces_are_deduplicated_and_underscore_means_library() {
    let a = args(&["--hub.namespace", "acme,_", "--hub.namespace", "library"]).unwrap();
    let c = Config::from_args(a, None).unwrap();
    assert_eq!(c.hub.namespaces, ["acme", "library"]);
    assert!(c.hub.credentials.is_none());
}

#[test]
fn filters_are_anchored() {
    let c = Config::from_args(
        args(&[
            "--hub.namespace",
            "acme",
            "--filter.repository",
            "api|web.*",
            "--filter.tag-exclude",
            "sha-[0-9a-f]+",
        ])
        .unwrap(),
        None,
    )
    .unwrap();
    let repositories = c.filters.repository.unwrap();
    assert!(repositories.is_match("api"));
    assert!(repositories.is_match("webshop"));
    assert!(!repositories.is_match("my-api"), "anchored at the start");
    assert!(!repositories.is_match("api2"), "anchored at the end");
    let excluded = c.filters.tag_exclude.unwrap();
    assert!(!excluded.is_match("1.0"));
    assert!(excluded.is_match("sha-0a1b"));
    assert!(!excluded.is_match("sha-0a1b-debug"));
    let bad = args(&["--hub.namespace", "acme", "--filter.tag", "("]).unwrap_err();
    assert!(bad.to_string().contains("--filter.tag"), "{bad}");
}

#[test]
fn no_namespace_and_no_username_is_refused() {
    let err = Config::from_args(args(&[]).unwrap(), None).unwrap_err();
    assert_eq!(err.flag, "--hub.namespace");
    assert!(err.message.contains("--hub.repository"), "{err}");
}

#[test]
fn repositories_are_named_with_their_namespace_and_an_optional_tag_pattern() {
    let c = Config::from_args(
        args(&[
            "--hub.repository",
            "nginx:1\\.27(\\..*)?",
            "--hub.repository",
            "bitnami/postgresql",
            "--hub.repository",
            "_/redis:7\\.\\d{1,2}",
        ])
        .unwrap(),
        None,
    )
    .unwrap();
    assert!(c.hub.namespaces.is_empty(), "no namespace is implied");
    let named: Vec<(&str, &str)> = c
        .hub
        .repositories
        .iter()
        .map(|w| (w.namespace.as_str(), w.name.as_str()))
        .collect();
    assert_eq!(
        named,
        [
            ("library", "nginx"),
            ("bitnami", "postgresql"),
            ("library", "redis")
        ]
    );
    let nginx = c.hub.repositories[0].tags.as_ref().unwrap();
    assert!(nginx.is_match("1.27") && nginx.is_match("1.27.3"));
    assert!(
        !nginx.is_match("11.27") && !nginx.is_match("1.28.0"),
        "anchored"
    );
    assert!(c.hub.repositories[1].tags.is_none());
    assert!(
        c.hub.repositories[2]
            .tags
            .as_ref()
            .unwrap()
            .is_match("7.12")
    );

    // With a username, repositories alone still read no namespace of the username's.
    let c = Config::from_args(
        args(&[
            "--hub.username",
            "acme-bot",
            "--hub.repository",
            "library/nginx",
        ])
        .unwrap(),
        Some("secret".into()),
    )
    .unwrap();
    assert!(c.hub.namespaces.is_empty());
}

#[test]
fn a_comma_separated_list_keeps_commas_inside_a_pattern() {
    assert_eq!(
        repositories::split_list("nginx:1\\.\\d{1,3},bitnami/redis, library/alpine:3\\.[0-9]{2,}"),
        [
            "nginx:1\\.\\d{1,3}",
            "bitnami/redis",
            " library/alpine:3\\.[0-9]{2,}"
        ]
    );
    assert_eq!(repositories::split_list(""), Vec::<&str>::new());
    assert_eq!(repositories::split_list("a,,b"), ["a", "b"]);
}

#[test]
fn bad_or_repeated_repositories_are_refused_naming_the_flag() {
    for bad in [
        &["--hub.repository", "a/b/c"][..],
        &["--hub.repository", "acme/"],
        &["--hub.repository", "acme/api:("],
        &[
            "--hub.repository",
            "acme/api",
            "--hub.repository",
            "acme/api:1.*",
        ],
        &[
            "--hub.repository",
            "library/nginx",
            "--hub.repository",
            "nginx",
        ],
    ] {
        let err = Config::from_args(args(bad).unwrap(), None).unwrap_err();
        assert_eq!(err.flag, "--hub.repository", "{bad:?}: {err}");
    }
}

#[test]
fn a_username_without_secret_reads_its_namespace_anonymously() {
    let c = Config::from_args(args(&["--hub.username", "acme"]).unwrap(), None).unwrap();
    assert!(c.hub.credentials.is_none());
    assert_eq!(c.hub.namespaces, ["acme"]);
}

#[test]
fn the_password_file_loses_its_trailing_newline() {
    let dir = std::env::temp_dir().join(format!("dhx-secret-{}", std::process::id()));
    std::fs::write(&dir, "dckr_pat_x\n").unwrap();
    let a = args(&[
        "--hub.username",
        "a",
        "--hub.password-file",
        dir.to_str().unwrap(),
    ])
    .unwrap();
    let c = Config::from_args(a, Some("ignored".into())).unwrap();
    std::fs::remove_file(&dir).unwrap();
    assert_eq!(c.hub.credentials.unwrap().secret(), "dckr_pat_x");
}

#[test]
fn secrets_never_print() {
    let a = args(&["--hub.username", "alice"]).unwrap();
    let c = Config::from_args(a, Some("hunter2".into())).unwrap();
    let printed = format!("{c:?}");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(printed.contains("**redacted**"), "{printed}");
}

#[test]
fn listen_addresses_without_host_mean_every_interface() {
    assert_eq!(parse_listen_address(":9721").unwrap().len(), 2);
    let c = Config::from_args(
        args(&["--hub.namespace", "a", "--web.listen-address", "[::1]:9721"]).unwrap(),
        None,
    )
    .unwrap();
    assert_eq!(
        c.listen,
        [(
            "[::1]:9721".to_string(),
            vec!["[::1]:9721".parse().unwrap()]
        )]
    );
    let both = Config::from_args(
        args(&[
            "--hub.namespace",
            "a",
            "--web.listen-address",
            "127.0.0.1:1",
            "--web.listen-address",
            ":2",
        ])
        .unwrap(),
        None,
    )
    .unwrap();
    let given: Vec<&str> = both.listen.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(given, ["127.0.0.1:1", ":2"]);
    assert_eq!(both.listen[1].1.len(), 2);
    assert!(parse_listen_address("127.0.0.1:0").is_ok());
    assert!(parse_listen_address("localhost").is_err());
}

#[test]
fn hub_urls_must_be_http_without_credentials() {
    assert!(hub::parse_hub_url("https://hub.docker.com/").is_ok());
    assert!(hub::parse_hub_url("ftp://x").is_err());
    assert!(hub::parse_hub_url("https://u:p@hub.docker.com").is_err());
}

#[test]
fn change_signals_are_off_by_default_and_the_minimum_interval_is_30s() {
    let c = Config::from_args(args(&["--hub.namespace", "acme"]).unwrap(), None).unwrap();
    assert!(c.signals.webhook_token.is_none());
    assert_eq!(c.signals.audit_log_interval, None);
    assert_eq!(c.signals.repository_min_interval, Duration::from_secs(30));
    let c = Config::from_args(
        args(&[
            "--hub.namespace",
            "acme",
            "--hub.audit-log.interval",
            "1m",
            "--refresh.repository-min-interval",
            "0",
        ])
        .unwrap(),
        None,
    )
    .unwrap();
    assert_eq!(c.signals.audit_log_interval, Some(Duration::from_secs(60)));
    assert_eq!(c.signals.repository_min_interval, Duration::ZERO);
}

#[test]
fn the_webhook_token_is_read_from_its_file_checked_and_never_printed() {
    let file = std::env::temp_dir().join(format!("dhx-webhook-token-{}", std::process::id()));
    let config = |content: &str| {
        std::fs::write(&file, content).unwrap();
        let a = args(&[
            "--hub.namespace",
            "acme",
            "--web.webhook-token-file",
            file.to_str().unwrap(),
        ])
        .unwrap();
        Config::from_args(a, None)
    };
    let c = config("0123456789abcdef-_.~XYZ\n").unwrap();
    let token = c.signals.webhook_token.clone().unwrap();
    assert_eq!(token.secret(), "0123456789abcdef-_.~XYZ");
    let printed = format!("{c:?}");
    assert!(!printed.contains("0123456789abcdef"), "{printed}");
    for bad in ["", "\n", "with/slash", "with space", "percent%20", "ünï"] {
        let err = config(bad).unwrap_err();
        assert_eq!(err.flag, "--web.webhook-token-file", "{bad:?}");
    }
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn the_metrics_path_cannot_be_under_the_webhook_endpoints() {
    let file = std::env::temp_dir().join(format!("dhx-webhook-path-{}", std::process::id()));
    std::fs::write(&file, "0123456789abcdef0123").unwrap();
    let config = |path: &str| {
        Config::from_args(
            args(&[
                "--hub.namespace",
                "acme",
                "--web.webhook-token-file",
                file.to_str().unwrap(),
                "--web.telemetry-path",
                path,
            ])
            .unwrap(),
            None,
        )
    };
    assert_eq!(
        config("/hooks/metrics").unwrap_err().flag,
        "--web.telemetry-path"
    );
    assert!(config("/metrics").is_ok());
    std::fs::remove_file(&file).unwrap();
}

fn inventory(extra: &[&str]) -> Result<InventoryArgs, clap::Error> {
    let mut argv = vec!["dockerhub_exporter", "inventory"];
    argv.extend_from_slice(extra);
    match Args::try_parse_from(argv)?.command {
        Some(Command::Inventory(args)) => Ok(*args),
        other => panic!("not the inventory command: {other:?}"),
    }
}

#[test]
fn the_inventory_command_takes_the_exporters_hub_and_filter_flags_with_their_rules() {
    let args = inventory(&[
        "--hub.namespace",
        "acme,_",
        "--hub.username",
        "bot",
        "--hub.repository",
        "bitnami/redis:7\\..*",
        "--hub.rate-limit",
        "60",
        "--filter.repository",
        "api|web",
    ])
    .unwrap();
    assert_eq!(args.format, ListingFormat::Table);
    assert_eq!(
        args.log_level,
        LogLevel::Warn,
        "the log says what failed only"
    );
    let c = InventoryCommand::from_args(args, Some("s3cret".into())).unwrap();
    assert_eq!(c.hub.namespaces, ["acme", "library"]);
    assert_eq!(c.hub.credentials.unwrap().secret(), "s3cret");
    assert_eq!(c.hub.rate_limit, 60);
    assert_eq!(c.hub.repositories[0].name, "redis");
    assert!(c.filters.repository.unwrap().is_match("web"));
    assert_eq!(c.source, Source::Hub);
    // The same validation as the exporter's, naming the same flags.
    for (bad, flag) in [
        (&["--hub.namespace", "a/b"][..], "--hub.namespace"),
        (
            &["--hub.namespace", "a", "--hub.url", "ftp://x"],
            "--hub.url",
        ),
        (
            &["--hub.namespace", "a", "--hub.timeout", "0s"],
            "--hub.timeout",
        ),
        (&[], "--hub.namespace"),
    ] {
        let err = InventoryCommand::from_args(inventory(bad).unwrap(), None).unwrap_err();
        assert_eq!(err.flag, flag, "{bad:?}");
    }
    let bad = inventory(&["--hub.namespace", "a", "--hub.burst", "0"]).unwrap_err();
    assert!(bad.to_string().contains("--hub.burst"), "{bad}");
}

#[test]
fn offline_needs_a_state_file_and_a_state_file_needs_offline() {
    for (args, missing) in [
        (&["--offline"][..], "--state.file"),
        (&["--state.file", "s.json"], "--offline"),
    ] {
        let err = inventory(args).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains(missing), "{err}");
    }
    // Offline, nothing named means the whole file.
    let c = InventoryCommand::from_args(
        inventory(&["--offline", "--state.file", "s.json", "--format", "csv"]).unwrap(),
        None,
    )
    .unwrap();
    assert_eq!(c.source, Source::StateFile("s.json".into()));
    assert_eq!(c.format, ListingFormat::Csv);
    assert!(c.hub.namespaces.is_empty() && c.hub.repositories.is_empty());
}
