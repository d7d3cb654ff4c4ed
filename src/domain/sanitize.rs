//! Text and links that come from outside (Microsoft Graph exports, catalog files, SERVICE_ADMIN
//! mutations) made safe to store and show: HTML reduced to plain text, and only `https:` links
//! kept, so no stored value can become markup or a `javascript:` link in a client (SPEC §9).

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
}
