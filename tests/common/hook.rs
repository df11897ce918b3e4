//! A webhook receiver on loopback for the alert tests: it records every POST body
//! and its headers, and answers with the statuses it was told, in turn, or never
//! answers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::DEADLINE;

/// How the receiver answers.
#[derive(Debug, Clone)]
pub enum Answer {
    /// These statuses for the first requests, then 200.
    Statuses(Vec<u16>),
    /// Never: reads the request and holds the connection open.
    Hang,
}

/// A request's headers: names in lower case, in the order sent.
pub type Headers = Vec<(String, String)>;

/// A running receiver.
pub struct Hook {
    /// Its URL.
    pub url: String,
    /// Every request body, with the status it was answered (0 for none).
    received: Arc<Mutex<Vec<(u16, Value)>>>,
    /// Every request's headers.
    headers: Arc<Mutex<Vec<Headers>>>,
}

impl Hook {
    /// Starts a receiver answering as `answer` says.
    pub fn start(answer: Answer) -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let headers = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&received);
        let kept_headers = Arc::clone(&headers);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some((sent, body)) = read_request(&mut stream) else {
                    continue;
                };
                kept_headers.lock().unwrap().push(sent);
                let mut received = kept.lock().unwrap();
                let status = match &answer {
                    Answer::Hang => 0,
                    Answer::Statuses(s) => s.get(received.len()).copied().unwrap_or(200),
                };
                received.push((status, body));
                if status == 0 {
                    held.push(stream);
                    continue;
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Hook {
            url,
            received,
            headers,
        }
    }

    /// The headers of each request received so far.
    pub fn headers(&self) -> Vec<Headers> {
        self.headers.lock().unwrap().clone()
    }

    /// The bodies received so far, with the status each was answered.
    pub fn received(&self) -> Vec<(u16, Value)> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `n` requests have arrived; returns them.
    pub fn wait_for(&self, n: usize) -> Vec<(u16, Value)> {
        let started = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{} of {n} notifications arrived: {got:?}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Reads one HTTP/1.1 request: its headers and its JSON body.
fn read_request(stream: &mut TcpStream) -> Option<(Headers, Value)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut length = 0;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let (name, value) = (name.to_ascii_lowercase(), value.trim().to_string());
            if name == "content-length" {
                length = value.parse().ok()?;
            }
            headers.push((name, value));
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((headers, serde_json::from_slice(&body).ok()?))
}
