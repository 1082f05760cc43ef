//! A minimal SVG writer for the report's plots: the handful of elements they draw, with text escaped, so
//! the plots need no plotting library (and no fonts or system libraries to produce).

use std::fmt::Write as _;

/// An SVG document being written; [`finish`](Self::finish) closes it.
#[derive(Debug)]
pub(crate) struct Svg {
    out: String,
}

/// Where a text's `x` is: its start, middle or end.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Anchor {
    Start,
    Middle,
    End,
}

impl Svg {
    /// A `width` × `height` document on a white background.
    pub(crate) fn new(width: f64, height: f64) -> Self {
        let mut out = String::new();
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
             viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
             <rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n"
        );
        Self { out }
    }

    /// A filled rectangle; with a `title`, a tooltip and a `class` to find it by.
    pub(crate) fn rect(&mut self, x: f64, y: f64, width: f64, height: f64, fill: &str, title: Option<(&str, &str)>) {
        let _ = write!(
            self.out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{fill}\"",
            r(x),
            r(y),
            r(width),
            r(height)
        );
        match title {
            Some((class, title)) => {
                let _ = writeln!(self.out, " class=\"{class}\"><title>{}</title></rect>", escape(title));
            }
            None => self.out.push_str("/>\n"),
        }
    }

    /// A straight line.
    pub(crate) fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), stroke: &str, width: f64) {
        let _ = writeln!(
            self.out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{stroke}\" stroke-width=\"{width}\"/>",
            r(x1),
            r(y1),
            r(x2),
            r(y2)
        );
    }

    /// A line through `points`, solid or dashed, with a tooltip.
    pub(crate) fn polyline(&mut self, points: &[(f64, f64)], stroke: &str, dashed: bool, title: &str) {
        let points: Vec<String> = points.iter().map(|&(x, y)| format!("{},{}", r(x), r(y))).collect();
        let dash = if dashed { " stroke-dasharray=\"6 3\"" } else { "" };
        let _ = writeln!(
            self.out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"2\"{dash}><title>{}</title></polyline>",
            points.join(" "),
            escape(title)
        );
    }

    /// Text at (`x`, `y`), the baseline at `y`.
    pub(crate) fn text(&mut self, x: f64, y: f64, anchor: Anchor, text: &str) {
        let anchor = match anchor {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        };
        let _ = writeln!(
            self.out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
            r(x),
            r(y),
            escape(text)
        );
    }

    /// Text turned a quarter anticlockwise about (`x`, `y`), for a vertical axis's title.
    pub(crate) fn vertical_text(&mut self, x: f64, y: f64, text: &str) {
        let (x, y) = (r(x), r(y));
        let _ = writeln!(
            self.out,
            "<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" transform=\"rotate(-90 {x} {y})\">{}</text>",
            escape(text)
        );
    }

    /// The document.
    pub(crate) fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

/// Rounded to a hundredth of a pixel, so that documents stay small and diffable.
fn r(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `text` with XML's special characters escaped.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Checks an SVG document is well-formed: one root, tags balanced and nested, attributes quoted, no raw
/// `<` or bare `&` in text. Enough for what [`Svg`] writes; not a general XML parser.
#[cfg(test)]
pub(crate) fn assert_well_formed(svg: &str) {
    let mut open: Vec<&str> = Vec::new();
    let mut roots = 0;
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        assert_text(&rest[..start]);
        let end = rest[start..].find('>').expect("an unclosed tag") + start;
        let tag = &rest[start + 1..end];
        assert!(!tag.contains('<'), "a '<' inside the tag {tag:?}");
        assert_eq!(tag.matches('"').count() % 2, 0, "an unquoted attribute in {tag:?}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(open.pop(), Some(name), "a misnested </{name}>");
        } else {
            let name = tag.split_whitespace().next().expect("a tag name").trim_end_matches('/');
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric()),
                "a bad tag name {name:?}"
            );
            if open.is_empty() {
                roots += 1;
            }
            if !tag.ends_with('/') {
                open.push(name);
            }
        }
        rest = &rest[end + 1..];
    }
    assert_text(rest);
    assert!(open.is_empty(), "unclosed {open:?}");
    assert_eq!(roots, 1, "one root element");
}

#[cfg(test)]
fn assert_text(text: &str) {
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..text[i..].find(';').map_or(text.len(), |end| i + end + 1)];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;"].contains(&entity),
            "a bare '&' in {text:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_well_formed_document_with_escaped_text() {
        let mut svg = Svg::new(100.0, 50.0);
        svg.rect(1.0, 2.0, 3.333_333, 4.0, "red", Some(("bar", "a < b & \"c\"")));
        svg.rect(0.0, 0.0, 1.0, 1.0, "blue", None);
        svg.line((0.0, 0.0), (10.0, 10.0), "black", 1.0);
        svg.polyline(&[(0.0, 1.0), (2.0, 3.0)], "green", true, "x > y");
        svg.text(5.0, 5.0, Anchor::End, "R&D <lab>");
        svg.vertical_text(5.0, 5.0, "Mpps");
        let doc = svg.finish();
        assert_well_formed(&doc);
        assert!(doc.contains("width=\"3.33\""));
        assert!(doc.contains("<title>a &lt; b &amp; &quot;c&quot;</title>"));
        assert!(doc.contains(">R&amp;D &lt;lab&gt;</text>"));
        assert!(doc.contains(
            "points=\"0,1 2,3\" fill=\"none\" stroke=\"green\" stroke-width=\"2\" stroke-dasharray=\"6 3\">"
        ));
    }

    #[test]
    #[should_panic(expected = "misnested")]
    fn the_check_rejects_misnesting() {
        assert_well_formed("<svg><g></svg></g>");
    }

    #[test]
    #[should_panic(expected = "bare '&'")]
    fn the_check_rejects_a_bare_ampersand() {
        assert_well_formed("<svg><text>R&D</text></svg>");
    }
}
