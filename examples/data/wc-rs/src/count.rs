//! Counting, as `wc` does: lines are newlines, words are runs of non-whitespace.
use std::fmt;

#[derive(Default)]
pub struct Counts {
    pub lines: u64,
    pub words: u64,
    pub bytes: u64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.lines += other.lines;
        self.words += other.words;
        self.bytes += other.bytes;
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\t{}\t{}", self.lines, self.words, self.bytes)
    }
}

pub fn count(data: &[u8]) -> Counts {
    let mut counts = Counts { bytes: data.len() as u64, ..Counts::default() };
    let mut in_word = false;
    for &byte in data {
        if byte == b'\n' {
            counts.lines += 1;
        }
        if byte.is_ascii_whitespace() {
            in_word = false;
        } else if !in_word {
            in_word = true;
            counts.words += 1;
        }
    }
    counts
}
