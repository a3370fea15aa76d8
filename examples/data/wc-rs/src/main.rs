//! Counts lines, words and bytes of every file in a folder (default /data), as `wc`
//! does: one line per file in /outputs/counts.tsv, and the totals on stdout.
mod count;

use std::env;
use std::fs;
use std::io::Write;

fn main() {
    let folder = env::args().nth(1).unwrap_or_else(|| "/data".to_string());
    let mut table = fs::File::create("/outputs/counts.tsv").expect("cannot create /outputs/counts.tsv");
    writeln!(table, "file\tlines\twords\tbytes").unwrap();
    let mut total = count::Counts::default();
    // jobc's runner lists a folder sorted by name, so the table's order is stable.
    for entry in fs::read_dir(&folder).expect("cannot list the folder") {
        let entry = entry.expect("cannot read the folder");
        if !entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            continue;
        }
        let counts = count::count(&fs::read(entry.path()).expect("cannot read a file"));
        let name = entry.file_name();
        writeln!(table, "{}\t{}", name.to_string_lossy(), counts).unwrap();
        total.add(&counts);
    }
    println!("{} (total)", total);
}
