//! docker-compose.yml checked against the native stack it must mirror: the processes
//! `scripts/stack.sh` starts, the variables the binaries read, nginx's routes and the
//! Prometheus targets. Reading files only; no stack needed. `scripts/compose-test.sh`
//! runs the compose stack itself (on stand-in images), after these tests.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use e2e::repo;
use regex::Regex;
use serde_yaml::Value as Yaml;

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn compose() -> Yaml {
    serde_yaml::from_str(&read("docker-compose.yml"))
        .unwrap_or_else(|e| panic!("docker-compose.yml is not YAML: {e}"))
}

fn services(compose: &Yaml) -> BTreeMap<String, Yaml> {
    compose["services"]
        .as_mapping()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.clone())))
                .collect()
        })
        .unwrap_or_default()
}

/// The image the compose file builds from the project's Dockerfile.
const SHOP_IMAGE: &str = "shop-api:local";

/// Services that run the shop's own image (the API, the consumers, migrate).
fn app_services(compose: &Yaml) -> BTreeMap<String, Yaml> {
    services(compose)
        .into_iter()
        .filter(|(_, s)| s["image"].as_str() == Some(SHOP_IMAGE))
        .collect()
}

#[test]
fn the_shop_image_is_built_by_one_service_only() {
    // Compose v2 builds once per service with a `build:` and labels each build with
    // its service: one tag, several image ids, and every other service's containers
    // look out of date at the next `up --scale`, which recreates them all.
    let compose = compose();
    let builders: Vec<String> = services(&compose)
        .into_iter()
        .filter(|(_, s)| !s["build"].is_null())
        .map(|(name, _)| name)
        .collect();
    assert_eq!(builders, vec!["api".to_owned()], "services with a build");
    assert_eq!(
        services(&compose)["api"]["image"].as_str(),
        Some(SHOP_IMAGE)
    );
    assert!(app_services(&compose).len() >= 4);
}

fn strings(v: &Yaml) -> Vec<String> {
    match v {
        Yaml::String(s) => vec![s.clone()],
        Yaml::Sequence(items) => items
            .iter()
            .filter_map(|i| i.as_str().or_else(|| i["path"].as_str()).map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The names a file of `NAME=value` lines assigns.
fn assigned(text: &str) -> BTreeSet<String> {
    let re = Regex::new(r"(?m)^([A-Z][A-Z0-9_]*)=").unwrap_or_else(|e| panic!("{e}"));
    re.captures_iter(text).map(|c| c[1].to_owned()).collect()
}

/// Every variable `.env.example` documents.
fn documented() -> BTreeSet<String> {
    assigned(&read(".env.example"))
}

/// The keys of a YAML mapping (none if it is not one).
fn keys(v: &Yaml) -> BTreeSet<String> {
    v.as_mapping()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The variables the API and the consumers read (`required`/`optional`/`env::var`).
fn read_by_the_binaries() -> BTreeSet<String> {
    let re = Regex::new(r#"(?:required|optional|env::var)(?:::<[^>]*>)?\(\s*"([A-Z][A-Z0-9_]*)""#)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut files = Vec::new();
    rust_sources(&repo().join("api/src"), &mut files);
    rust_sources(&repo().join("common/src"), &mut files);
    rust_sources(&repo().join("consumers/src"), &mut files);
    files
        .iter()
        // The in-process test tiers' scratch data (feature `testing`): no binary has it.
        .filter(|f| !f.ends_with("common/src/testing.rs"))
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            re.captures_iter(&text)
                .map(|c| c[1].to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_process_of_the_native_stack_has_a_compose_service() {
    let stack = read("scripts/stack.sh");
    let services = services(&compose());
    // What the native stack runs, by the names it starts them under.
    let started =
        Regex::new(r#"start_process\s+"?([a-z][a-z-]*)"#).unwrap_or_else(|e| panic!("{e}"));
    let mut native: BTreeSet<String> = started
        .captures_iter(&stack)
        .map(|c| c[1].trim_end_matches('-').to_owned())
        .collect();
    // The native stack's log cap; compose caps logs with its logging driver instead
    // (every_service_caps_its_logs), so it has no service of its own.
    assert!(
        native.remove("log-rotator"),
        "stack.sh starts the log-rotator"
    );
    // Started by their own functions rather than start_process.
    for (function, name) in [
        ("ensure_postgres", "postgres"),
        ("ensure_redis", "redis"),
        ("start_nginx", "nginx"),
        ("prepare", "migrate"),
    ] {
        assert!(
            stack.contains(&format!("{function}()")),
            "{function} in stack.sh"
        );
        native.insert(name.to_owned());
    }
    let compose_name = |native: &str| {
        match native {
            "tansu" => "kafka",
            "maildev" => "mail",
            other => other,
        }
        .to_owned()
    };
    assert!(native.contains("api"), "api instances: {native:?}");
    assert!(
        native.contains("tansu") && native.contains("maildev"),
        "{native:?}"
    );
    for name in &native {
        assert!(
            services.contains_key(&compose_name(name)),
            "the native stack runs {name}; docker-compose.yml has no `{}` service",
            compose_name(name)
        );
    }
    // migrate does what the native `prepare` does, in the same order.
    let steps = Regex::new(r#""\$BIN/api" ([a-z-]+)"#).unwrap_or_else(|e| panic!("{e}"));
    let prepare = stack
        .split_once("prepare() {")
        .and_then(|(_, rest)| rest.split_once("\n}"))
        .map(|(body, _)| body)
        .unwrap_or_default();
    let native_steps: Vec<String> = steps
        .captures_iter(prepare)
        .map(|c| format!("api {}", &c[1]))
        .collect();
    assert!(native_steps.len() >= 3, "{native_steps:?}");
    let migrate = strings(&services["migrate"]["command"]).join(" ");
    let positions: Vec<usize> = native_steps
        .iter()
        .map(|step| {
            migrate
                .find(step.as_str())
                .unwrap_or_else(|| panic!("migrate runs `{step}`: {migrate}"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{migrate}");
    // Real Kafka in KRaft mode, from the official image.
    let kafka = &services["kafka"];
    assert!(
        kafka["image"]
            .as_str()
            .unwrap_or_default()
            .starts_with("apache/kafka:")
    );
    assert!(
        kafka["environment"]["KAFKA_PROCESS_ROLES"]
            .as_str()
            .unwrap_or_default()
            .contains("controller"),
        "KRaft: the broker is its own controller"
    );
    // The app services wait for migrate to finish.
    for (name, service) in app_services(&compose()) {
        if name != "migrate" {
            assert_eq!(
                service["depends_on"]["migrate"]["condition"].as_str(),
                Some("service_completed_successfully"),
                "{name} waits for migrate"
            );
        }
    }
}

#[test]
fn every_variable_the_binaries_read_is_documented_and_reaches_the_app_services() {
    let documented = documented();
    let used = read_by_the_binaries();
    assert!(used.len() > 30, "found the variables: {used:?}");
    let undocumented: Vec<&String> = used.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "read but not in .env.example: {undocumented:?}"
    );
    let compose = compose();
    let apps = app_services(&compose);
    for service in ["migrate", "api", "email-consumer", "inventory-consumer"] {
        assert!(apps.contains_key(service), "{service} runs the shop image");
    }
    for (name, service) in &apps {
        let env_files = strings(&service["env_file"]);
        let set = keys(&service["environment"]);
        if !env_files.iter().any(|f| f == ".env") {
            let missing: Vec<&String> = used.difference(&set).collect();
            assert!(
                missing.is_empty(),
                "{name} has no env_file .env and lacks {missing:?}"
            );
        }
        // Inside a container the app must listen beyond loopback.
        assert_eq!(
            service["environment"]["HOST"].as_str(),
            Some("0.0.0.0"),
            "{name}"
        );
    }
    // Whatever compose interpolates is documented too.
    let interpolated = Regex::new(r"\$\{([A-Z][A-Z0-9_]*)").unwrap_or_else(|e| panic!("{e}"));
    for c in interpolated.captures_iter(&read("docker-compose.yml")) {
        assert!(
            documented.contains(&c[1]),
            "docker-compose.yml uses ${{{}}}, not in .env.example",
            &c[1]
        );
    }
}

#[test]
fn every_service_has_a_health_check_and_a_restart_policy() {
    let services = services(&compose());
    assert!(services.len() >= 11, "{:?}", services.keys());
    for (name, service) in &services {
        let test = strings(&service["healthcheck"]["test"]);
        assert!(!test.is_empty(), "{name} has a health check");
        assert!(
            service["restart"].as_str().is_some(),
            "{name} has a restart policy"
        );
        // Health conditions, not mere start order.
        if let Some(deps) = service["depends_on"].as_mapping() {
            for (dep, how) in deps {
                let condition = how["condition"].as_str().unwrap_or_default();
                assert!(
                    condition == "service_healthy" || condition == "service_completed_successfully",
                    "{name} depends on {dep:?} with condition {condition:?}"
                );
            }
        }
    }
}

#[test]
fn every_service_caps_its_logs() {
    for (name, service) in &services(&compose()) {
        let logging = &service["logging"];
        assert_eq!(logging["driver"].as_str(), Some("json-file"), "{name}");
        assert!(
            logging["options"]["max-size"].as_str().is_some()
                && logging["options"]["max-file"].as_str().is_some(),
            "{name} rotates its log: {logging:?}"
        );
    }
}

#[test]
fn the_api_service_can_scale() {
    let services = services(&compose());
    let api = &services["api"];
    assert!(
        api["ports"].is_null(),
        "a fixed host port would stop --scale"
    );
    assert!(
        api["container_name"].is_null(),
        "a container name would stop --scale"
    );
    assert_eq!(api["deploy"]["replicas"].as_u64(), Some(4), "4 by default");
    // The public port is nginx's.
    let nginx_ports = strings(&services["nginx"]["ports"]).join(" ");
    assert!(nginx_ports.contains(":8080"), "{nginx_ports}");
}

#[test]
fn nginx_in_compose_routes_every_public_path_the_native_nginx_routes() {
    let compose_conf = read("nginx/compose.conf");
    let native_conf = read("nginx/native.conf.template");
    let services = services(&compose());
    let mounts: BTreeMap<String, String> = strings(&services["nginx"]["volumes"])
        .iter()
        .filter_map(|v| {
            let mut parts = v.split(':');
            Some((parts.nth(1)?.to_owned(), v.split(':').next()?.to_owned()))
        })
        .collect();
    // Both configs include the same shared files, and compose mounts them where its
    // config includes them.
    for shared in ["shop-http.conf", "shop-server.conf"] {
        assert!(
            native_conf.contains(&format!("@REPO@/nginx/{shared}")),
            "native includes {shared}"
        );
        let include =
            Regex::new(&format!(r"include\s+(\S*{shared});")).unwrap_or_else(|e| panic!("{e}"));
        let path = include
            .captures(&compose_conf)
            .map(|c| c[1].to_owned())
            .unwrap_or_else(|| panic!("compose.conf includes {shared}"));
        assert_eq!(
            mounts.get(&path).map(String::as_str),
            Some(format!("./nginx/{shared}").as_str()),
            "compose mounts nginx/{shared} at {path}"
        );
    }
    // nginx's `api` servers are the ready replicas, written by the watcher that is the
    // container's command, into the file compose.conf includes; with DNS's list as the
    // fallback before any replica is ready.
    let watch = read("nginx/compose-watch.sh");
    assert!(
        watch.contains("/health/ready") && watch.contains("nginx -s reload"),
        "the watcher checks readiness and reloads nginx"
    );
    assert!(
        watch.contains("LIST=/etc/nginx/api-upstream.conf")
            && compose_conf.contains("include /etc/nginx/api-upstream.conf;"),
        "the watcher writes the file compose.conf includes"
    );
    assert!(
        watch.contains("resolve"),
        "fallback: every replica DNS knows"
    );
    assert_eq!(
        mounts
            .get("/etc/nginx/shop/compose-watch.sh")
            .map(String::as_str),
        Some("./nginx/compose-watch.sh"),
        "{mounts:?}"
    );
    assert_eq!(
        strings(&services["nginx"]["command"]).join(" "),
        "sh /etc/nginx/shop/compose-watch.sh"
    );
    // A stopping replica stays listed until the watcher (1 s) has dropped it.
    let drain: u64 = services["api"]["environment"]["SHUTDOWN_DRAIN_MS"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    assert!(drain >= 3000, "SHUTDOWN_DRAIN_MS under compose: {drain}");
    // Every path of the OpenAPI document is routed to the API by a location of the
    // shared server config (not only by the catch-all 404).
    let locations =
        Regex::new(r"location\s+(=\s+)?(/\S*)\s*\{\s*proxy_pass").unwrap_or_else(|e| panic!("{e}"));
    let server = read("nginx/shop-server.conf");
    let routed: Vec<(bool, String)> = locations
        .captures_iter(&server)
        .map(|c| (c.get(1).is_some(), c[2].to_owned()))
        .collect();
    let spec: serde_json::Value =
        serde_json::from_str(&read("openapi/openapi.json")).unwrap_or_default();
    let paths: Vec<String> = spec["paths"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    assert!(paths.len() > 30, "{paths:?}");
    for path in paths.iter().chain(["/docs/".to_owned()].iter()) {
        assert!(
            routed.iter().any(|(exact, loc)| if *exact {
                loc == path
            } else {
                path.starts_with(loc.as_str())
            }),
            "nginx routes {path} to the API: {routed:?}"
        );
    }
}

#[test]
fn prometheus_scrapes_every_replica_and_the_dashboard_uses_real_metrics() {
    let prometheus: Yaml = serde_yaml::from_str(&read("scripts/observability/prometheus.yml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let services = services(&compose());
    let jobs = prometheus["scrape_configs"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    for (service, port) in [
        ("api", 5000),
        ("email-consumer", 9101),
        ("inventory-consumer", 9102),
    ] {
        assert!(services.contains_key(service));
        let found = jobs.iter().any(|job| {
            job["dns_sd_configs"]
                .as_sequence()
                .into_iter()
                .flatten()
                .any(|sd| {
                    strings(&sd["names"]).iter().any(|n| n == service)
                        && sd["port"].as_u64() == Some(port)
                })
        });
        assert!(
            found,
            "Prometheus finds every {service} replica by DNS on :{port}"
        );
    }
    // Every metric the dashboard queries is one the code exports.
    let dashboard = read("scripts/observability/grafana/dashboards/shop.json");
    let used = Regex::new(r"shop_[a-z_]+").unwrap_or_else(|e| panic!("{e}"));
    let mut sources = Vec::new();
    rust_sources(&repo().join("api/src"), &mut sources);
    rust_sources(&repo().join("common/src"), &mut sources);
    rust_sources(&repo().join("consumers/src"), &mut sources);
    let code: String = sources
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap_or_default())
        .collect();
    let metrics: BTreeSet<String> = used
        .find_iter(&dashboard)
        .map(|m| m.as_str().to_owned())
        .collect();
    assert!(metrics.len() >= 10, "{metrics:?}");
    for metric in metrics {
        let base = metric
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        // The API registers names without the `shop_` prefix (its registry adds it).
        let unprefixed = base.trim_start_matches("shop_");
        assert!(
            // Registered by name (the API's registry) or written out in a format
            // string (the consumers: `name{{consumer=..}}`), not just in a comment.
            code.contains(&format!("\"{unprefixed}\"")) || code.contains(&format!("{base}{{{{")),
            "the dashboard uses {metric}, which no code exports"
        );
    }
}

#[test]
fn the_kubernetes_manifests_configure_every_variable_the_binaries_read() {
    let config: Yaml = serde_yaml::from_str(&read("k8s/configmap.yaml"))
        .unwrap_or_else(|e| panic!("k8s/configmap.yaml: {e}"));
    let mut set = keys(&config["data"]);
    let secrets = assigned(&read("k8s/secrets.env.example"));
    for secret in [
        "JWT_SECRET",
        "OTP_HMAC_SECRET",
        "EVENT_SEAL_KEY",
        "DATABASE_URL",
    ] {
        assert!(secrets.contains(secret), "{secret} is in the Secret");
        assert!(
            !set.contains(secret),
            "{secret} must not be in the ConfigMap"
        );
    }
    set.extend(secrets);
    // Set per pod from its name.
    assert!(read("k8s/api.yaml").contains("name: INSTANCE_ID"));
    set.insert("INSTANCE_ID".to_owned());
    // Read by the test tooling only, never by a deployed binary.
    let used: BTreeSet<String> = read_by_the_binaries()
        .into_iter()
        .filter(|v| v != "UPDATE_GOLDEN")
        .collect();
    let missing: Vec<&String> = used.difference(&set).collect();
    assert!(
        missing.is_empty(),
        "read by the binaries, set by neither k8s/configmap.yaml nor k8s/secrets.env.example: {missing:?}"
    );
}
