//! Port forwards as a form writes them: `2222:22, 8080:80/udp` (TCP unless `/udp`).

use corral_api::spec::PortForward;

/// Parses forwards as written in a form; an empty text is none. What is wrong is said of the
/// part that is wrong.
pub fn parse(s: &str) -> Result<Vec<PortForward>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (ports, protocol) = match p.split_once('/') {
                Some((ports, proto)) => (ports, proto.trim().to_string()),
                None => (p, "tcp".to_string()),
            };
            let (host, guest) =
                ports.split_once(':').ok_or(format!("{p:?}: write host:guest, e.g. 2222:22"))?;
            let port = |v: &str| v.trim().parse::<u16>().map_err(|_| format!("{p:?}: ports are 1–65535"));
            Ok(PortForward { protocol, host_port: port(host)?, guest_port: port(guest)? })
        })
        .collect()
}

/// Forwards written as [`parse`] reads them.
pub fn write(list: &[PortForward]) -> String {
    let parts: Vec<String> = list
        .iter()
        .map(|f| match f.protocol.as_str() {
            "tcp" => format!("{}:{}", f.host_port, f.guest_port),
            proto => format!("{}:{}/{proto}", f.host_port, f.guest_port),
        })
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_read_and_write_back() {
        let list = parse(" 2222:22, 8053:53/udp ,").unwrap();
        assert_eq!(
            list,
            [
                PortForward { protocol: "tcp".into(), host_port: 2222, guest_port: 22 },
                PortForward { protocol: "udp".into(), host_port: 8053, guest_port: 53 },
            ]
        );
        assert_eq!(write(&list), "2222:22, 8053:53/udp");
        assert_eq!(parse(&write(&list)).unwrap(), list);
        assert_eq!(parse("").unwrap(), []);
    }

    #[test]
    fn a_wrong_part_is_named() {
        assert!(parse("2222").unwrap_err().contains("\"2222\": write host:guest"));
        assert!(parse("22:22, 99999:1").unwrap_err().contains("\"99999:1\": ports are 1–65535"));
    }
}
