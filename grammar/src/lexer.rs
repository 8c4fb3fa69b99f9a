//! Splitting one kickstart line into words with the pest grammar in `kickstart.pest`.

use pest::Parser;
use pest::iterators::Pair;

#[derive(pest_derive::Parser)]
#[grammar = "kickstart.pest"]
struct LineParser;

/// One word of a line: its value after quote removal and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    /// 1-based character column of the word's first character.
    pub column: usize,
    /// Length in characters as written (quotes included).
    pub len: usize,
}

/// Why a line could not be split, and where (1-based character column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitError {
    pub column: usize,
    pub message: String,
    /// The line ends with an unescaped backslash outside quotes (nothing else is wrong).
    pub trailing_backslash: bool,
}

/// Splits `line` (without its newline) into words like `shlex.split(line, comments=True)`.
pub fn split(line: &str) -> Result<Vec<Word>, SplitError> {
    if !line.contains(['"', '\'', '\\']) {
        return Ok(split_plain(line));
    }
    let mut pairs = LineParser::parse(Rule::line, line).map_err(|e| split_error(line, &e))?;
    let line_pair = pairs.next().expect("the line rule always yields one pair");
    let mut words = Vec::new();
    for pair in line_pair.into_inner() {
        if pair.as_rule() != Rule::word {
            continue;
        }
        let start = pair.as_span().start();
        let column = line[..start].chars().count() + 1;
        let len = pair.as_str().chars().count();
        let mut text = String::new();
        for piece in pair.into_inner() {
            unquote(piece, &mut text);
        }
        words.push(Word { text, column, len });
    }
    Ok(words)
}

/// The grammar's result for a line without quotes or backslashes, without the general
/// machinery (most kickstart lines; pest's per-character lookahead is the parser's hot spot).
fn split_plain(line: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut start: Option<(usize, usize)> = None; // (byte, column)
    let mut column = 0;
    let mut end_word = |start: &mut Option<(usize, usize)>, at: usize, col: usize| {
        if let Some((b, c)) = start.take() {
            words.push(Word {
                text: line[b..at].to_string(),
                column: c,
                len: col - c,
            });
        }
    };
    for (i, ch) in line.char_indices() {
        column += 1;
        match ch {
            ' ' | '\t' | '\r' | '\n' => end_word(&mut start, i, column),
            '#' => {
                end_word(&mut start, i, column);
                return words;
            }
            _ if start.is_none() => start = Some((i, column)),
            _ => {}
        }
    }
    end_word(&mut start, line.len(), column + 1);
    words
}

fn unquote(piece: Pair<'_, Rule>, out: &mut String) {
    match piece.as_rule() {
        Rule::plain | Rule::dq_text | Rule::sq_text => out.push_str(piece.as_str()),
        Rule::escaped => out.push_str(&piece.as_str()[1..]),
        Rule::dq_escaped => {
            let escaped = &piece.as_str()[1..];
            if !matches!(escaped, "\\" | "\"" | "$" | "`" | "\n") {
                out.push('\\');
            }
            out.push_str(escaped);
        }
        Rule::dquoted | Rule::squoted => {
            for inner in piece.into_inner() {
                unquote(inner, out);
            }
        }
        _ => {}
    }
}

/// The only ways a line fails to split: an unclosed quote or a trailing backslash.
fn split_error(line: &str, e: &pest::error::Error<Rule>) -> SplitError {
    let fail_at = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    // Find the quote or backslash that opened what did not close, scanning like shlex.
    let mut quote: Option<(char, usize)> = None;
    let mut escape_at: Option<usize> = None;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match quote {
            Some((q, _)) if c == q => quote = None,
            Some(('"', _)) if c == '\\' => {
                chars.next();
            }
            Some(_) => {}
            None => match c {
                '#' => break,
                '"' | '\'' => quote = Some((c, i)),
                '\\' if chars.next().is_none() => escape_at = Some(i),
                _ => {}
            },
        }
    }
    let col = |byte: usize| line[..byte.min(line.len())].chars().count() + 1;
    match (quote, escape_at) {
        (Some((q, at)), _) => SplitError {
            column: col(at),
            message: format!("No closing quotation: the {q} quote here is never closed"),
            trailing_backslash: false,
        },
        (None, Some(at)) => SplitError {
            column: col(at),
            message: "No escaped character: the line ends with a backslash (kickstart lines \
                      do not continue)"
                .to_string(),
            trailing_backslash: true,
        },
        (None, None) => SplitError {
            column: col(fail_at),
            message: "cannot split this line into words".to_string(),
            trailing_backslash: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        split(line).unwrap().into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn splits_like_shlex() {
        // Each expectation was produced by Python's shlex.split(line, comments=True).
        assert_eq!(texts("foo#bar x"), ["foo"]);
        assert_eq!(texts("a \"b c\"#d e"), ["a", "b c"]);
        assert_eq!(texts("x\\ y z"), ["x y", "z"]);
        assert_eq!(texts("a \"b\\\"c\" \"d\\e\""), ["a", "b\"c", "d\\e"]);
        assert_eq!(texts("a 'b\\c'"), ["a", "b\\c"]);
        assert_eq!(texts("a \\\\"), ["a", "\\"]);
        assert_eq!(texts("  a\t--b=\"\"  "), ["a", "--b="]);
        assert_eq!(texts("''"), [""]);
        assert!(texts("# only a comment").is_empty());
    }

    #[test]
    fn plain_lines_split_like_the_grammar() {
        for line in [
            "part / --size=1 # c",
            "  a\tb#c d",
            "é ü  x",
            "",
            "#",
            "a#",
            "x  ",
        ] {
            let mut pairs = LineParser::parse(Rule::line, line).unwrap();
            let via_pest: Vec<String> = pairs
                .next()
                .unwrap()
                .into_inner()
                .filter(|p| p.as_rule() == Rule::word)
                .map(|p| p.as_str().to_string())
                .collect();
            let fast: Vec<Word> = split_plain(line);
            let texts: Vec<String> = fast.iter().map(|w| w.text.clone()).collect();
            assert_eq!(texts, via_pest, "{line:?}");
        }
        let w = split_plain("  é --x=1");
        assert_eq!((w[0].column, w[0].len, w[1].column, w[1].len), (3, 1, 5, 5));
    }

    #[test]
    fn columns_count_characters() {
        let words = split("lang  \"é x\" y").unwrap();
        assert_eq!((words[1].column, words[1].len), (7, 5));
        assert_eq!(words[2].column, 13);
    }

    #[test]
    fn reports_unclosed_quotes() {
        let e = split("user --name=\"bob").unwrap_err();
        assert_eq!(e.column, 13);
        assert!(e.message.contains("No closing quotation"), "{}", e.message);
        let e = split("user --name=bob\\").unwrap_err();
        assert_eq!(e.column, 16);
    }
}
