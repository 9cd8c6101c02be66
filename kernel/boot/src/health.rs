//! The health endpoint: `GET /health` answers JSON with the role, uptime,
//! kernel, disk identity and boot timings. Plain std::net: one thread, one
//! request per connection, bounded request size and read time, so a slow or
//! hostile client costs at most a few seconds of this thread.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const REQUEST_BYTES_MAX: usize = 8192;
const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(2);

/// What the endpoint reports. Written at boot, read per request.
#[derive(Debug)]
pub struct Status {
    pub role: &'static str,
    pub mode: &'static str,
    pub started: Instant,
    pub kernel: String,
    pub hostname: String,
    stages: Mutex<Vec<(String, f64)>>,
    disk: Mutex<Option<String>>,
    disk_boot_count: AtomicU64,
    storage: Mutex<Option<String>>,
    storage_boots_recorded: AtomicU64,
    hwtest: Mutex<Option<String>>,
    hugepages_2m_reserved: AtomicU64,
    state: Mutex<&'static str>,
}

impl Status {
    pub fn new(role: &'static str, mode: &'static str) -> Self {
        let uts = nix::sys::utsname::uname().ok();
        Status {
            role,
            mode,
            started: Instant::now(),
            kernel: uts
                .as_ref()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default(),
            hostname: uts
                .as_ref()
                .map(|u| u.nodename().to_string_lossy().into_owned())
                .unwrap_or_default(),
            stages: Mutex::new(Vec::new()),
            disk: Mutex::new(None),
            disk_boot_count: AtomicU64::new(0),
            storage: Mutex::new(None),
            storage_boots_recorded: AtomicU64::new(0),
            hwtest: Mutex::new(None),
            hugepages_2m_reserved: AtomicU64::new(0),
            state: Mutex::new("starting"),
        }
    }

    /// Records a boot stage as done now, in seconds since the kernel booted.
    pub fn stage(&self, name: &str) {
        let at_s = crate::logger::boottime_s();
        if let Ok(mut stages) = self.stages.lock() {
            stages.push((name.to_string(), at_s));
        }
    }

    /// The disk as a JSON object (already encoded).
    pub fn set_disk_json(&self, json: String) {
        if let Ok(mut disk) = self.disk.lock() {
            *disk = Some(json);
        }
    }

    /// The hwtest role's report (`/health`'s "hwtest" object).
    pub fn set_hwtest(&self, json: String) {
        if let Ok(mut hwtest) = self.hwtest.lock() {
            *hwtest = Some(json);
        }
    }

    /// The storage engine's `/health` object and the boots its log holds.
    pub fn set_storage(&self, json: String, boots_recorded: u64) {
        if let Ok(mut storage) = self.storage.lock() {
            *storage = Some(json);
        }
        self.storage_boots_recorded
            .store(boots_recorded, Ordering::Relaxed);
    }

    pub fn set_disk_boot_count(&self, boot_count: u64) {
        self.disk_boot_count.store(boot_count, Ordering::Relaxed);
    }

    pub fn set_hugepages_2m_reserved(&self, count: u64) {
        self.hugepages_2m_reserved.store(count, Ordering::Relaxed);
    }

    /// Prometheus text format (version 0.0.4).
    pub fn to_metrics(&self) -> String {
        let state = self.state.lock().map(|state| *state).unwrap_or("unknown");
        let mut text = format!(
            "# HELP floe_up 1 when the role is serving.\n# TYPE floe_up gauge\nfloe_up{{role={}}} {}\n\
             # HELP floe_uptime_seconds Seconds since floe started.\n# TYPE floe_uptime_seconds gauge\nfloe_uptime_seconds {:.3}\n\
             # HELP floe_disk_boot_count Boots recorded in the data disk's header.\n# TYPE floe_disk_boot_count gauge\nfloe_disk_boot_count {}\n\
             # HELP floe_storage_boots_recorded Boots committed to the storage engine's boot log.\n# TYPE floe_storage_boots_recorded gauge\nfloe_storage_boots_recorded {}\n\
             # HELP floe_hugepages_2m_reserved 2 MiB huge pages reserved at boot.\n# TYPE floe_hugepages_2m_reserved gauge\nfloe_hugepages_2m_reserved {}\n\
             # HELP floe_boot_stage_seconds Seconds since the kernel booted when each boot stage finished.\n# TYPE floe_boot_stage_seconds gauge\n",
            json_string(self.role),
            u8::from(state == "ready"),
            self.started.elapsed().as_secs_f64(),
            self.disk_boot_count.load(Ordering::Relaxed),
            self.storage_boots_recorded.load(Ordering::Relaxed),
            self.hugepages_2m_reserved.load(Ordering::Relaxed),
        );
        if let Ok(stages) = self.stages.lock() {
            for (name, at_s) in stages.iter() {
                text.push_str(&format!(
                    "floe_boot_stage_seconds{{stage={}}} {at_s:.3}\n",
                    json_string(name)
                ));
            }
        }
        text
    }

    pub fn set_state(&self, state: &'static str) {
        if let Ok(mut current) = self.state.lock() {
            *current = state;
        }
    }

    pub fn to_json(&self) -> String {
        let stages = self
            .stages
            .lock()
            .map(|stages| {
                stages
                    .iter()
                    .map(|(name, at_s)| {
                        format!(
                            "{{\"name\":{},\"at_boottime_s\":{at_s:.3}}}",
                            json_string(name)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let disk = self
            .disk
            .lock()
            .ok()
            .and_then(|disk| disk.clone())
            .unwrap_or_else(|| "null".to_string());
        let storage = self
            .storage
            .lock()
            .ok()
            .and_then(|storage| storage.clone())
            .unwrap_or_else(|| "null".to_string());
        let hwtest = self
            .hwtest
            .lock()
            .ok()
            .and_then(|hwtest| hwtest.clone())
            .unwrap_or_else(|| "null".to_string());
        let state = self.state.lock().map(|state| *state).unwrap_or("unknown");
        format!(
            "{{\"role\":{},\"mode\":{},\"state\":{},\"uptime_s\":{:.3},\"kernel\":{},\"hostname\":{},\"version\":{},\"hugepages_2m_reserved\":{},\"disk\":{disk},\"storage\":{storage},\"hwtest\":{hwtest},\"boot\":[{stages}]}}",
            json_string(self.role),
            json_string(self.mode),
            json_string(state),
            self.started.elapsed().as_secs_f64(),
            json_string(&self.kernel),
            json_string(&self.hostname),
            json_string(env!("CARGO_PKG_VERSION")),
            self.hugepages_2m_reserved.load(Ordering::Relaxed),
        )
    }
}

/// A JSON string literal: quotes, backslashes and control bytes escaped.
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("health endpoint: binding {address}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Binds now (so a bad address fails boot) and serves on a thread.
pub fn spawn(address: SocketAddr, status: Arc<Status>) -> Result<SocketAddr, HealthError> {
    let listener =
        TcpListener::bind(address).map_err(|source| HealthError::Bind { address, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| HealthError::Bind { address, source })?;
    std::thread::Builder::new()
        .name("health".to_string())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(stream) => {
                        if let Err(e) = answer(stream, &status) {
                            log::debug!("health: request failed: {e}");
                        }
                    }
                    Err(e) => log::warn!("health: accept failed: {e}"),
                }
            }
        })
        .map_err(|source| HealthError::Bind { address, source })?;
    Ok(bound)
}

fn answer(mut stream: TcpStream, status: &Status) -> std::io::Result<()> {
    stream.set_read_timeout(Some(REQUEST_READ_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_READ_TIMEOUT))?;
    let mut request = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && !request.windows(2).any(|w| w == b"\n\n")
    {
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            break;
        }
        request.extend_from_slice(chunk.get(..read).unwrap_or_default());
        if request.len() > REQUEST_BYTES_MAX {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "request too large\n",
            );
        }
    }
    let line = request.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        (Some("GET"), Some("/health")) => respond(
            &mut stream,
            "200 OK",
            "application/json",
            &(status.to_json() + "\n"),
        ),
        (Some("GET"), Some("/metrics")) => respond(
            &mut stream,
            "200 OK",
            "text/plain; version=0.0.4",
            &status.to_metrics(),
        ),
        (Some("GET"), Some(_)) => respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            "try /health or /metrics\n",
        ),
        _ => respond(
            &mut stream,
            "400 Bad Request",
            "text/plain",
            "expected GET /health\n",
        ),
    }
}

fn respond(
    stream: &mut TcpStream,
    status_line: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.0 {status_line}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes())?;
    // Closing with unread input makes the kernel send RST, which can
    // destroy the response before the client reads it: half-close, then
    // drain a bounded amount until the client closes.
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => continue,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The endpoint answers a real HTTP request over TCP with the status JSON,
    // and refuses other paths and methods.
    #[test]
    fn serves_health_json_over_tcp() {
        let status = Arc::new(Status::new("primary", "hosted"));
        status.stage("test \"stage\"");
        let address =
            spawn(SocketAddr::from(([127, 0, 0, 1], 0)), Arc::clone(&status)).expect("bind");
        let get = |request: &str| {
            let mut stream = TcpStream::connect(address).expect("connect");
            stream.write_all(request.as_bytes()).expect("send");
            let mut response = String::new();
            stream.read_to_string(&mut response).expect("read");
            response
        };
        let response = get("GET /health HTTP/1.0\r\n\r\n");
        assert!(response.starts_with("HTTP/1.0 200 OK"), "{response}");
        assert!(response.contains("\"role\":\"primary\""), "{response}");
        assert!(
            response.contains("\"name\":\"test \\\"stage\\\"\""),
            "{response}"
        );
        assert!(get("GET /nope HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 404"));
        status.set_disk_boot_count(3);
        let metrics = get("GET /metrics HTTP/1.0\r\n\r\n");
        assert!(metrics.contains("\nfloe_disk_boot_count 3\n"), "{metrics}");
        assert!(
            metrics.contains("\nfloe_up{role=\"primary\"} 0\n"),
            "{metrics}"
        );
        assert!(get("POST /health HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 400"));
        let huge = format!("GET /health HTTP/1.0\r\nX: {}", "a".repeat(20_000));
        assert!(get(&huge).starts_with("HTTP/1.0 431"));
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
