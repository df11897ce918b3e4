//! A webhook receiver on loopback for the alert tests: it records every POST body
//! and answers with the statuses it was told, in turn, or never answers.

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

/// A running receiver.
pub struct Hook {
    /// Its URL.
    pub url: String,
    /// Every request body, with the status it was answered (0 for none).
    received: Arc<Mutex<Vec<(u16, Value)>>>,
}

impl Hook {
    /// Starts a receiver answering as `answer` says.
    pub fn start(answer: Answer) -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&received);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(body) = read_request(&mut stream) else {
                    continue;
                };
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
        Hook { url, received }
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

/// Reads one HTTP/1.1 request; its JSON body.
fn read_request(stream: &mut TcpStream) -> Option<Value> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}
