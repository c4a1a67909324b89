//! Compile-time parsing of breaker names, which may be keyed by parameters: `"http:{host}"`.
//!
//! The grammar is a small subset of `format!`: `{ident}` names a parameter, `{{` and `}}` are
//! literal braces, and nothing else may appear between braces. Anything `format!` would accept
//! but we do not (`{}`, `{0}`, `{host:?}`) is rejected with a message saying what to write,
//! because the placeholders are matched against the function's parameters at compile time.

/// A name as written, split into literal text and placeholders.
#[derive(Debug, PartialEq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

#[derive(Debug, PartialEq)]
pub(crate) enum Piece {
    /// Literal text, with `{{`/`}}` already unescaped.
    Text(String),
    /// `{ident}`: the value of the parameter `ident`.
    Key(String),
}

impl Template {
    /// Parses a name. The error is a complete sentence meant to be shown under the literal.
    pub(crate) fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => {
                    return Err(
                        "unmatched `}` in the name; write `}}` for a literal brace".to_owned()
                    );
                }
                '{' => {
                    let mut inside = String::new();
                    let closed = loop {
                        match chars.next() {
                            Some('}') => break true,
                            Some(c) => inside.push(c),
                            None => break false,
                        }
                    };
                    if !closed {
                        return Err(
                            "unclosed `{` in the name; write `{{` for a literal brace, or `{param}` to key the breaker by a parameter"
                                .to_owned(),
                        );
                    }
                    if !is_identifier(&inside) {
                        return Err(bad_placeholder(&inside));
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Key(inside));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template { pieces })
    }

    /// Literal text and placeholders, in order.
    pub(crate) fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// The parameters the name is keyed by, in order of appearance (with repeats).
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Key(key) => Some(key.as_str()),
            Piece::Text(_) => None,
        })
    }

    /// Whether the name has placeholders, i.e. one breaker per key.
    pub(crate) fn is_keyed(&self) -> bool {
        self.keys().next().is_some()
    }

    /// The name with braces unescaped, for a name without placeholders.
    pub(crate) fn text(&self) -> String {
        self.pieces
            .iter()
            .map(|piece| match piece {
                Piece::Text(text) => text.as_str(),
                Piece::Key(_) => "{}",
            })
            .collect()
    }
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
        && text != "_"
}

fn bad_placeholder(inside: &str) -> String {
    let trimmed = inside.trim();
    let hint = match trimmed.split_once(':') {
        _ if trimmed.is_empty() => {
            "`{}` names no parameter; write the parameter's name, e.g. `{host}`".to_owned()
        }
        Some((name, _)) if is_identifier(name.trim()) => format!(
            "`{{{inside}}}`: format specs are not supported in a name; write `{{{}}}`",
            name.trim()
        ),
        _ if trimmed.chars().all(|c| c.is_ascii_digit()) => format!(
            "`{{{inside}}}`: positional placeholders are not supported in a name; write the parameter's name, e.g. `{{host}}`"
        ),
        _ => format!(
            "`{{{inside}}}` is not a parameter name; a name is keyed by plain `{{param}}` placeholders"
        ),
    };
    format!("{hint} (write `{{{{` and `}}}}` for literal braces)")
}

#[cfg(test)]
mod tests {
    use super::{Piece, Template};

    fn err(text: &str) -> String {
        match Template::parse(text) {
            Ok(template) => panic!("{text:?} parsed as {template:?}, expected an error"),
            Err(message) => message,
        }
    }

    #[test]
    fn fixed_names() {
        let template = Template::parse("db").expect("parses");
        assert!(!template.is_keyed());
        assert_eq!(template.text(), "db");
        let template = Template::parse("a{{b}}c").expect("parses");
        assert!(!template.is_keyed());
        assert_eq!(template.text(), "a{b}c");
    }

    fn text(text: &str) -> Piece {
        Piece::Text(text.to_owned())
    }

    fn key(key: &str) -> Piece {
        Piece::Key(key.to_owned())
    }

    #[test]
    fn keyed_names() {
        let template = Template::parse("http:{host}:{port}/{{x}}").expect("parses");
        assert!(template.is_keyed());
        assert_eq!(template.keys().collect::<Vec<_>>(), ["host", "port"]);
        assert_eq!(
            template.pieces(),
            [
                text("http:"),
                key("host"),
                text(":"),
                key("port"),
                text("/{x}")
            ]
        );
        let template = Template::parse("{tenant}").expect("parses");
        assert_eq!(template.pieces(), [key("tenant")]);
        assert_eq!(
            Template::parse("{a}{a}").expect("parses").pieces(),
            [key("a"), key("a")]
        );
    }

    #[test]
    fn rejects_what_format_would_take_but_we_do_not() {
        assert!(err("http:{}").contains("`{}` names no parameter"));
        assert!(err("http:{0}").contains("positional placeholders"));
        assert!(err("http:{host:?}").contains("write `{host}`"));
        assert!(err("http:{a.b}").contains("is not a parameter name"));
        assert!(err("http:{_}").contains("is not a parameter name"));
        assert!(err("http:{1x}").contains("is not a parameter name"));
    }

    #[test]
    fn rejects_unbalanced_braces() {
        assert!(err("http:{host").contains("unclosed `{`"));
        assert!(err("http:host}").contains("unmatched `}`"));
        assert!(err("}").contains("unmatched `}`"));
    }
}
