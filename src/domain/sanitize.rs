//! Text and links that come from outside (Microsoft Graph exports, catalog files, SERVICE_ADMIN
//! mutations, users) made safe to store and show: HTML reduced to plain text, only `https:`
//! links kept, so no stored value can become markup or a `javascript:` link in a client
//! (SPEC §9); user text refused when it holds control characters or nothing visible; and CSV
//! cells that a spreadsheet would run as formulas neutralised.

/// Plain text of an HTML fragment: tags removed, entities decoded, block elements and `<br>` as
/// line breaks, runs of blank lines and trailing spaces removed. Text without markup (no tag and
/// no character reference) comes back trimmed but otherwise unchanged, line breaks included, so
/// plain text such as catalog steps ("1. Go to Roles & admins > …") is not run together.
pub fn plain_text(html: &str) -> String {
    if !has_markup(html) {
        return html.trim().to_string();
    }
    let rendered = html2text::config::with_decorator(html2text::render::TrivialDecorator::new())
        .raw_mode(true)
        .no_link_wrapping()
        .link_footnotes(false)
        .string_from_read(html.as_bytes(), usize::MAX)
        // Rendering plain text from a byte slice cannot fail on I/O; a fragment html2text can't
        // read at all keeps nothing of its markup.
        .unwrap_or_else(|_| html.replace(['<', '>'], " "));
    let mut out = String::with_capacity(rendered.len());
    let mut blank = false;
    for line in rendered.lines().map(str::trim_end) {
        if line.trim().is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank {
                out.push('\n');
            }
        }
        blank = false;
        out.push_str(line);
    }
    out.trim().to_string()
}

/// Whether the text holds a tag (`<p`, `</`, `<!--`, `<?`) or a character reference (`&amp;`,
/// `&#39;`, `&#x27;`): what HTML would interpret. A lone `<` or `&` is just a character.
fn has_markup(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().any(|(i, b)| match b {
        b'<' => bytes
            .get(i + 1)
            .is_some_and(|n| n.is_ascii_alphabetic() || matches!(n, b'/' | b'!' | b'?')),
        b'&' => {
            let rest = &bytes[i + 1..];
            let name = rest
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'#')
                .count();
            name > 0 && rest.get(name) == Some(&b';')
        }
        _ => false,
    })
}

/// The URL when `raw` is an absolute `https:` URL with a host (in its normalised form); `None`
/// for anything else (`javascript:`, `data:`, `http:`, relative or malformed links).
pub fn https_url(raw: &str) -> Option<String> {
    let parsed = url::Url::parse(raw.trim()).ok()?;
    (parsed.scheme() == "https" && parsed.host_str().is_some_and(|h| !h.is_empty()))
        .then(|| parsed.to_string())
}

/// `raw` itself when it is a link [`https_url`] accepts, for rendering stored links: whatever a
/// row holds (rows from before links were checked included), only `https:` links reach a page, an
/// export or the API.
pub fn safe_url(raw: &str) -> Option<&str> {
    https_url(raw).is_some().then_some(raw)
}

/// The links of `urls` that [`safe_url`] accepts.
pub fn safe_urls(urls: &[String]) -> Vec<&str> {
    urls.iter().filter_map(|u| safe_url(u)).collect()
}

/// Why a text a user typed is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextProblem {
    /// NUL or another control character (newline and tab are allowed where lines are).
    #[error("must not contain control characters (found U+{0:04X})")]
    ControlCharacter(u32),
    /// A line break in a one-line text.
    #[error("must be on one line")]
    LineBreak,
    /// Empty, or only whitespace and invisible (zero-width) characters.
    #[error("must contain visible characters")]
    Invisible,
}

/// Characters that take no space: zero-width space, joiners, word joiner, BOM, soft hyphen and
/// the invisible operators. A text of only these (and whitespace) looks empty.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
                | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        )
}

/// Checks a text a user typed (a note, a comment, a name): no control character other than
/// newline and tab (and those only when `multiline`), and something visible in it. NUL can't be
/// stored in PostgreSQL text and the other control characters only hide what a text says.
pub fn check_user_text(text: &str, multiline: bool) -> Result<(), TextProblem> {
    for c in text.chars() {
        let line_break = matches!(c, '\n' | '\r');
        if line_break && !multiline {
            return Err(TextProblem::LineBreak);
        }
        // `\r` is allowed with `\n` (CRLF from a browser form); other C0/C1 controls are not.
        if c.is_control() && !line_break && !(multiline && c == '\t') {
            return Err(TextProblem::ControlCharacter(u32::from(c)));
        }
    }
    if text.chars().all(is_invisible) {
        return Err(TextProblem::Invisible);
    }
    Ok(())
}

/// A CSV cell that a spreadsheet would run as a formula made inert (OWASP's rule for CSV
/// injection): a cell starting with `=`, `+`, `-`, `@`, tab or carriage return gets a leading
/// `'`, which spreadsheets show as text. Only for text cells: numbers this service writes itself
/// (e.g. `-1.5`) are not text a user typed.
pub fn csv_text_cell(text: &str) -> std::borrow::Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}").into(),
        _ => text.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_plain_text() {
        let cases = [
            ("Require MFA", "Require MFA", "plain text is kept"),
            ("  padded  ", "padded", "trimmed"),
            ("<p>Turn on <b>MFA</b></p>", "Turn on MFA", "tags removed"),
            ("A &amp; B &lt;3", "A & B <3", "entities decoded"),
            ("one<br>two", "one\ntwo", "line breaks kept"),
            ("<script>alert(1)</script>Safe", "Safe", "script content dropped"),
            (
                "1. Go to Roles & admins > Users.\n2. Select a < b",
                "1. Go to Roles & admins > Users.\n2. Select a < b",
                "plain text with a lone & and < keeps its lines",
            ),
            (
                r#"<a href="javascript:alert(1)">click</a> here"#,
                "click here",
                "links keep their text only",
            ),
        ];
        for (html, expected, why) in cases {
            assert_eq!(plain_text(html), expected, "{why}");
        }
    }

    #[test]
    fn only_https_links_are_kept() {
        let cases = [
            (
                "https://admin.microsoft.com/x?a=1",
                Some("https://admin.microsoft.com/x?a=1"),
            ),
            (" https://example.com ", Some("https://example.com/")),
            ("HTTPS://EXAMPLE.COM/a", Some("https://example.com/a")),
            ("http://example.com", None),
            ("javascript:alert(1)", None),
            ("JaVaScRiPt:alert(1)", None),
            ("data:text/html,<b>x</b>", None),
            ("/relative/path", None),
            ("https://", None),
            ("", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(https_url(raw).as_deref(), expected, "{raw:?}");
        }
    }

    #[test]
    fn user_text_with_control_characters_or_nothing_visible_is_refused() {
        use TextProblem::*;
        let cases = [
            ("a note", true, Ok(()), "plain text"),
            (
                "line one\nline two\r\n\tindented",
                true,
                Ok(()),
                "lines and tabs in a note",
            ),
            ("nul\u{0}inside", true, Err(ControlCharacter(0)), "NUL"),
            ("bell\u{7}", true, Err(ControlCharacter(7)), "another C0 control"),
            (
                "\u{1b}[31mred",
                true,
                Err(ControlCharacter(0x1b)),
                "an escape sequence",
            ),
            ("c1\u{85}", true, Err(ControlCharacter(0x85)), "a C1 control"),
            (
                "tab\tname",
                false,
                Err(ControlCharacter(9)),
                "a tab in a one-line name",
            ),
            ("two\nlines", false, Err(LineBreak), "a line break in a name"),
            ("", true, Err(Invisible), "empty"),
            ("  \n\t ", true, Err(Invisible), "only whitespace"),
            (
                "\u{200B}\u{200D}\u{FEFF}",
                false,
                Err(Invisible),
                "only zero-width characters",
            ),
            ("\u{200B}x", false, Ok(()), "something visible beside them"),
            ("Ünïcödé 名前 🙂", false, Ok(()), "any visible script"),
        ];
        for (text, multiline, expected, why) in cases {
            assert_eq!(check_user_text(text, multiline), expected, "{why}");
        }
    }

    #[test]
    fn csv_cells_that_would_be_formulas_are_neutralised() {
        let cases = [
            ("=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"),
            ("+1+1", "'+1+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("Require MFA", "Require MFA"),
            ("a=b", "a=b"),
            ("", ""),
        ];
        for (cell, expected) in cases {
            assert_eq!(csv_text_cell(cell), expected, "{cell:?}");
        }
    }
}
