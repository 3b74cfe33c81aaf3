//! Full-text search over invoices (migration 0004; docs/architecture.md, "Search").
//!
//! `invoices_search` numbers each document by its place in the list, so a search page is an
//! FTS5 walk in rowid order that stops after one page. What keeps that walk lazy is asking
//! FTS5 only for exact terms: a prefix term (`"andamio"*`) is built as one in-memory
//! doclist of every match first. A typed word is therefore looked up in `search_terms` (every
//! term the tokenizer made, kept by the write path) and replaced by the few exact terms it
//! is a prefix of.

use sqlx::{QueryBuilder, Sqlite};

use crate::Store;
use crate::error::Result;

/// The FTS rowid of an invoice, as SQL over its `fecha_emision` and `seq` expressions:
/// minus (day number << 32 | seq), so ascending rowid order is the list's order (newest
/// emission first, then highest `seq`). Ascending, because FTS5 reads its doclists forwards
/// natively and backwards by first indexing each page (a two-word search page read about
/// 20 % faster forwards on 1M invoices). Migration 0004 writes the same formula in its
/// triggers.
pub(crate) fn search_key(fecha: &str, seq: &str) -> String {
    format!("(-(((CAST(julianday({fecha}) AS INTEGER) << 32) | {seq})))")
}

/// Pushes [`search_key`] of a list position (a cursor's date and seq) as bound values.
pub(crate) fn push_search_key(qb: &mut QueryBuilder<Sqlite>, fecha: String, seq: i64) {
    qb.push("(-(((CAST(julianday(")
        .push_bind(fecha)
        .push(") AS INTEGER) << 32) | ")
        .push_bind(seq)
        .push(")))");
}

/// The invoice `seq` of the `invoices_search` row at hand, as SQL (the low 32 bits of the
/// negated rowid).
pub(crate) const SEARCH_SEQ: &str = "((-invoices_search.rowid) & 4294967295)";

/// A word whose prefix stands for more exact terms than this is searched as a prefix (FTS5
/// then builds its doclist in memory: slower, still correct).
const MAX_EXPANSION: i64 = 32;

/// The searchable columns; people's words never match the `obra` column.
const TEXT_COLUMNS: &str = "{razon_social rut_emisor folio glosa}";

/// What a search text asks of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Search {
    /// An FTS5 expression over the text columns.
    Match(String),
    /// A word is the prefix of no stored term: nothing can match.
    Nothing,
}

impl Search {
    /// The expression restricted to the given obra ids (the `obra` column).
    pub(crate) fn within_obras(expr: &str, obra_ids: Option<&[i64]>) -> String {
        match obra_ids {
            None => expr.to_owned(),
            Some(ids) => {
                let ids: Vec<String> = ids.iter().map(|id| format!("\"{id}\"")).collect();
                format!("{expr} AND {{obra}} : ({})", ids.join(" OR "))
            }
        }
    }
}

/// One typed word, split into the tokens the index holds.
#[derive(Debug, PartialEq, Eq)]
struct Word {
    /// Alphanumeric runs of the word, lowercased and without diacritics when `folded`.
    tokens: Vec<String>,
    /// Whether every character was folded here exactly as the tokenizer folds it
    /// (ASCII and the Latin-1 letters); otherwise the tokens are as typed and FTS5 folds
    /// them itself.
    folded: bool,
}

/// How `unicode61 remove_diacritics 2` folds the characters this module handles itself;
/// `None` for any other character. A test checks every one against SQLite's tokenizer.
fn fold(c: char) -> Option<char> {
    if c.is_ascii_alphanumeric() {
        return Some(c.to_ascii_lowercase());
    }
    // only Latin-1 letters: others lowercase into this range too (the Kelvin sign, Ÿ)
    if !('\u{C0}'..='\u{FF}').contains(&c) {
        return None;
    }
    let base = match c.to_lowercase().next()? {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        _ => return None,
    };
    Some(base)
}

/// The characters [`fold`] handles besides ASCII (for the test against SQLite).
#[cfg(test)]
pub(crate) const FOLDED_LATIN1: &str = "àáâãäåçèéêëìíîïñòóôõöùúûüýÿÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝ";

/// Adds to `out` the vocabulary terms (those not starting with a digit) the tokenizer makes
/// of `text`, and returns `true`; or returns `false`, adding nothing, when `text` holds a
/// character whose treatment here is not checked against SQLite (anything outside ASCII and
/// [`fold`]'s letters): such text goes through SQLite's own tokenizer instead.
pub(crate) fn vocabulary_terms(text: &str, out: &mut std::collections::HashSet<String>) -> bool {
    if !text.chars().all(|c| c.is_ascii() || fold(c).is_some()) {
        return false;
    }
    let mut token = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        match fold(c) {
            Some(f) => token.push(f),
            None => {
                if token.starts_with(|c: char| !c.is_ascii_digit()) && !out.contains(&token) {
                    out.insert(token.clone());
                }
                token.clear();
            }
        }
    }
    true
}

/// Splits what a person typed into words. Quotes and operators are neutralised (only
/// alphanumeric runs survive); dots in RUTs and amounts are dropped so `76.123.456` finds
/// `76123456-0`.
fn words(text: &str) -> Vec<Word> {
    text.split_whitespace()
        .filter_map(|w| {
            let w: String = if w
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | 'k' | 'K'))
            {
                w.chars().filter(|c| *c != '.').collect()
            } else {
                w.to_owned()
            };
            let raw: Vec<&str> = w
                .split(|c: char| !c.is_alphanumeric())
                .filter(|t| !t.is_empty())
                .collect();
            if raw.is_empty() {
                return None;
            }
            let folded: Option<Vec<String>> = raw
                .iter()
                .map(|t| t.chars().map(fold).collect::<Option<String>>())
                .collect();
            Some(match folded {
                Some(tokens) => Word {
                    tokens,
                    folded: true,
                },
                None => Word {
                    tokens: raw.into_iter().map(str::to_owned).collect(),
                    folded: false,
                },
            })
        })
        .collect()
}

/// `"a b c"`, optionally as a prefix (`"a b c"*`). Tokens are alphanumeric, so they need no
/// escaping.
fn phrase(tokens: &[String], last: &str, prefix: bool) -> String {
    let mut all: Vec<&str> = tokens.iter().map(String::as_str).collect();
    all.push(last);
    format!("\"{}\"{}", all.join(" "), if prefix { "*" } else { "" })
}

impl Store {
    /// Turns search text into what to ask the index: every word must match as a prefix.
    /// `None` when the text holds no word.
    ///
    /// # Errors
    /// Database errors.
    pub(crate) async fn search(&self, text: &str) -> Result<Option<Search>> {
        let words = words(text);
        if words.is_empty() {
            return Ok(None);
        }
        // The exact terms each word's last token is a prefix of, for every word at once.
        // Terms starting with a digit (folios, RUTs) are not in the vocabulary, and a typed
        // number is usually whole: its prefix doclist is small. Words with characters this
        // module does not fold are left to FTS5 too.
        let looked_up = |w: &Word| {
            w.folded
                && w.tokens
                    .last()
                    .is_some_and(|t| !t.starts_with(|c: char| c.is_ascii_digit()))
        };
        let prefixes: Vec<&str> = words
            .iter()
            .filter(|w| looked_up(w))
            .filter_map(|w| w.tokens.last().map(String::as_str))
            .collect();
        let mut expansions: Vec<Vec<String>> = Vec::with_capacity(prefixes.len());
        if !prefixes.is_empty() {
            let rows: Vec<(i64, String)> = sqlx::query_as(
                "SELECT p.key, (SELECT json_group_array(term) FROM (SELECT term FROM search_terms \
                 WHERE term >= p.value AND term < p.value || char(1114111) ORDER BY term LIMIT ?)) \
                 FROM json_each(?) p ORDER BY p.key",
            )
            .bind(MAX_EXPANSION + 1)
            .bind(serde_json::to_string(&prefixes).unwrap_or_default())
            .fetch_all(self.pool())
            .await?;
            for (_, json) in rows {
                expansions.push(serde_json::from_str(&json).map_err(|e| {
                    crate::error::StoreError::Corrupt {
                        column: "search_terms",
                        value: e.to_string(),
                    }
                })?);
            }
        }
        let mut expansions = expansions.into_iter();
        let mut parts = Vec::with_capacity(words.len());
        for w in &words {
            let Some((last, head)) = w.tokens.split_last() else {
                continue;
            };
            if !looked_up(w) {
                parts.push(phrase(head, last, true));
                continue;
            }
            let terms = expansions.next().unwrap_or_default();
            match terms.len() as i64 {
                0 => return Ok(Some(Search::Nothing)),
                n if n > MAX_EXPANSION => parts.push(phrase(head, last, true)),
                1 => parts.push(phrase(head, &terms[0], false)),
                _ => {
                    let alts: Vec<String> = terms.iter().map(|t| phrase(head, t, false)).collect();
                    parts.push(format!("({})", alts.join(" OR ")));
                }
            }
        }
        Ok(Some(Search::Match(format!(
            "{TEXT_COLUMNS} : ({})",
            parts.join(" AND ")
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<(Vec<String>, bool)> {
        words(text)
            .into_iter()
            .map(|w| (w.tokens, w.folded))
            .collect()
    }

    fn w(tokens: &[&str], folded: bool) -> (Vec<String>, bool) {
        (tokens.iter().map(|t| (*t).to_owned()).collect(), folded)
    }

    #[test]
    fn typed_words_become_folded_tokens() {
        assert_eq!(
            tokens("Ferretería ÑUÑOA"),
            vec![w(&["ferreteria"], true), w(&["nunoa"], true)]
        );
        assert_eq!(tokens("76.123.456"), vec![w(&["76123456"], true)]);
        assert_eq!(tokens("76.123.456-K"), vec![w(&["76123456", "k"], true)]);
        // quotes and operators never reach FTS5 as syntax
        assert_eq!(
            tokens("\" OR * NEAR("),
            vec![w(&["or"], true), w(&["near"], true)]
        );
        assert_eq!(tokens("  ** \"\" "), vec![]);
        // a character this module does not fold is left to the tokenizer
        assert_eq!(tokens("Øster"), vec![w(&["Øster"], false)]);
    }

    #[test]
    fn phrases_are_quoted_and_obras_restrict_the_obra_column() {
        assert_eq!(phrase(&["76123456".into()], "0", true), "\"76123456 0\"*");
        assert_eq!(phrase(&[], "andamios", false), "\"andamios\"");
        assert_eq!(
            Search::within_obras("X", Some(&[3, 17])),
            "X AND {obra} : (\"3\" OR \"17\")"
        );
        assert_eq!(Search::within_obras("X", None), "X");
    }

    /// Every character `fold` handles must fold exactly as SQLite's tokenizer folds it,
    /// or a typed word would be looked up under a term the index does not hold.
    #[tokio::test]
    async fn folding_agrees_with_the_sqlite_tokenizer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("icc.db")).await.unwrap();
        let mut conn = store.pool().acquire().await.unwrap();
        sqlx::query(
            "CREATE VIRTUAL TABLE temp.t USING fts5(x, tokenize = 'unicode61 remove_diacritics 2')",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
        sqlx::query("CREATE VIRTUAL TABLE temp.v USING fts5vocab(temp, t, instance)")
            .execute(&mut *conn)
            .await
            .unwrap();
        let chars: Vec<char> = ('0'..='9')
            .chain('a'..='z')
            .chain('A'..='Z')
            .chain(FOLDED_LATIN1.chars())
            .collect();
        for (n, c) in chars.iter().enumerate() {
            sqlx::query("INSERT INTO temp.t (rowid, x) VALUES (?, ?)")
                .bind(n as i64 + 1)
                .bind(format!("q{c}q"))
                .execute(&mut *conn)
                .await
                .unwrap();
        }
        let terms: Vec<(i64, String)> = sqlx::query_as("SELECT doc, term FROM temp.v ORDER BY doc")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        assert_eq!(terms.len(), chars.len(), "one term per character");
        for ((doc, term), c) in terms.iter().zip(&chars) {
            assert_eq!(
                *doc as usize,
                chars.iter().position(|x| x == c).unwrap() + 1
            );
            let ours = format!("q{}q", fold(*c).unwrap());
            assert_eq!(term, &ours, "{c:?} (U+{:04X})", u32::from(*c));
        }
        // and a character it does not handle is left alone
        for c in ['ø', 'Æ', 'ß', '×', 'Ÿ', '\u{212A}', 'ª', 'º', '°'] {
            assert_eq!(fold(c), None, "{c:?}");
        }
        for c in '\u{C0}'..='\u{FF}' {
            assert_eq!(fold(c).is_some(), FOLDED_LATIN1.contains(c), "{c:?}");
        }

        // whole texts: the same terms as SQLite's tokenizer, separators included
        let corpus = [
            "Ferretería Ñuñoa Ltda.",
            "Hormigón H-30 para losa; 12,5 m3 (fase II)",
            "Arriendo de andamios/grúa_torre #4 @obra \"sur\" 50% +IVA",
            "76.123.456-K  Áridos\tMaipú\nS.A.",
            "é!è?ç:ü[ñ]{Ý}|~`^=<>",
            "",
        ];
        sqlx::query("DELETE FROM temp.t")
            .execute(&mut *conn)
            .await
            .unwrap();
        let mut ours = std::collections::HashSet::new();
        for (n, text) in corpus.iter().enumerate() {
            assert!(vocabulary_terms(text, &mut ours), "{text}");
            sqlx::query("INSERT INTO temp.t (rowid, x) VALUES (?, ?)")
                .bind(n as i64 + 1)
                .bind(*text)
                .execute(&mut *conn)
                .await
                .unwrap();
        }
        let theirs: std::collections::HashSet<String> =
            sqlx::query_scalar("SELECT DISTINCT term FROM temp.v WHERE term NOT GLOB '[0-9]*'")
                .fetch_all(&mut *conn)
                .await
                .unwrap()
                .into_iter()
                .collect();
        assert_eq!(ours, theirs);
        // text it cannot vouch for is refused, not guessed
        let mut none = std::collections::HashSet::new();
        assert!(!vocabulary_terms("N° 12 – Øster", &mut none));
        assert!(none.is_empty());
    }
}
