//! Boot configuration: one schema of `floe.*` keys with type, default and
//! help (STYLE 3.7). The kernel command line, `floe.toml`, `FLOE_*`
//! variables and command-line flags all go through [`Config::set`], so a bad
//! or unknown key is refused the same way everywhere, naming key, value and
//! what was expected. The rest of the binary only sees the typed [`Config`].

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// What kind of value a key takes; `expectation` is the text a refusal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Nvme,
    Role,
    SocketAddr,
    Path,
    Ip,
    Ipv4,
    Format,
    Panic,
    ModuleList,
    Count,
    Text,
    LogLevel,
    Hostname,
    CoreList,
}

impl KeyType {
    pub fn expectation(self) -> &'static str {
        match self {
            KeyType::Role => "one of primary, replica, standby, chunkserver, hwtest, nvmebench",
            KeyType::SocketAddr => "an IPv4 address and port, e.g. 0.0.0.0:3306",
            KeyType::Path => "a path, e.g. /dev/nvme0n1",
            KeyType::Ip => "dhcp, none, or an IPv4 address with prefix, e.g. 10.0.2.15/24",
            KeyType::Ipv4 => "an IPv4 address, e.g. 10.0.2.2, or none",
            KeyType::Format => "auto (format a blank disk) or never",
            KeyType::Panic => "halt or reboot",
            KeyType::ModuleList => "comma-separated kernel module names, e.g. virtio_net,nvme",
            KeyType::Count => "a count of 2 MiB pages, e.g. 4096",
            KeyType::Text => "text without spaces",
            KeyType::Nvme => "kernel, auto, or a PCI address like 0000:00:04.0",
            KeyType::LogLevel => "one of error, warn, info, debug, trace",
            KeyType::Hostname => "a host name: letters, digits and '-', at most 63",
            KeyType::CoreList => "all, or CPU numbers and ranges, e.g. 0-3,6",
        }
    }
}

/// One key of the schema.
#[derive(Debug)]
pub struct Key {
    pub name: &'static str,
    pub key_type: KeyType,
    pub default: &'static str,
    pub help: &'static str,
}

/// Modules the appliance loads by default; the image resolves each one's
/// dependencies and PID 1 loads them in that order.
pub const DEFAULT_MODULES: &str = "virtio_pci,virtio_net,nvme,crc32_generic,crc32c_generic,\
vfio_pci,vfio_iommu_type1,rdma_rxe,button,evdev,e1000,e1000e,igb,ixgbe,i40e,mlx5_core";

/// The schema. Order is the order of the README table.
pub const KEYS: &[Key] = &[
    Key {
        name: "floe.role",
        key_type: KeyType::Role,
        default: "primary",
        help: "what this node does; built so far: primary, hwtest, nvmebench (appliance only: benchmarks the data disk's NVMe function on the kernel's driver, then Floe's, prints the figures and powers off)",
    },
    Key {
        name: "floe.listen",
        key_type: KeyType::SocketAddr,
        default: "0.0.0.0:3306",
        help: "MySQL protocol listener of the primary role",
    },
    Key {
        name: "floe.metrics_listen",
        key_type: KeyType::SocketAddr,
        default: "0.0.0.0:9104",
        help: "HTTP listener for /health and metrics",
    },
    Key {
        name: "floe.data",
        key_type: KeyType::Path,
        default: "/dev/nvme0n1",
        help: "the data disk: a block device in the appliance, a directory in hosted mode",
    },
    Key {
        name: "floe.nvme",
        key_type: KeyType::Nvme,
        default: "kernel",
        help: "the data disk's driver: kernel (floe.data through the kernel's nvme driver), or Floe's user-space driver on the first NVMe function (auto) or the one at a PCI address",
    },
    Key {
        name: "floe.format",
        key_type: KeyType::Format,
        default: "never",
        help: "auto formats the data disk on first boot if, and only if, it is blank",
    },
    Key {
        name: "floe.iface",
        key_type: KeyType::Text,
        default: "eth0",
        help: "network interface to configure (appliance only)",
    },
    Key {
        name: "floe.ip",
        key_type: KeyType::Ip,
        default: "dhcp",
        help: "address of floe.iface: dhcp, none, or static address/prefix",
    },
    Key {
        name: "floe.gw",
        key_type: KeyType::Ipv4,
        default: "none",
        help: "default gateway with a static floe.ip",
    },
    Key {
        name: "floe.hostname",
        key_type: KeyType::Hostname,
        default: "floe",
        help: "host name (appliance only)",
    },
    Key {
        name: "floe.modules",
        key_type: KeyType::ModuleList,
        default: DEFAULT_MODULES,
        help: "kernel modules to load, with their dependencies, in order",
    },
    Key {
        name: "floe.hugepages",
        key_type: KeyType::Count,
        default: "0",
        help: "2 MiB huge pages to reserve at boot",
    },
    Key {
        name: "floe.cores",
        key_type: KeyType::CoreList,
        default: "all",
        help: "CPUs the per-core scheduler runs on, one pinned thread each; SQL connections are fibers on them",
    },
    Key {
        name: "floe.panic",
        key_type: KeyType::Panic,
        default: "halt",
        help: "what PID 1 does after printing a panic: halt or reboot",
    },
    Key {
        name: "floe.log",
        key_type: KeyType::LogLevel,
        default: "info",
        help: "most detailed log level printed",
    },
    Key {
        name: "floe.root_password",
        key_type: KeyType::Text,
        default: "",
        help: "password of the SQL account 'root'@'%', read on the first start only (empty: a random one is generated then and printed once); later starts keep the one in the dictionary (change it with ALTER USER)",
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    Replica,
    Standby,
    Chunkserver,
    Hwtest,
    Nvmebench,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Replica => "replica",
            Role::Standby => "standby",
            Role::Chunkserver => "chunkserver",
            Role::Hwtest => "hwtest",
            Role::Nvmebench => "nvmebench",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpConfig {
    Dhcp,
    None,
    Static { address: Ipv4Addr, prefix_len: u8 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatPolicy {
    Auto,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanicAction {
    Halt,
    Reboot,
}

/// The typed configuration every other part of the binary reads.
/// Which CPUs the scheduler's cores run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreChoice {
    /// Every CPU the process may run on at start.
    All,
    /// These CPU numbers, ascending, without repeats.
    List(Vec<u16>),
}

/// CPU numbers (`0-3,6`), at most 1024 of them; None if malformed.
fn parse_cores(value: &str) -> Option<CoreChoice> {
    if value == "all" {
        return Some(CoreChoice::All);
    }
    let mut cores = std::collections::BTreeSet::new();
    for part in value.split(',') {
        let (first, last) = match part.split_once('-') {
            Some((first, last)) => (first.parse::<u16>().ok()?, last.parse::<u16>().ok()?),
            None => {
                let core = part.parse::<u16>().ok()?;
                (core, core)
            }
        };
        if first > last || last >= 1024 {
            return None;
        }
        cores.extend(first..=last);
    }
    (!cores.is_empty()).then(|| CoreChoice::List(cores.into_iter().collect()))
}

/// Which driver the data disk runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NvmeChoice {
    Kernel,
    Auto,
    Address(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub nvme: NvmeChoice,
    pub role: Role,
    pub listen: SocketAddr,
    pub metrics_listen: SocketAddr,
    pub data: PathBuf,
    pub format: FormatPolicy,
    pub iface: String,
    pub ip: IpConfig,
    pub gw: Option<Ipv4Addr>,
    pub hostname: String,
    pub modules: Vec<String>,
    pub hugepages: u64,
    pub cores: CoreChoice,
    pub panic: PanicAction,
    pub log: log::LevelFilter,
    pub root_password: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{key}: unknown key (from {source_name}); known keys: {known}")]
    UnknownKey {
        key: String,
        source_name: String,
        known: String,
    },
    #[error("{key}={value}: expected {expected} (from {source_name})")]
    BadValue {
        key: String,
        value: String,
        expected: &'static str,
        source_name: String,
    },
    #[error("{key}: no value (from {source_name}); expected {expected}")]
    NoValue {
        key: String,
        expected: &'static str,
        source_name: String,
    },
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("{flag}: {reason}")]
    Flag { flag: String, reason: String },
}

impl Default for Config {
    fn default() -> Self {
        let mut config = Config {
            nvme: NvmeChoice::Kernel,
            role: Role::Primary,
            listen: SocketAddr::from(([0, 0, 0, 0], 3306)),
            metrics_listen: SocketAddr::from(([0, 0, 0, 0], 9104)),
            data: PathBuf::new(),
            format: FormatPolicy::Never,
            iface: String::new(),
            ip: IpConfig::Dhcp,
            gw: None,
            hostname: String::new(),
            modules: Vec::new(),
            hugepages: 0,
            cores: CoreChoice::All,
            panic: PanicAction::Halt,
            log: log::LevelFilter::Info,
            root_password: String::new(),
        };
        for key in KEYS {
            // The schema's defaults must parse; a test checks it, and a
            // failure here is a bug in this file, not an operator's error.
            if let Err(e) = config.set(key.name, key.default, "defaults") {
                panic!("schema default does not parse: {e}");
            }
        }
        config
    }
}

fn known_keys() -> String {
    KEYS.iter()
        .map(|key| key.name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Config {
    /// Sets one key from its text form. `source_name` says where it came
    /// from (kernel command line, a file, a variable, a flag) for the error.
    pub fn set(&mut self, key: &str, value: &str, source_name: &str) -> Result<(), ConfigError> {
        let Some(schema) = KEYS.iter().find(|candidate| candidate.name == key) else {
            return Err(ConfigError::UnknownKey {
                key: key.to_string(),
                source_name: source_name.to_string(),
                known: known_keys(),
            });
        };
        let bad = || ConfigError::BadValue {
            key: key.to_string(),
            value: value.to_string(),
            expected: schema.key_type.expectation(),
            source_name: source_name.to_string(),
        };
        match schema.name {
            "floe.nvme" => {
                self.nvme = match value {
                    "kernel" => NvmeChoice::Kernel,
                    "auto" => NvmeChoice::Auto,
                    address => {
                        floe_nvme::vfio::PciAddress::parse(address).map_err(|_| bad())?;
                        NvmeChoice::Address(address.to_string())
                    }
                }
            }
            "floe.role" => {
                self.role = match value {
                    "primary" => Role::Primary,
                    "replica" => Role::Replica,
                    "standby" => Role::Standby,
                    "chunkserver" => Role::Chunkserver,
                    "hwtest" => Role::Hwtest,
                    "nvmebench" => Role::Nvmebench,
                    _ => return Err(bad()),
                }
            }
            "floe.listen" => self.listen = parse_socket_addr(value).ok_or_else(bad)?,
            "floe.metrics_listen" => {
                self.metrics_listen = parse_socket_addr(value).ok_or_else(bad)?
            }
            "floe.data" => {
                if value.is_empty() || value.contains('\0') {
                    return Err(bad());
                }
                self.data = PathBuf::from(value);
            }
            "floe.format" => {
                self.format = match value {
                    "auto" => FormatPolicy::Auto,
                    "never" => FormatPolicy::Never,
                    _ => return Err(bad()),
                }
            }
            "floe.iface" => {
                if value.is_empty() || value.len() > 15 || !value.bytes().all(is_name_byte) {
                    return Err(bad());
                }
                self.iface = value.to_string();
            }
            "floe.ip" => self.ip = parse_ip_config(value).ok_or_else(bad)?,
            "floe.gw" => {
                self.gw = match value {
                    "none" => None,
                    _ => Some(value.parse::<Ipv4Addr>().map_err(|_| bad())?),
                }
            }
            "floe.hostname" => {
                let valid = !value.is_empty()
                    && value.len() <= 63
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !value.starts_with('-');
                if !valid {
                    return Err(bad());
                }
                self.hostname = value.to_string();
            }
            "floe.modules" => {
                let mut modules = Vec::new();
                for name in value
                    .split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                {
                    if name.len() > 55 || !name.bytes().all(is_name_byte) {
                        return Err(bad());
                    }
                    // The kernel treats '-' and '_' alike in module names.
                    modules.push(name.replace('-', "_"));
                }
                self.modules = modules;
            }
            "floe.hugepages" => {
                let count = value.parse::<u64>().map_err(|_| bad())?;
                // 2 MiB each; more than 16 TiB is a typo, not a machine.
                if count > 8 * 1024 * 1024 {
                    return Err(bad());
                }
                self.hugepages = count;
            }
            "floe.cores" => self.cores = parse_cores(value).ok_or_else(bad)?,
            "floe.panic" => {
                self.panic = match value {
                    "halt" => PanicAction::Halt,
                    "reboot" => PanicAction::Reboot,
                    _ => return Err(bad()),
                }
            }
            "floe.log" => {
                self.log = match value {
                    "error" => log::LevelFilter::Error,
                    "warn" => log::LevelFilter::Warn,
                    "info" => log::LevelFilter::Info,
                    "debug" => log::LevelFilter::Debug,
                    "trace" => log::LevelFilter::Trace,
                    _ => return Err(bad()),
                }
            }
            "floe.root_password" => {
                if value.chars().any(char::is_whitespace) || value.contains('\0') {
                    return Err(bad());
                }
                self.root_password = value.to_string();
            }
            other => unreachable!("key {other} is in KEYS but has no parser"),
        }
        Ok(())
    }

    /// Applies the `floe.*` words of a kernel command line. Words without
    /// the `floe.` prefix belong to the kernel and are skipped.
    pub fn apply_cmdline(&mut self, cmdline: &str) -> Result<(), ConfigError> {
        const SOURCE: &str = "kernel command line";
        for word in cmdline.split_ascii_whitespace() {
            if !word.starts_with("floe.") {
                continue;
            }
            match word.split_once('=') {
                Some((key, value)) => self.set(key, value, SOURCE)?,
                None => {
                    let expected = KEYS
                        .iter()
                        .find(|key| key.name == word)
                        .map(|key| key.key_type.expectation());
                    return Err(match expected {
                        Some(expected) => ConfigError::NoValue {
                            key: word.to_string(),
                            expected,
                            source_name: SOURCE.to_string(),
                        },
                        None => ConfigError::UnknownKey {
                            key: word.to_string(),
                            source_name: SOURCE.to_string(),
                            known: known_keys(),
                        },
                    });
                }
            }
        }
        Ok(())
    }

    /// Applies a `floe.toml` file: `key = value` at top level, keys without
    /// the `floe.` prefix (`metrics_listen = "127.0.0.1:9104"`).
    pub fn apply_toml(&mut self, text: &str, path: &str) -> Result<(), ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::File {
                path: path.to_string(),
                reason: e.to_string(),
            })?;
        for (name, value) in table {
            let key = format!("floe.{name}");
            let text = match value {
                toml::Value::String(text) => text,
                toml::Value::Integer(number) => number.to_string(),
                toml::Value::Array(items) => {
                    let mut names = Vec::new();
                    for item in items {
                        match item {
                            toml::Value::String(text) => names.push(text),
                            other => {
                                return Err(ConfigError::BadValue {
                                    key,
                                    value: format!("{other:?}"),
                                    expected: "a string in the list",
                                    source_name: path.to_string(),
                                })
                            }
                        }
                    }
                    names.join(",")
                }
                toml::Value::Boolean(flag) => flag.to_string(),
                toml::Value::Float(number) => number.to_string(),
                other => format!("{other:?}"),
            };
            self.set(&key, &text, path)?;
        }
        Ok(())
    }

    /// Applies `FLOE_*` variables: `FLOE_METRICS_LISTEN` is `floe.metrics_listen`.
    pub fn apply_env<I: IntoIterator<Item = (String, String)>>(
        &mut self,
        variables: I,
    ) -> Result<(), ConfigError> {
        for (name, value) in variables {
            let Some(suffix) = name.strip_prefix("FLOE_") else {
                continue;
            };
            // FLOE_SEED and friends belong to tests, not to the schema.
            if NON_CONFIG_VARIABLES.contains(&name.as_str()) {
                continue;
            }
            let key = format!("floe.{}", suffix.to_ascii_lowercase());
            self.set(&key, &value, &format!("environment variable {name}"))?;
        }
        Ok(())
    }

    /// Applies `--key value` / `--key=value` flags (`--metrics-listen` is
    /// `floe.metrics_listen`). Returns the `--config` path if one was given.
    pub fn apply_flags(&mut self, flags: &[String]) -> Result<(), ConfigError> {
        let mut index = 0;
        while let Some(flag) = flags.get(index) {
            let Some(body) = flag.strip_prefix("--") else {
                return Err(ConfigError::Flag {
                    flag: flag.clone(),
                    reason: "expected --key value".to_string(),
                });
            };
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, value.to_string()),
                None => {
                    index += 1;
                    let Some(value) = flags.get(index) else {
                        return Err(ConfigError::Flag {
                            flag: flag.clone(),
                            reason: "needs a value".to_string(),
                        });
                    };
                    (body, value.clone())
                }
            };
            index += 1;
            if name == "config" {
                continue; // read before the other flags by `config_path`
            }
            let key = format!("floe.{}", name.replace('-', "_"));
            self.set(&key, &value, &format!("flag --{name}"))?;
        }
        Ok(())
    }
}

/// Variables with the FLOE_ prefix that are not boot keys.
const NON_CONFIG_VARIABLES: &[&str] = &["FLOE_SEED", "FLOE_KVM"];

/// The `--config PATH` flag, if given.
pub fn config_path(flags: &[String]) -> Option<String> {
    let mut iter = flags.iter();
    while let Some(flag) = iter.next() {
        if flag == "--config" {
            return iter.next().cloned();
        }
        if let Some(path) = flag.strip_prefix("--config=") {
            return Some(path.to_string());
        }
    }
    None
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

fn parse_socket_addr(value: &str) -> Option<SocketAddr> {
    value.parse::<SocketAddr>().ok().filter(SocketAddr::is_ipv4)
}

fn parse_ip_config(value: &str) -> Option<IpConfig> {
    match value {
        "dhcp" => Some(IpConfig::Dhcp),
        "none" => Some(IpConfig::None),
        _ => {
            let (address, prefix) = value.split_once('/')?;
            let address = address.parse::<Ipv4Addr>().ok()?;
            let prefix_len = prefix.parse::<u8>().ok().filter(|p| (1..=32).contains(p))?;
            Some(IpConfig::Static {
                address,
                prefix_len,
            })
        }
    }
}

/// The keys table in Markdown, for the README (a test checks they agree).
pub fn keys_markdown() -> String {
    let mut text =
        String::from("| key | default | expects | what it does |\n| --- | --- | --- | --- |\n");
    for key in KEYS {
        let default = if key.default.is_empty() {
            "(empty)".to_string()
        } else {
            format!("`{}`", key.default)
        };
        text.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            key.name,
            default,
            key.key_type.expectation(),
            key.help
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    // Every default in the schema parses, so `Config::default` cannot panic.
    #[test]
    fn defaults_parse() {
        let config = Config::default();
        assert_eq!(config.role, Role::Primary);
        assert_eq!(config.data, PathBuf::from("/dev/nvme0n1"));
        assert_eq!(config.ip, IpConfig::Dhcp);
        assert!(config.modules.contains(&"virtio_net".to_string()));
    }

    // A real kernel command line: kernel words are skipped, floe keys typed.
    #[test]
    fn cmdline_sets_typed_values() {
        let mut config = Config::default();
        config
            .apply_cmdline(
                "BOOT_IMAGE=/vmlinuz console=ttyS0 intel_iommu=on floe.role=primary \
                 floe.ip=10.0.2.15/24 floe.gw=10.0.2.2 floe.hugepages=64 floe.panic=reboot \
                 floe.modules=virtio-net,nvme floe.cores=0-2,5,1",
            )
            .expect("valid command line");
        assert_eq!(config.cores, CoreChoice::List(vec![0, 1, 2, 5]));
        assert_eq!(
            config.ip,
            IpConfig::Static {
                address: Ipv4Addr::new(10, 0, 2, 15),
                prefix_len: 24
            }
        );
        assert_eq!(config.gw, Some(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(config.hugepages, 64);
        assert_eq!(config.panic, PanicAction::Reboot);
        assert_eq!(
            config.modules,
            vec!["virtio_net".to_string(), "nvme".to_string()]
        );
    }

    // Bad values name the key, the value and what was expected.
    #[test]
    fn bad_values_are_refused_with_key_value_and_expectation() {
        let cases = [
            (
                "floe.hugepages=12x",
                "floe.hugepages=12x: expected a count of 2 MiB pages, e.g. 4096",
            ),
            (
                "floe.role=leader",
                "floe.role=leader: expected one of primary",
            ),
            (
                "floe.ip=10.0.2.15",
                "floe.ip=10.0.2.15: expected dhcp, none",
            ),
            ("floe.ip=10.0.2.15/33", "floe.ip=10.0.2.15/33"),
            ("floe.ip=300.0.2.15/24", "floe.ip=300.0.2.15/24"),
            (
                "floe.listen=[::1]:3306",
                "floe.listen=[::1]:3306: expected an IPv4",
            ),
            ("floe.listen=0.0.0.0", "floe.listen=0.0.0.0"),
            ("floe.data=", "floe.data=: expected a path"),
            ("floe.hugepages=-1", "floe.hugepages=-1"),
            (
                "floe.hugepages=99999999999999999999999",
                "floe.hugepages=9999",
            ),
            ("floe.hostname=-bad", "floe.hostname=-bad"),
            (
                "floe.modules=nvme,../../evil",
                "floe.modules=nvme,../../evil",
            ),
            ("floe.format=yes", "floe.format=yes: expected auto"),
            ("floe.gw=", "floe.gw=: expected an IPv4 address"),
            (
                "floe.cores=3-1",
                "floe.cores=3-1: expected all, or CPU numbers",
            ),
            ("floe.cores=", "floe.cores=: expected all"),
            ("floe.cores=0,,1", "floe.cores=0,,1"),
            ("floe.cores=4096", "floe.cores=4096"),
            ("floe.cores=some", "floe.cores=some"),
        ];
        for (word, expected) in cases {
            let mut config = Config::default();
            let error = config.apply_cmdline(word).expect_err(word).to_string();
            assert!(error.starts_with(expected), "{word}: got '{error}'");
            assert!(
                error.contains("kernel command line"),
                "{word}: got '{error}'"
            );
        }
    }

    // Unknown keys and keys without '=' stop boot too.
    #[test]
    fn unknown_and_valueless_keys_are_refused() {
        let mut config = Config::default();
        let error = config.apply_cmdline("floe.rol=primary").expect_err("typo");
        assert!(matches!(error, ConfigError::UnknownKey { ref key, .. } if key == "floe.rol"));
        let error = config
            .apply_cmdline("quiet floe.role")
            .expect_err("no value");
        assert!(matches!(error, ConfigError::NoValue { ref key, .. } if key == "floe.role"));
        let error = config.apply_cmdline("floe.").expect_err("empty key");
        assert!(matches!(error, ConfigError::UnknownKey { .. }));
    }

    // TOML, environment and flags go through the same schema.
    #[test]
    fn hosted_sources_share_the_schema() {
        let mut config = Config::default();
        config
            .apply_toml(
                "role = \"primary\"\nhugepages = 8\nmodules = [\"nvme\"]\n",
                "floe.toml",
            )
            .expect("valid toml");
        assert_eq!(config.hugepages, 8);
        assert_eq!(config.modules, vec!["nvme".to_string()]);
        let error = config
            .apply_toml("hugepages = \"lots\"", "floe.toml")
            .expect_err("bad");
        assert_eq!(
            error.to_string(),
            "floe.hugepages=lots: expected a count of 2 MiB pages, e.g. 4096 (from floe.toml)"
        );
        assert!(config.apply_toml("role = ", "floe.toml").is_err());
        assert!(config.apply_toml("colour = \"blue\"", "floe.toml").is_err());

        config
            .apply_env([
                (
                    "FLOE_METRICS_LISTEN".to_string(),
                    "127.0.0.1:9999".to_string(),
                ),
                ("FLOE_SEED".to_string(), "7".to_string()),
                ("PATH".to_string(), "/bin".to_string()),
            ])
            .expect("valid env");
        assert_eq!(
            config.metrics_listen,
            SocketAddr::from(([127, 0, 0, 1], 9999))
        );
        let error = config
            .apply_env([("FLOE_HUGEPAGE".to_string(), "1".to_string())])
            .expect_err("unknown variable");
        assert!(error
            .to_string()
            .starts_with("floe.hugepage: unknown key (from environment variable FLOE_HUGEPAGE)"));

        let flags: Vec<String> = [
            "--data",
            "/tmp/d",
            "--metrics-listen=127.0.0.1:1",
            "--config",
            "x.toml",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        config.apply_flags(&flags).expect("valid flags");
        assert_eq!(config.data, PathBuf::from("/tmp/d"));
        assert_eq!(config_path(&flags), Some("x.toml".to_string()));
        assert!(config.apply_flags(&["--data".to_string()]).is_err());
        assert!(config.apply_flags(&["data".to_string()]).is_err());
        assert!(config
            .apply_flags(&["--colour".to_string(), "x".to_string()])
            .is_err());
    }

    // The README's keys table is generated from the schema; keep them equal.
    #[test]
    fn readme_table_matches_schema() {
        let readme_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let readme = std::fs::read_to_string(readme_path).expect("README.md at the workspace root");
        assert!(
            readme.contains(&keys_markdown()),
            "README.md's boot-config table differs from the schema; regenerate it with `floe config-keys`"
        );
    }
}
