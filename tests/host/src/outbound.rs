//! `allowed_outbound_hosts`: parsing and matching with Spin's rules.
//!
//! An entry is `<scheme>://<host>[:<port>]`. The scheme is required; `*` may
//! stand for the scheme, the host, a leading subdomain (`*.example.com`) or the
//! port; a missing port means the scheme's well-known port; a host may also be
//! a CIDR range, and `self` allows requests to the app itself. Templates such
//! as `postgres://{{ db_host }}` are filled from the variables at load time.

use anyhow::{bail, ensure, Context as _};

use crate::variables::Variables;

/// The `.spin.internal` suffix that addresses another component of the app.
pub const SERVICE_CHAINING_DOMAIN: &str = "spin.internal";

#[derive(Debug, Clone, PartialEq, Eq)]
enum SchemeConfig {
    Any,
    One(String),
}

impl SchemeConfig {
    fn parse(scheme: &str) -> anyhow::Result<Self> {
        if scheme == "*" {
            return Ok(Self::Any);
        }
        if scheme.starts_with('{') {
            bail!("scheme lists are not yet supported")
        }
        if scheme.chars().any(|c| !c.is_alphabetic()) {
            bail!(" scheme {scheme:?} contains non alphabetic character");
        }
        Ok(Self::One(scheme.into()))
    }

    fn allows(&self, scheme: &str) -> bool {
        match self {
            Self::Any => true,
            Self::One(s) => s == scheme,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostConfig {
    Any,
    AnySubdomain(String),
    ToSelf,
    One(String),
    Cidr(ipnet::IpNet),
}

impl HostConfig {
    fn parse(host: &str) -> anyhow::Result<Self> {
        let host = host.trim();
        if host == "*" {
            return Ok(Self::Any);
        }
        if host == "self" || host == "self.alt" {
            return Ok(Self::ToSelf);
        }
        if host.starts_with('{') {
            ensure!(host.ends_with('}'));
            bail!("host lists are not yet supported")
        }
        if let Ok(net) = host.parse::<ipnet::IpNet>() {
            return Ok(Self::Cidr(net.trunc()));
        }
        if matches!(host.split('/').nth(1), Some(path) if !path.is_empty()) {
            bail!("hosts must not contain paths");
        }
        if let Some(domain) = host.strip_prefix("*.") {
            if domain.contains('*') {
                bail!("Invalid allowed host {host}: wildcards are allowed only as prefixes");
            }
            return Ok(Self::AnySubdomain(format!(".{domain}")));
        }
        if host.contains('*') {
            bail!("Invalid allowed host {host}: wildcards are allowed only as subdomains");
        }
        Ok(Self::One(host.trim_end_matches('/').into()))
    }

    fn allows(&self, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::AnySubdomain(suffix) => host.ends_with(suffix.as_str()),
            Self::One(h) => h == host,
            Self::ToSelf => false,
            Self::Cidr(net) => host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| net.contains(&ip)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortConfig {
    Any,
    One(u16),
    Range(std::ops::Range<u16>),
}

impl PortConfig {
    fn parse(port: &str, scheme: &str) -> anyhow::Result<Self> {
        if port.is_empty() {
            return well_known_port(scheme).map(Self::One).with_context(|| {
                format!("no port was provided and the scheme {scheme:?} does not have a known default port number")
            });
        }
        if port == "*" {
            return Ok(Self::Any);
        }
        if port.starts_with('{') {
            bail!("port lists are not yet supported")
        }
        if let Some((start, end)) = port.split_once("..") {
            let start = start
                .parse()
                .with_context(|| format!("port range {port:?} contains non-number"))?;
            let end = end
                .parse()
                .with_context(|| format!("port range {port:?} contains non-number"))?;
            return Ok(Self::Range(start..end));
        }
        Ok(Self::One(port.parse().with_context(|| {
            format!("port {port:?} is not a number")
        })?))
    }

    fn allows(&self, port: Option<u16>, scheme: &str) -> bool {
        let Some(port) = port.or_else(|| well_known_port(scheme)) else {
            return matches!(self, Self::Any);
        };
        match self {
            Self::Any => true,
            Self::One(p) => *p == port,
            Self::Range(r) => r.contains(&port),
        }
    }
}

fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// One `allowed_outbound_hosts` entry.
#[derive(Debug, Clone)]
pub struct AllowedHost {
    original: String,
    scheme: SchemeConfig,
    host: HostConfig,
    port: PortConfig,
}

impl AllowedHost {
    pub fn parse(entry: &str) -> anyhow::Result<Self> {
        let url = entry.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            match url {
                "*" | ":" | "" | "?" => bail!(
                    "{url:?} is not an allowed outbound host format.\nHosts must be in the form <scheme>://<host>[:<port>], with '*' wildcards allowed for each."
                ),
                _ => bail!("{url:?} does not contain a scheme (e.g., 'http://' or '*://')"),
            }
        };
        let (host, rest) = rest.rsplit_once(':').unwrap_or((rest, ""));
        let port = match rest.split_once('/') {
            Some((port, path)) => {
                if !path.is_empty() {
                    bail!("{url:?} has a path but is not allowed to");
                }
                port
            }
            None => rest,
        };
        Ok(Self {
            original: entry.to_string(),
            scheme: SchemeConfig::parse(scheme)?,
            host: HostConfig::parse(host)?,
            port: PortConfig::parse(port, scheme)?,
        })
    }

    fn allows(&self, url: &OutboundUrl) -> bool {
        self.scheme.allows(&url.scheme)
            && self.host.allows(&url.host)
            && self.port.allows(url.port, &url.scheme)
    }

    fn allows_relative(&self, schemes: &[&str]) -> bool {
        schemes.iter().any(|s| self.scheme.allows(s))
            && matches!(self.host, HostConfig::Any | HostConfig::ToSelf)
    }
}

impl std::fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.original)
    }
}

/// A URL a component wants to reach.
#[derive(Debug, Clone)]
pub struct OutboundUrl {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl OutboundUrl {
    /// Parses `url`; when it has no scheme (`host:port`), `default_scheme` is assumed.
    pub fn parse(url: &str, default_scheme: &str) -> anyhow::Result<Self> {
        let url = encode_userinfo(url);
        let parsed = match url::Url::parse(&url) {
            Ok(u) if u.has_host() => u,
            first_try => match url::Url::parse(&format!("{default_scheme}://{url}")) {
                Ok(u) => u,
                Err(second) => {
                    return Err(match first_try {
                        Err(first) => first.into(),
                        Ok(_) => {
                            anyhow::Error::from(second).context("could not convert into a url")
                        }
                    })
                }
            },
        };
        Ok(Self {
            scheme: parsed.scheme().to_owned(),
            host: parsed
                .host_str()
                .with_context(|| format!("{url:?} does not have a host component"))?
                .to_owned(),
            port: parsed.port(),
        })
    }

    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// `host[:port]`, as an `allowed_outbound_hosts` entry would name it.
    pub fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }
}

/// Percent-encodes the userinfo of a URL so that passwords with `#`, `/` or `:`
/// do not confuse the URL parser (as Spin does for database URLs).
fn encode_userinfo(url: &str) -> String {
    let Some(at) = url.find('@') else {
        return url.to_string();
    };
    let scheme_end = url.find("://").map(|e| e + 3).unwrap_or(0);
    let path_start = url[scheme_end..]
        .find('/')
        .map(|e| e + scheme_end)
        .unwrap_or(usize::MAX);
    if at < scheme_end || at >= path_start {
        return url.to_string();
    }
    let userinfo = &url[scheme_end..at];
    format!(
        "{}{}{}",
        &url[..scheme_end],
        urlencoding::encode(userinfo),
        &url[at..]
    )
}

/// A component's resolved `allowed_outbound_hosts`.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    component_id: String,
    hosts: Vec<AllowedHost>,
}

impl AllowedHosts {
    /// Fills templates from the variables and parses every entry.
    pub fn resolve(
        component_id: &str,
        entries: &[String],
        variables: &Variables,
    ) -> anyhow::Result<Self> {
        if entries.len() == 1 && entries[0] == "insecure:allow-all" {
            bail!("'insecure:allow-all' is not allowed - use '*://*:*' instead if you really want to allow all outbound traffic'")
        }
        let hosts = entries
            .iter()
            .map(|entry| {
                let template = variables.checked_template(entry)?;
                let rendered = variables.render(&template)?;
                AllowedHost::parse(&rendered)
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .with_context(|| format!("component {component_id:?}: allowed_outbound_hosts"))?;
        Ok(Self {
            component_id: component_id.to_string(),
            hosts,
        })
    }

    pub fn allows(&self, url: &OutboundUrl) -> bool {
        self.hosts.iter().any(|h| h.allows(url))
    }

    pub fn allows_relative(&self, schemes: &[&str]) -> bool {
        self.hosts.iter().any(|h| h.allows_relative(schemes))
    }

    /// Whether `url` may be reached; reports a denial on stderr as Spin does.
    pub fn check_url(&self, url: &str, default_scheme: &str) -> anyhow::Result<bool> {
        let url = OutboundUrl::parse(url, default_scheme)?;
        let allowed = self.allows(&url);
        if !allowed {
            self.report_disallowed(&url.scheme, &url.authority());
        }
        Ok(allowed)
    }

    /// Whether a request without a host (to the app itself) may be made.
    pub fn check_relative(&self, schemes: &[&str]) -> bool {
        let allowed = self.allows_relative(schemes);
        if !allowed {
            self.report_disallowed(schemes.first().copied().unwrap_or("http"), "self");
        }
        allowed
    }

    fn report_disallowed(&self, scheme: &str, authority: &str) {
        eprintln!(
            "[{}] A component tried to make an outbound network connection to disallowed destination '{scheme}://{authority}'.\n[{}] To allow this request, add 'allowed_outbound_hosts = [\"{scheme}://{authority}\"]' to the manifest component section.",
            self.component_id, self.component_id
        );
    }
}

/// The component a `http://<id>.spin.internal` URL addresses, if any.
pub fn service_chaining_target(host: &str) -> Option<&str> {
    let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    let (first, rest) = host.split_once('.')?;
    (rest == SERVICE_CHAINING_DOMAIN).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        AllowedHosts {
            component_id: "test".into(),
            hosts: entries
                .iter()
                .map(|e| AllowedHost::parse(e).unwrap())
                .collect(),
        }
    }

    fn allowed(h: &AllowedHosts, url: &str, scheme: &str) -> bool {
        h.allows(&OutboundUrl::parse(url, scheme).unwrap())
    }

    #[test]
    fn scheme_is_required() {
        assert!(AllowedHost::parse("example.com").is_err());
        assert!(AllowedHost::parse("example.com:80").is_err());
        assert!(AllowedHost::parse("*").is_err());
        assert!(AllowedHost::parse("http://example.com/a").is_err());
        assert!(AllowedHost::parse("http://example.com/").is_ok());
    }

    #[test]
    fn ports_default_by_scheme() {
        let h = hosts(&["postgres://127.0.0.1", "redis://cache:6380"]);
        assert!(allowed(&h, "127.0.0.1:5432", "postgres"));
        assert!(!allowed(&h, "127.0.0.1:5433", "postgres"));
        assert!(allowed(&h, "redis://cache:6380/0", "redis"));
        assert!(!allowed(&h, "redis://cache", "redis"));
        assert!(AllowedHost::parse("tcp://example.com").is_err());
    }

    #[test]
    fn wildcards_and_specific_hosts() {
        let h = hosts(&["*://spin.fermyon.dev:443", "http://example.com:8383"]);
        assert!(allowed(&h, "http://example.com:8383/foo/bar", "http"));
        assert!(allowed(&h, "https://spin.fermyon.dev", "https"));
        assert!(!allowed(&h, "http://example.com/", "http"));
        assert!(!allowed(&h, "http://google.com/", "http"));

        let h = hosts(&["http://*.example.com", "http://*.example2.com:8383"]);
        assert!(allowed(&h, "http://a.b.example.com/foo", "http"));
        assert!(allowed(&h, "http://a.example2.com:8383/x", "http"));
        assert!(!allowed(&h, "http://a.example2.com/x", "http"));
        assert!(!allowed(&h, "http://example.com/", "http"));
        assert!(!allowed(&h, "http://myexample.com/", "http"));

        let h = hosts(&["*://*:*"]);
        assert!(allowed(&h, "redis://anything:1", "redis"));
    }

    #[test]
    fn service_chaining_and_self() {
        let h = hosts(&["http://*.spin.internal"]);
        assert!(allowed(&h, "http://customers-get.spin.internal/x", "https"));
        assert!(!allowed(
            &h,
            "https://customers-get.spin.internal/x",
            "https"
        ));
        assert!(!h.allows_relative(&["http", "https"]));
        assert!(hosts(&["http://self"]).allows_relative(&["http", "https"]));
        assert_eq!(
            service_chaining_target("customers-get.spin.internal"),
            Some("customers-get")
        );
        assert_eq!(service_chaining_target("a.b.spin.internal"), None);
        assert_eq!(service_chaining_target("example.com"), None);
    }

    #[test]
    fn cidr_and_passwords() {
        let h = hosts(&["*://127.0.0.1/24:63551"]);
        assert!(allowed(&h, "tcp://127.0.0.9:63551", "tcp"));
        let h = hosts(&["postgres://db.internal"]);
        assert!(allowed(
            &h,
            "postgres://user:pa#ss@db.internal/app",
            "postgres"
        ));
    }
}
