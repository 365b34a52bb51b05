//! What both benches print the same way: the machine line that heads their
//! tables (and is the `machine` of their JSON files), and the table itself.

use std::fmt::Write as _;

use crate::util::{cpus, kernel_release};

/// `N CPUs (model), Linux release, {setup}`: the machine, then how the
/// bench ran on it.
pub fn machine_line(setup: &str) -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    format!(
        "{} CPUs ({model}), Linux {}, {setup}",
        cpus(),
        kernel_release()
    )
}

/// One line of a table: a cell per column, and lines printed under it
/// (from the second column on).
#[derive(Debug, Default)]
pub struct TableRow {
    pub cells: Vec<String>,
    pub under: Vec<String>,
}

impl TableRow {
    pub fn new(cells: Vec<String>) -> Self {
        TableRow {
            cells,
            under: Vec::new(),
        }
    }
}

/// `title`, the column heads `cols`, a rule, then `rows`, then `footer`
/// as it is. Columns are as wide as their widest cell (in characters), two
/// spaces apart; the first is aligned left, the others right.
pub fn render_table(title: &str, cols: &[String], rows: &[TableRow], footer: &str) -> String {
    let widths: Vec<usize> = (0..cols.len())
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.cells.get(c))
                .chain([&cols[c]])
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (c, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if c == 0 {
                let _ = write!(s, "{cell:<w$}");
            } else {
                let _ = write!(s, "  {cell:>w$}");
            }
        }
        s.trim_end().to_string()
    };
    let indent = " ".repeat(widths.first().map_or(0, |w| w + 2));
    let mut out = format!("{title}\n");
    out.push_str(&line(cols));
    out.push('\n');
    out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len().max(1) - 1)));
    out.push('\n');
    for r in rows {
        out.push_str(&line(&r.cells));
        out.push('\n');
        for u in &r.under {
            let _ = writeln!(out, "{indent}{u}");
        }
    }
    out.push_str(footer);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_their_widest_cell_in_characters() {
        let cols = ["case", "MiB"].map(String::from);
        let mut wide = TableRow::new(vec!["a".into(), "11.8→13.6".into()]);
        wide.under.push("note: x".into());
        let rows = [wide, TableRow::new(vec!["longer case".into(), "1".into()])];
        let t = render_table("T", &cols, &rows, "end\n");
        assert_eq!(
            t,
            "T\n\
             case               MiB\n\
             ----------------------\n\
             a            11.8→13.6\n\
             \x20            note: x\n\
             longer case          1\n\
             end\n"
        );
    }
}
