//! Words and figures as every command shows them: plurals, durations, sizes, cut text, French
//! money. Pure functions, no I/O; written once so that the build lines, the diff, the log and
//! the HTML report say a thing the same way.

/// `1 row`, `3 rows`.
pub(crate) fn plural(count: u64, word: &str) -> String {
    format!("{count} {word}{}", if count == 1 { "" } else { "s" })
}

/// `12 ms`, `3.40 s`.
pub(crate) fn duration(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// `512 B`, `183.8 KiB`, `1.0 MiB`.
pub(crate) fn bytes(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// The first `max` characters of `text`, with `…` when something was cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// `a`, `b` → "`a`, `b`": names as messages quote them.
pub(crate) fn quoted_list<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{}`", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sums of floats carry noise in their last digits; six decimals are plenty for people.
pub(crate) fn round6(value: f64) -> f64 {
    let rounded = (value * 1e6).round() / 1e6;
    if rounded == 0.0 { 0.0 } else { rounded }
}

/// `70568.6` → `70 568,60`: two decimals, a comma, thousands grouped by spaces.
pub(crate) fn french_money(value: f64) -> String {
    let cents = (value.abs() * 100.0).round() as u128;
    let (units, cents) = (cents / 100, cents % 100);
    let digits = units.to_string();
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(' ');
        }
        grouped.push(digit);
    }
    let sign = if value < 0.0 && (units > 0 || cents > 0) {
        "-"
    } else {
        ""
    };
    format!("{sign}{grouped},{cents:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_money_groups_thousands_and_uses_a_comma() {
        assert_eq!(french_money(70_568.6), "70 568,60");
        assert_eq!(french_money(0.0), "0,00");
        assert_eq!(french_money(1_234_567.891), "1 234 567,89");
        assert_eq!(french_money(-8.0), "-8,00");
        assert_eq!(french_money(999.999), "1 000,00");
    }

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(plural(1, "row"), "1 row");
        assert_eq!(plural(2, "row"), "2 rows");
        assert_eq!(duration(12.4), "12 ms");
        assert_eq!(duration(3400.0), "3.40 s");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(188_211), "183.8 KiB");
        assert_eq!(truncate("Château", 4), "Chât…");
        assert_eq!(truncate("vin", 4), "vin");
        assert_eq!(quoted_list(["a", "b"]), "`a`, `b`");
    }
}
