//! Diagnostics of a host configuration: where, which field, which value, which VMkernel rule.
//!
//! A configuration is checked as a whole and every problem is reported, not just the first. Errors make the
//! configuration unusable; warnings are practices VMware advises against and never block loading.

use std::fmt;

use serde::Serialize;

use super::rules::Rule;

/// Whether a diagnostic blocks the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Advised against; the configuration still loads.
    Warning,
    /// Breaks a rule; the configuration is refused.
    Error,
}

/// A position in the configuration file (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The file name as given (or `<embedded default>`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One finding about a configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where in the file.
    pub location: Location,
    /// The field, as a path (`vmk[vmk1].mtu`).
    pub field: String,
    /// The offending value as written.
    pub value: String,
    /// The rule it breaks.
    pub rule: Rule,
    /// What is wrong and, where useful, what to write instead.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}: {severity}: {} = {}: {} [{}: {}]",
            self.location,
            self.field,
            self.value,
            self.message,
            self.rule.id(),
            self.rule.text()
        )
    }
}

/// The diagnostics of one configuration, errors and warnings in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }

    /// Whether any error is present.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// Sorts by position so the report reads top to bottom.
    pub(crate) fn sort(&mut self) {
        self.0
            .sort_by_key(|d| (d.location.line, d.location.column, d.severity, d.field.clone()));
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Maps byte offsets of a source text to line and column.
#[derive(Debug)]
pub(crate) struct SourceMap<'a> {
    file: &'a str,
    text: &'a str,
}

impl<'a> SourceMap<'a> {
    pub(crate) fn new(file: &'a str, text: &'a str) -> Self {
        Self { file, text }
    }

    /// The location of byte `offset` (clamped to the text).
    pub(crate) fn locate(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(1, |s| s.chars().count() + 1);
        Location {
            file: self.file.to_owned(),
            line,
            column,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_counts_lines_and_columns_from_one() {
        let map = SourceMap::new("h.toml", "a = 1\nbb = 2\n");
        assert_eq!(map.locate(0).to_string(), "h.toml:1:1");
        assert_eq!(map.locate(6).to_string(), "h.toml:2:1");
        assert_eq!(map.locate(11).to_string(), "h.toml:2:6");
        assert_eq!(map.locate(999).line, 3);
    }
}
