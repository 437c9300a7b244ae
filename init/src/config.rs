//! `/etc/diskless/init.toml`: services, clock and shutdown settings, merged
//! over built-in defaults that start what the root filesystem has.

use crate::service::{Backoff, Restart, ServiceSpec};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

pub const PATH: &str = "/etc/diskless/init.toml";

/// A problem in init.toml, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path, self.line, self.col, self.message
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockConfig {
    pub enabled: bool,
    pub server: Option<IpAddr>,
    pub budget: Duration,
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub services: Vec<ServiceSpec>,
    pub clock: ClockConfig,
    /// How long services get between SIGTERM and SIGKILL.
    pub stop_timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    default_services: Option<bool>,
    clock: Option<ClockFile>,
    shutdown: Option<ShutdownFile>,
    #[serde(default)]
    service: Vec<toml::Spanned<ServiceFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockFile {
    enabled: Option<bool>,
    server: Option<IpAddr>,
    budget_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShutdownFile {
    stop_timeout_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum RestartFile {
    Always,
    #[serde(rename = "on-failure")]
    OnFailure,
    Never,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceFile {
    name: String,
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    after: Vec<String>,
    #[serde(default)]
    oneshot: bool,
    restart: Option<RestartFile>,
    #[serde(default)]
    dirs: Vec<String>,
    unless_exists: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    enabled: Option<bool>,
    max_fast_failures: Option<u32>,
    fast_failure_secs: Option<u64>,
    backoff_initial_ms: Option<u64>,
    backoff_max_ms: Option<u64>,
    startup_nice: Option<i32>,
}

/// `startup_nice` of the default rpcbind and gmond: nobody logs in through
/// them, and on a slow or busy node their start-up (≈0.5 s of CPU under
/// QEMU TCG) would otherwise delay sshd's by as much. At 19 they get about
/// 1.5 % of a CPU that sshd wants (10 left them about 10 % each).
pub const BACKGROUND_NICE: i32 = 19;

/// The built-in services: whatever of rpcbind/portmap, gmond and sshd the
/// root has. `exists` answers for paths in the node's root.
pub fn default_services(exists: &dyn Fn(&str) -> bool) -> Vec<ServiceSpec> {
    let first = |c: &[&'static str]| c.iter().copied().find(|p| exists(p));
    let mut out = vec![];
    // sshd first: it is what people wait for, and the supervisor starts
    // services in this order.
    if let Some(p) = first(&["/usr/sbin/sshd", "/sbin/sshd"]) {
        let mut sshd = ServiceSpec::new("sshd", &[p, "-D"]);
        // Privilege separation needs /run/sshd (Debian); /var/empty (other
        // builds) is made by the early boot's late steps.
        sshd.dirs = vec!["/run/sshd".into()];
        if let Some(kg) = first(&["/usr/bin/ssh-keygen", "/bin/ssh-keygen"]) {
            let mut keys = ServiceSpec::new("ssh-keygen", &[kg, "-A"]);
            keys.oneshot = true;
            keys.restart = Restart::Never;
            keys.unless_exists = Some("/etc/ssh/ssh_host_ed25519_key".into());
            out.push(keys);
            sshd.after = vec!["ssh-keygen".into()];
        }
        out.push(sshd);
    }
    if let Some(p) = first(&["/usr/sbin/rpcbind", "/sbin/rpcbind"]) {
        let mut s = ServiceSpec::new("rpcbind", &[p, "-f", "-w"]);
        s.dirs = vec!["/run/rpcbind".into()];
        s.startup_nice = BACKGROUND_NICE;
        out.push(s);
    } else if let Some(p) = first(&["/usr/sbin/portmap", "/sbin/portmap"]) {
        let mut s = ServiceSpec::new("rpcbind", &[p, "-f"]);
        s.startup_nice = BACKGROUND_NICE;
        out.push(s);
    }
    if let Some(p) = first(&["/usr/sbin/gmond", "/usr/local/sbin/gmond"]) {
        let mut s = ServiceSpec::new("gmond", &[p, "-f"]);
        s.startup_nice = BACKGROUND_NICE;
        out.push(s);
    }
    out
}

fn pos(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map(|i| before.len() - i)
        .unwrap_or(before.len() + 1);
    (line, col)
}

impl Config {
    /// Defaults only (no init.toml).
    pub fn defaults(exists: &dyn Fn(&str) -> bool) -> Config {
        Config {
            services: default_services(exists),
            clock: ClockConfig {
                enabled: true,
                server: None,
                budget: Duration::from_secs(1),
            },
            stop_timeout: Duration::from_secs(5),
        }
    }

    /// Parses init.toml text over the defaults. Every problem is reported.
    pub fn parse(
        text: &str,
        path: &str,
        exists: &dyn Fn(&str) -> bool,
    ) -> Result<Config, Vec<ConfigError>> {
        let err_at = |offset: usize, message: String| {
            let (line, col) = pos(text, offset);
            ConfigError {
                path: path.to_string(),
                line,
                col,
                message,
            }
        };
        let file: File = toml::from_str(text).map_err(|e| {
            let off = e.span().map(|s| s.start).unwrap_or(0);
            vec![err_at(off, e.message().to_string())]
        })?;
        let mut cfg = Config::defaults(exists);
        if file.default_services == Some(false) {
            cfg.services.clear();
        }
        if let Some(c) = file.clock {
            cfg.clock.enabled = c.enabled.unwrap_or(true);
            cfg.clock.server = c.server;
            if let Some(ms) = c.budget_ms {
                cfg.clock.budget = Duration::from_millis(ms.clamp(50, 10_000));
            }
        }
        if let Some(s) = file.shutdown.and_then(|s| s.stop_timeout_secs) {
            cfg.stop_timeout = Duration::from_secs(s.min(600));
        }
        let mut errors = vec![];
        let mut seen = BTreeSet::new();
        for sp in file.service {
            let at = sp.span().start;
            let f = sp.into_inner();
            let mut bad = |m: String| errors.push(err_at(at, format!("service `{}`: {m}", f.name)));
            if f.name.is_empty() || f.name.contains(|c: char| c.is_whitespace() || c == '/') {
                bad("name must be non-empty, without spaces or '/'".into());
                continue;
            }
            if f.name == crate::clock::DEPENDENCY {
                bad(
                    "the name `clock` is reserved (`after = [\"clock\"]` waits for the SNTP step)"
                        .into(),
                );
                continue;
            }
            if !seen.insert(f.name.clone()) {
                bad("defined twice".into());
                continue;
            }
            let existing = cfg.services.iter().position(|s| s.name == f.name);
            if f.enabled == Some(false) {
                if let Some(i) = existing {
                    cfg.services.remove(i);
                }
                continue;
            }
            match f.command.first() {
                None => {
                    bad("`command` is missing or empty; write e.g. command = [\"/usr/sbin/foo\", \"-f\"]".into());
                    continue;
                }
                Some(p) if !p.starts_with('/') => {
                    bad(format!(
                        "command `{p}` must be an absolute path (init does not search PATH)"
                    ));
                    continue;
                }
                _ => {}
            }
            if let Some(n) = f.startup_nice.filter(|n| !(0..=19).contains(n)) {
                bad(format!(
                    "startup_nice = {n}: use 0 (none) to 19 (lowest priority)"
                ));
                continue;
            }
            for a in &f.after {
                if a.is_empty() {
                    bad("`after` has an empty entry".into());
                }
            }
            let d = Backoff::default();
            let spec = ServiceSpec {
                name: f.name.clone(),
                argv: f.command,
                env: f.env.into_iter().collect(),
                after: f.after,
                oneshot: f.oneshot,
                restart: match f.restart {
                    Some(RestartFile::Always) => Restart::Always,
                    Some(RestartFile::OnFailure) => Restart::OnFailure,
                    Some(RestartFile::Never) => Restart::Never,
                    None if f.oneshot => Restart::Never,
                    None => Restart::Always,
                },
                dirs: f.dirs,
                unless_exists: f.unless_exists,
                backoff: Backoff {
                    initial: f
                        .backoff_initial_ms
                        .map(Duration::from_millis)
                        .unwrap_or(d.initial),
                    max: f.backoff_max_ms.map(Duration::from_millis).unwrap_or(d.max),
                    fast_window: f
                        .fast_failure_secs
                        .map(Duration::from_secs)
                        .unwrap_or(d.fast_window),
                    max_fast_failures: f.max_fast_failures.unwrap_or(d.max_fast_failures).max(1),
                },
                startup_nice: f.startup_nice.unwrap_or(0),
            };
            match existing {
                Some(i) => cfg.services[i] = spec,
                None => cfg.services.push(spec),
            }
        }
        // Service dependencies must exist and not form a cycle; mount points
        // (absolute paths) are checked against fstab by the plan.
        let names: BTreeSet<&str> = cfg.services.iter().map(|s| s.name.as_str()).collect();
        for s in &cfg.services {
            for a in &s.after {
                if !a.starts_with('/')
                    && a != crate::clock::DEPENDENCY
                    && !names.contains(a.as_str())
                {
                    errors.push(err_at(
                        0,
                        format!(
                            "service `{}`: `after` names `{a}`, which is not a service",
                            s.name
                        ),
                    ));
                }
            }
        }
        if let Some(cycle) = find_cycle(&cfg.services) {
            errors.push(err_at(
                0,
                format!("dependency cycle: {}", cycle.join(" -> ")),
            ));
        }
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors)
        }
    }
}

fn find_cycle(services: &[ServiceSpec]) -> Option<Vec<String>> {
    let idx: BTreeMap<&str, usize> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    // 0 unvisited, 1 on stack, 2 done
    fn dfs(
        i: usize,
        s: &[ServiceSpec],
        idx: &BTreeMap<&str, usize>,
        mark: &mut [u8],
        stack: &mut Vec<String>,
    ) -> bool {
        mark[i] = 1;
        stack.push(s[i].name.clone());
        for a in &s[i].after {
            if let Some(&j) = idx.get(a.as_str()) {
                if mark[j] == 1 {
                    stack.push(a.clone());
                    return true;
                }
                if mark[j] == 0 && dfs(j, s, idx, mark, stack) {
                    return true;
                }
            }
        }
        stack.pop();
        mark[i] = 2;
        false
    }
    let mut mark = vec![0u8; services.len()];
    for i in 0..services.len() {
        let mut stack = vec![];
        if mark[i] == 0 && dfs(i, services, &idx, &mut mark, &mut stack) {
            return Some(stack);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debian(p: &str) -> bool {
        matches!(
            p,
            "/usr/sbin/rpcbind" | "/usr/sbin/gmond" | "/usr/sbin/sshd" | "/usr/bin/ssh-keygen"
        )
    }

    #[test]
    fn defaults_follow_the_root() {
        let c = Config::defaults(&debian);
        let names: Vec<&str> = c.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["ssh-keygen", "sshd", "rpcbind", "gmond"]);
        let sshd = &c.services[1];
        assert_eq!(sshd.argv, ["/usr/sbin/sshd", "-D"]);
        assert_eq!(sshd.after, ["ssh-keygen"]);
        assert!(Config::defaults(&|_| false).services.is_empty());
    }

    #[test]
    fn file_overrides_and_adds() {
        let text = r#"
[clock]
server = "10.0.0.1"
budget_ms = 500

[[service]]
name = "gmond"
enabled = false

[[service]]
name = "app"
command = ["/opt/app/bin/app", "--serve"]
after = ["sshd", "/culc"]
restart = "on-failure"
max_fast_failures = 3
env = { LANG = "C" }
"#;
        let c = Config::parse(text, "init.toml", &debian).unwrap();
        let names: Vec<&str> = c.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["ssh-keygen", "sshd", "rpcbind", "app"]);
        assert_eq!(c.clock.server, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(c.clock.budget, Duration::from_millis(500));
        let app = &c.services[3];
        assert_eq!(app.restart, Restart::OnFailure);
        assert_eq!(app.backoff.max_fast_failures, 3);
        assert_eq!(app.env, [("LANG".to_string(), "C".to_string())]);
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = Config::parse(
            "[[service]]\nname = \"x\"\ncomand = [\"/bin/x\"]\n",
            "t.toml",
            &debian,
        )
        .unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].line, e[0].col), (3, 1), "{}", e[0]);
        assert!(
            e[0].to_string()
                .starts_with("t.toml:3:1: unknown field `comand`"),
            "{}",
            e[0]
        );

        let e = Config::parse("this is not toml", "t.toml", &debian).unwrap_err();
        assert_eq!(e[0].line, 1);

        let e = Config::parse(
            "[[service]]\nname = \"a\"\ncommand = [\"rel\"]\n[[service]]\nname = \"b\"\ncommand = []\n",
            "t.toml",
            &debian,
        )
        .unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].message.contains("absolute path"));
        assert_eq!(e[1].line, 4);
        assert!(e[1].message.contains("`command` is missing"));
    }

    #[test]
    fn unknown_dependency_and_cycle() {
        let text = "default_services = false\n\
            [[service]]\nname = \"a\"\ncommand = [\"/a\"]\nafter = [\"b\"]\n\
            [[service]]\nname = \"b\"\ncommand = [\"/b\"]\nafter = [\"a\", \"ghost\"]\n";
        let e = Config::parse(text, "t.toml", &debian).unwrap_err();
        let msgs: Vec<String> = e.iter().map(|e| e.message.clone()).collect();
        assert!(msgs.iter().any(|m| m.contains("`ghost`")), "{msgs:?}");
        assert!(
            msgs.iter().any(|m| m.contains("cycle: a -> b -> a")),
            "{msgs:?}"
        );
    }

    #[test]
    fn clock_is_a_dependency_not_a_name() {
        let ok = "[[service]]\nname = \"a\"\ncommand = [\"/a\"]\nafter = [\"clock\"]\n";
        let c = Config::parse(ok, "t.toml", &debian).unwrap();
        assert_eq!(c.services.last().unwrap().after, ["clock"]);
        let e = Config::parse(
            "[[service]]\nname = \"clock\"\ncommand = [\"/c\"]\n",
            "t.toml",
            &debian,
        )
        .unwrap_err();
        assert!(e[0].message.contains("reserved"), "{e:?}");
    }
}
