//! Breaker condition: a boolean expression over the window's metrics.
//!
//! A condition compares metrics with numbers and combines the comparisons:
//!
//! ```text
//! condition  := or
//! or         := and ("or" and)*
//! and        := unary ("and" unary)*
//! unary      := "not" unary | "(" or ")" | comparison
//! comparison := metric (">" | ">=" | "<" | "<=" | "==" | "!=") number
//! ```
//!
//! so `not` binds tighter than `and`, which binds tighter than `or`.
//! Metrics are camelCase: the rates `successRate`, `errorRate`,
//! `approvalRate`, `rollbackRate`; the counts `failures`, `commandsTotal`,
//! `succeeded`, `failed`, `rejected`, `rolledBack`; and the incident counts
//! `criticalIncidents`, `highIncidents`, `mediumIncidents`, `lowIncidents`,
//! `criticalAutonomousIncidents`; and the latency percentiles
//! `p50DurationMs`, `p95DurationMs`, `p99DurationMs` (nearest-rank, over the
//! `durationMs` the window's commands reported).
//!
//! A rate with no data (nothing ran, so it has no denominator) makes every
//! comparison on it false, whatever the operator, and so does a percentile
//! when no command in the window reported a duration. A breaker must not
//! trip on an empty window; note that `not errorRate > 0.05` is therefore
//! *true* with no data, so negate the comparison instead
//! (`errorRate <= 0.05`) when an empty window must not trip.

use regent_sdk::breaker::*;

/// Trips when `condition` holds over the window.
pub struct Expression;

/// The condition to evaluate.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The condition, e.g. `errorRate > 0.05 or failures >= 3`. Required.
    pub condition: String,
}

impl BreakerCondition for Expression {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str = "trips when a boolean condition over the window's metrics holds";

    fn validate(params: &Params) -> Result<(), String> {
        parse(&params.condition).map(|_| ())
    }

    fn evaluate(window: &MetricsWindow, params: &Params) -> Result<BreakerVerdict, String> {
        let expr = parse(&params.condition)?;
        let tripped = expr.holds(window);
        let observed = expr.first_metric().value(window);
        let reason = match &expr {
            Expr::Compare { metric, .. } if metric.value(window).is_none() => {
                format!("{} has no data", metric.name())
            }
            Expr::Compare { .. } if !tripped => format!("{} is false", expr.render(window)),
            _ if !tripped => format!("({}) is false", expr.render(window)),
            _ => expr.render(window),
        };
        Ok(BreakerVerdict {
            tripped,
            observed,
            reason,
        })
    }
}

regent_sdk::breaker_condition!(Expression);

/// A metric a condition can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Metric {
    SuccessRate,
    ErrorRate,
    ApprovalRate,
    RollbackRate,
    Failures,
    CommandsTotal,
    Succeeded,
    Failed,
    Rejected,
    RolledBack,
    CriticalIncidents,
    HighIncidents,
    MediumIncidents,
    LowIncidents,
    CriticalAutonomousIncidents,
    P50DurationMs,
    P95DurationMs,
    P99DurationMs,
}

/// Every metric by name, in the order error messages list them.
const METRICS: [(&str, Metric); 18] = [
    ("successRate", Metric::SuccessRate),
    ("errorRate", Metric::ErrorRate),
    ("approvalRate", Metric::ApprovalRate),
    ("rollbackRate", Metric::RollbackRate),
    ("failures", Metric::Failures),
    ("commandsTotal", Metric::CommandsTotal),
    ("succeeded", Metric::Succeeded),
    ("failed", Metric::Failed),
    ("rejected", Metric::Rejected),
    ("rolledBack", Metric::RolledBack),
    ("criticalIncidents", Metric::CriticalIncidents),
    ("highIncidents", Metric::HighIncidents),
    ("mediumIncidents", Metric::MediumIncidents),
    ("lowIncidents", Metric::LowIncidents),
    (
        "criticalAutonomousIncidents",
        Metric::CriticalAutonomousIncidents,
    ),
    ("p50DurationMs", Metric::P50DurationMs),
    ("p95DurationMs", Metric::P95DurationMs),
    ("p99DurationMs", Metric::P99DurationMs),
];

impl Metric {
    fn from_name(name: &str) -> Option<Metric> {
        METRICS.iter().find(|(n, _)| *n == name).map(|&(_, m)| m)
    }

    fn name(self) -> &'static str {
        METRICS
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("?", |(n, _)| n)
    }

    /// The metric's value in the window; `None` only for a rate with no
    /// data, or a percentile when no command reported a duration.
    fn value(self, w: &MetricsWindow) -> Option<f64> {
        let m = &w.metrics;
        let count = |n: u64| Some(n as f64);
        match self {
            Metric::SuccessRate => m.success_rate,
            Metric::ErrorRate => m.error_rate,
            Metric::ApprovalRate => m.approval_rate,
            Metric::RollbackRate => m.rollback_rate,
            Metric::Failures => count(w.failures),
            Metric::CommandsTotal => count(m.commands_total),
            Metric::Succeeded => count(m.by_status.succeeded),
            Metric::Failed => count(m.by_status.failed),
            Metric::Rejected => count(m.by_status.rejected),
            Metric::RolledBack => count(m.by_status.rolled_back),
            Metric::CriticalIncidents => count(w.incidents_by_severity.critical.into()),
            Metric::HighIncidents => count(w.incidents_by_severity.high.into()),
            Metric::MediumIncidents => count(w.incidents_by_severity.medium.into()),
            Metric::LowIncidents => count(w.incidents_by_severity.low.into()),
            Metric::CriticalAutonomousIncidents => count(w.critical_autonomous_incidents.into()),
            Metric::P50DurationMs => w.p50_duration_ms,
            Metric::P95DurationMs => w.p95_duration_ms,
            Metric::P99DurationMs => w.p99_duration_ms,
        }
    }

    fn format(self, value: f64) -> String {
        match self {
            Metric::SuccessRate
            | Metric::ErrorRate
            | Metric::ApprovalRate
            | Metric::RollbackRate => regent_sdk::fmt::fixed(value, 4),
            _ => format!("{value}"),
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }

    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
        }
    }
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Compare {
        metric: Metric,
        op: CmpOp,
        threshold: f64,
        /// The number as written, so reasons echo the author's `0.10`.
        literal: String,
    },
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    fn holds(&self, w: &MetricsWindow) -> bool {
        match self {
            Expr::Compare {
                metric,
                op,
                threshold,
                ..
            } => metric.value(w).is_some_and(|v| op.holds(v, *threshold)),
            Expr::Not(e) => !e.holds(w),
            Expr::And(a, b) => a.holds(w) && b.holds(w),
            Expr::Or(a, b) => a.holds(w) || b.holds(w),
        }
    }

    /// The metric of the leftmost comparison, i.e. the first one written.
    fn first_metric(&self) -> Metric {
        match self {
            Expr::Compare { metric, .. } => *metric,
            Expr::Not(e) | Expr::And(e, _) | Expr::Or(e, _) => e.first_metric(),
        }
    }

    /// Binding strength, to parenthesize only where the source needed it.
    fn precedence(&self) -> u8 {
        match self {
            Expr::Or(..) => 1,
            Expr::And(..) => 2,
            Expr::Not(_) => 3,
            Expr::Compare { .. } => 4,
        }
    }

    /// The condition with each metric's observed value written in.
    fn render(&self, w: &MetricsWindow) -> String {
        let child = |e: &Expr, min: u8| {
            let text = e.render(w);
            if e.precedence() < min {
                format!("({text})")
            } else {
                text
            }
        };
        match self {
            Expr::Compare {
                metric,
                op,
                literal,
                ..
            } => {
                let value = metric
                    .value(w)
                    .map_or("(no data)".to_string(), |v| metric.format(v));
                format!("{} {value} {} {literal}", metric.name(), op.symbol())
            }
            Expr::Not(e) => format!("not {}", child(e, 3)),
            Expr::And(a, b) => format!("{} and {}", child(a, 2), child(b, 3)),
            Expr::Or(a, b) => format!("{} or {}", child(a, 1), child(b, 2)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Number(String),
    Op(CmpOp),
    LParen,
    RParen,
    And,
    Or,
    Not,
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Ident(s) | Tok::Number(s) => s.clone(),
            Tok::Op(op) => op.symbol().to_string(),
            Tok::LParen => "(".to_string(),
            Tok::RParen => ")".to_string(),
            Tok::And => "and".to_string(),
            Tok::Or => "or".to_string(),
            Tok::Not => "not".to_string(),
        }
    }
}

/// A token and the character position it starts at.
#[derive(Debug, Clone, PartialEq)]
struct Token {
    tok: Tok,
    pos: usize,
}

fn tokenize(src: &[char]) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < src.len() {
        let (c, pos) = (src[i], i);
        let next = src.get(i + 1).copied();
        let tok = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '>' | '<' | '=' | '!' => {
                let op = match (c, next == Some('=')) {
                    ('>', true) => CmpOp::Ge,
                    ('>', false) => CmpOp::Gt,
                    ('<', true) => CmpOp::Le,
                    ('<', false) => CmpOp::Lt,
                    ('=', true) => CmpOp::Eq,
                    ('!', true) => CmpOp::Ne,
                    ('=', false) => {
                        return Err(format!("`=` at {pos} is not an operator; use `==`"))
                    }
                    _ => {
                        return Err(format!(
                            "`!` at {pos} is not an operator; use `not` or `!=`"
                        ))
                    }
                };
                i += op.symbol().len();
                tokens.push(Token {
                    tok: Tok::Op(op),
                    pos,
                });
                continue;
            }
            c if c.is_ascii_digit()
                || c == '.'
                || (c == '-' && next.is_some_and(|n| n.is_ascii_digit() || n == '.')) =>
            {
                let end = (i + 1..src.len())
                    .find(|&j| !(src[j].is_ascii_digit() || src[j] == '.'))
                    .unwrap_or(src.len());
                let literal: String = src[i..end].iter().collect();
                if literal.trim_start_matches('-').parse::<f64>().is_err() {
                    return Err(format!("invalid number `{literal}` at {pos}"));
                }
                i = end;
                tokens.push(Token {
                    tok: Tok::Number(literal),
                    pos,
                });
                continue;
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let end = (i + 1..src.len())
                    .find(|&j| !(src[j].is_ascii_alphanumeric() || src[j] == '_'))
                    .unwrap_or(src.len());
                let word: String = src[i..end].iter().collect();
                i = end;
                let tok = match word.as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    _ => Tok::Ident(word),
                };
                tokens.push(Token { tok, pos });
                continue;
            }
            other => return Err(format!("unexpected character `{other}` at {pos}")),
        };
        tokens.push(Token { tok, pos });
        i += 1;
    }
    Ok(tokens)
}

/// The longest condition accepted, in characters. Evaluating and explaining
/// a condition recurse over it, so its size is bounded where it is read.
pub const MAX_CONDITION_CHARS: usize = 1000;

/// How deeply `not` and parentheses may nest: each level is a frame of
/// recursion in the parser, the evaluation and the explanation.
pub const MAX_NESTING: usize = 32;

/// Parses a condition, or says where and why it is malformed. Positions
/// count characters from 0.
fn parse(condition: &str) -> Result<Expr, String> {
    let chars: Vec<char> = condition.chars().collect();
    if chars.len() > MAX_CONDITION_CHARS {
        return Err(format!(
            "`condition` is {} characters long; at most {MAX_CONDITION_CHARS}",
            chars.len()
        ));
    }
    let tokens = tokenize(&chars)?;
    if tokens.is_empty() {
        return Err("`condition` is required, e.g. `errorRate > 0.05`".to_string());
    }
    let mut parser = Parser {
        tokens,
        next: 0,
        end: chars.len(),
        depth: 0,
    };
    let expr = parser.or()?;
    match parser.advance() {
        None => Ok(expr),
        Some(Token { tok: Tok::RParen, pos }) => {
            Err(format!("unbalanced parenthesis: `)` at {pos} has no matching `(`"))
        }
        Some(Token { tok, pos }) => Err(format!(
            "unexpected `{}` at {pos} after a complete condition; join conditions with `and` or `or`",
            tok.text()
        )),
    }
}

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    /// The length of the condition: the position reported at its end.
    end: usize,
    /// How many `not`s and open parentheses enclose the next token.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.next).map(|t| &t.tok)
    }

    fn advance(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).cloned();
        self.next += 1;
        token
    }

    /// "`x` at 7" for the token about to be read, or the end position.
    fn found(token: Option<&Token>, end: usize) -> String {
        match token {
            Some(t) => format!("at {}, found `{}`", t.pos, t.tok.text()),
            None => format!("at {end}, found the end of the condition"),
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.advance();
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek() == Some(&Tok::And) {
            self.advance();
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    /// Enters one level of nesting at `pos`, or refuses past [`MAX_NESTING`].
    fn nest(&mut self, pos: usize) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(format!(
                "`not` and parentheses nest deeper than {MAX_NESTING} levels at {pos}"
            ));
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<Expr, String> {
        let token = self.advance();
        match token.as_ref().map(|t| (&t.tok, t.pos)) {
            Some((Tok::Not, pos)) => {
                self.nest(pos)?;
                let inner = self.unary()?;
                self.depth -= 1;
                Ok(Expr::Not(Box::new(inner)))
            }
            Some((Tok::LParen, open)) => {
                self.nest(open)?;
                let inner = self.or()?;
                self.depth -= 1;
                match self.advance() {
                    Some(Token {
                        tok: Tok::RParen, ..
                    }) => Ok(inner),
                    None => Err(format!(
                        "unbalanced parenthesis: `(` at {open} is never closed"
                    )),
                    Some(other) => Err(format!(
                        "expected `and`, `or` or `)` {}",
                        Self::found(Some(&other), self.end)
                    )),
                }
            }
            Some((Tok::Ident(name), pos)) => {
                let name = name.clone();
                self.comparison(&name, pos)
            }
            _ => Err(format!(
                "expected a metric, `not` or `(` {}",
                Self::found(token.as_ref(), self.end)
            )),
        }
    }

    fn comparison(&mut self, name: &str, pos: usize) -> Result<Expr, String> {
        let Some(metric) = Metric::from_name(name) else {
            let known: Vec<&str> = METRICS.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "unknown metric `{name}` at {pos} (known: {})",
                known.join(", ")
            ));
        };
        let op = match self.advance() {
            Some(Token {
                tok: Tok::Op(op), ..
            }) => op,
            other => {
                return Err(format!(
                    "expected a comparison operator (>, >=, <, <=, ==, !=) after `{name}` {}",
                    Self::found(other.as_ref(), self.end)
                ))
            }
        };
        match self.advance() {
            Some(Token {
                tok: Tok::Number(literal),
                ..
            }) => {
                // The tokenizer only lets well-formed numbers through.
                let threshold = literal
                    .parse()
                    .map_err(|_| format!("invalid number `{literal}`"))?;
                Ok(Expr::Compare {
                    metric,
                    op,
                    threshold,
                    literal,
                })
            }
            other => Err(format!(
                "expected a number after `{}` {}",
                op.symbol(),
                Self::found(other.as_ref(), self.end)
            )),
        }
    }
}

/// Fuzz target (`fuzz/`, and the bounded run in the host's tests): parses
/// `data` as a condition and evaluates every condition that validates on
/// windows with and without data. Panics only on a bug: an error without a
/// message, a valid condition that fails to evaluate, or a verdict with no
/// reason.
#[doc(hidden)]
pub fn fuzz(data: &[u8]) {
    let Ok(condition) = std::str::from_utf8(data) else {
        return;
    };
    let params = Params {
        condition: condition.to_string(),
    };
    if let Err(message) = Expression::validate(&params) {
        assert!(
            !message.trim().is_empty(),
            "an empty error for {condition:?}"
        );
        return;
    }
    let empty = empty_window(1_800_000_000_000, 3_600_000);
    let mut busy = empty;
    busy.metrics.commands_total = 100;
    busy.metrics.by_status.failed = 7;
    busy.failures = 7;
    busy.metrics.error_rate = Some(0.07);
    busy.metrics.success_rate = Some(0.93);
    busy.incidents_by_severity.critical = 1;
    for window in [empty, busy] {
        let verdict = Expression::evaluate(&window, &params)
            .unwrap_or_else(|e| panic!("{condition:?} validated but does not evaluate: {e}"));
        assert!(!verdict.reason.is_empty(), "no reason for {condition:?}");
        assert!(verdict.observed.is_none_or(f64::is_finite));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const HOUR_MS: i64 = 3_600_000;

    /// A window in which `executed` commands ran and `failed` of them failed.
    fn window(executed: u64, failed: u64) -> MetricsWindow {
        let mut w = empty_window(NOW, HOUR_MS);
        w.metrics.commands_total = executed;
        w.metrics.by_status.succeeded = executed - failed;
        w.metrics.by_status.failed = failed;
        w.failures = failed;
        if executed > 0 {
            w.metrics.error_rate = Some(failed as f64 / executed as f64);
            w.metrics.success_rate = Some(1.0 - failed as f64 / executed as f64);
            w.metrics.rollback_rate = Some(0.0);
        }
        w
    }

    fn eval(condition: &str, w: &MetricsWindow) -> BreakerVerdict {
        let params = Params {
            condition: condition.to_string(),
        };
        Expression::validate(&params).unwrap();
        Expression::evaluate(w, &params).unwrap()
    }

    fn error(condition: &str) -> String {
        Expression::validate(&Params {
            condition: condition.to_string(),
        })
        .unwrap_err()
    }

    #[test]
    fn error_rate_above_a_threshold() {
        let tripped = eval("errorRate > 0.05", &window(100, 8));
        assert!(tripped.tripped);
        assert_eq!(tripped.observed, Some(0.08));
        assert_eq!(tripped.reason, "errorRate 0.0800 > 0.05");

        let calm = eval("errorRate > 0.05", &window(100, 3));
        assert!(!calm.tripped);
        assert_eq!(calm.observed, Some(0.03));
        assert_eq!(calm.reason, "errorRate 0.0300 > 0.05 is false");
        // Strictly above: exactly 5% does not trip.
        assert!(!eval("errorRate > 0.05", &window(100, 5)).tripped);
    }

    #[test]
    fn failures_at_least() {
        assert!(!eval("failures >= 3", &window(10, 2)).tripped);
        let verdict = eval("failures >= 3", &window(10, 3));
        assert!(verdict.tripped);
        assert_eq!(verdict.observed, Some(3.0));
        assert_eq!(verdict.reason, "failures 3 >= 3");
    }

    #[test]
    fn any_critical_incident() {
        let mut w = window(10, 0);
        assert!(!eval("criticalIncidents > 0", &w).tripped);
        w.incidents_by_severity.critical = 1;
        let verdict = eval("criticalIncidents > 0", &w);
        assert!(verdict.tripped);
        assert_eq!(verdict.reason, "criticalIncidents 1 > 0");
    }

    #[test]
    fn rollback_rate_echoes_the_threshold_as_written() {
        let mut w = window(50, 0);
        w.metrics.rollback_rate = Some(0.12);
        let verdict = eval("rollbackRate > 0.10", &w);
        assert!(verdict.tripped);
        assert_eq!(verdict.reason, "rollbackRate 0.1200 > 0.10");
        w.metrics.rollback_rate = Some(0.10);
        assert!(!eval("rollbackRate > 0.10", &w).tripped);
    }

    #[test]
    fn every_operator() {
        let w = window(10, 3);
        for (condition, expected) in [
            ("failed > 3", false),
            ("failed >= 3", true),
            ("failed < 3", false),
            ("failed <= 3", true),
            ("failed == 3", true),
            ("failed != 3", false),
            ("succeeded == 7", true),
            ("commandsTotal>9", true),
            ("failed > -1", true),
        ] {
            assert_eq!(eval(condition, &w).tripped, expected, "{condition}");
        }
    }

    #[test]
    fn every_metric_reads_its_own_field() {
        let mut w = empty_window(NOW, HOUR_MS);
        w.metrics.success_rate = Some(0.1);
        w.metrics.error_rate = Some(0.2);
        w.metrics.approval_rate = Some(0.3);
        w.metrics.rollback_rate = Some(0.4);
        w.failures = 5;
        w.metrics.commands_total = 6;
        w.metrics.by_status = StatusCounts {
            succeeded: 7,
            failed: 8,
            rejected: 9,
            rolled_back: 10,
        };
        w.incidents_by_severity = SeverityCounts {
            low: 14,
            medium: 13,
            high: 12,
            critical: 11,
        };
        w.critical_autonomous_incidents = 15;
        let expected = [
            0.1, 0.2, 0.3, 0.4, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0,
        ];
        for ((name, _), value) in METRICS.iter().zip(expected) {
            let verdict = eval(&format!("{name} == {value}"), &w);
            assert!(verdict.tripped, "{name}: {}", verdict.reason);
            assert_eq!(verdict.observed, Some(value), "{name}");
        }
    }

    #[test]
    fn and_or_not_and_parentheses() {
        let mut w = window(100, 8);
        w.incidents_by_severity.high = 2;
        assert!(eval("errorRate > 0.05 and failures >= 3", &w).tripped);
        assert!(!eval("errorRate > 0.05 and failures >= 30", &w).tripped);
        assert!(eval("errorRate > 0.50 or failures >= 3", &w).tripped);
        assert!(!eval("errorRate > 0.50 or failures >= 30", &w).tripped);
        assert!(!eval("not errorRate > 0.05", &w).tripped);
        assert!(eval("not not errorRate > 0.05", &w).tripped);

        // `and` binds tighter than `or`: true or (false and false).
        assert!(eval("failures >= 3 or errorRate > 0.5 and highIncidents > 5", &w).tripped);
        // Parentheses override it: (true or false) and false.
        assert!(
            !eval(
                "(failures >= 3 or errorRate > 0.5) and highIncidents > 5",
                &w
            )
            .tripped
        );
        // `not` binds tighter than `and`: (not false) and true.
        assert!(eval("not errorRate > 0.5 and failures >= 3", &w).tripped);
        assert!(!eval("not (errorRate > 0.05 and failures >= 3)", &w).tripped);
        assert!(eval("((failures >= 3))", &w).tripped);
    }

    #[test]
    fn compound_reasons_write_in_every_value_and_keep_needed_parentheses() {
        let mut w = window(100, 8);
        w.incidents_by_severity.high = 2;
        let verdict = eval(
            "(highIncidents > 5 or errorRate > 0.05) and failures >= 3",
            &w,
        );
        assert!(verdict.tripped);
        assert_eq!(
            verdict.observed,
            Some(2.0),
            "the first metric written is highIncidents"
        );
        assert_eq!(
            verdict.reason,
            "(highIncidents 2 > 5 or errorRate 0.0800 > 0.05) and failures 8 >= 3"
        );
        let calm = eval("not failures >= 3 or highIncidents > 5", &w);
        assert!(!calm.tripped);
        assert_eq!(
            calm.reason,
            "(not failures 8 >= 3 or highIncidents 2 > 5) is false"
        );
    }

    #[test]
    fn a_rate_with_no_data_compares_false() {
        let w = window(0, 0);
        let verdict = eval("errorRate > 0.05", &w);
        assert!(!verdict.tripped);
        assert_eq!(verdict.observed, None);
        assert_eq!(verdict.reason, "errorRate has no data");
        // Every operator is false, including the ones that "look" safe...
        assert!(!eval("errorRate <= 0.05", &w).tripped);
        assert!(!eval("successRate != 1", &w).tripped);
        // ...so negating a comparison on a missing rate is true.
        let negated = eval("not errorRate > 0.05", &w);
        assert!(negated.tripped);
        assert_eq!(negated.observed, None);
        assert_eq!(negated.reason, "not errorRate (no data) > 0.05");
        // Counts always have data.
        assert_eq!(
            eval("failures >= 3 or errorRate > 0.05", &w).observed,
            Some(0.0)
        );
    }

    /// A window whose commands reported durations with these percentiles.
    fn timed(p50: f64, p95: f64, p99: f64) -> MetricsWindow {
        let mut w = window(100, 0);
        w.p50_duration_ms = Some(p50);
        w.p95_duration_ms = Some(p95);
        w.p99_duration_ms = Some(p99);
        w
    }

    #[test]
    fn latency_percentiles_trip_above_a_threshold() {
        let slow = eval("p95DurationMs > 2500", &timed(400.0, 3100.0, 9000.0));
        assert!(slow.tripped);
        assert_eq!(slow.observed, Some(3100.0));
        assert_eq!(slow.reason, "p95DurationMs 3100 > 2500");

        let calm = eval("p95DurationMs > 2500", &timed(400.0, 2500.0, 9000.0));
        assert!(!calm.tripped);
        assert_eq!(calm.observed, Some(2500.0));
        assert_eq!(calm.reason, "p95DurationMs 2500 > 2500 is false");

        // Each name reads its own percentile.
        let w = timed(100.0, 200.0, 300.0);
        assert_eq!(eval("p50DurationMs == 100", &w).observed, Some(100.0));
        assert!(
            eval(
                "p50DurationMs == 100 and p95DurationMs == 200 and p99DurationMs == 300",
                &w
            )
            .tripped
        );
        assert!(eval("p99DurationMs >= 300 and errorRate < 0.05", &w).tripped);
    }

    #[test]
    fn a_percentile_with_no_durations_compares_false_as_a_rate_does() {
        // Commands ran, but none reported a duration: no latency data.
        let w = window(100, 0);
        let verdict = eval("p95DurationMs > 2500", &w);
        assert!(!verdict.tripped);
        assert_eq!(verdict.observed, None);
        assert_eq!(verdict.reason, "p95DurationMs has no data");
        // Every operator is false, as for a rate with no data...
        assert!(!eval("p95DurationMs <= 2500", &w).tripped);
        assert!(!eval("p99DurationMs != 0", &w).tripped);
        assert!(!eval("p50DurationMs == 0", &w).tripped);
        // ...and a negated comparison is true.
        let negated = eval("not p95DurationMs > 2500", &w);
        assert!(negated.tripped);
        assert_eq!(negated.reason, "not p95DurationMs (no data) > 2500");
        assert_eq!(
            eval("successRate != 1", &window(0, 0)).tripped,
            eval("p95DurationMs != 1", &window(0, 0)).tripped
        );
    }

    #[test]
    fn validation_errors_say_where_and_what() {
        let known = "successRate, errorRate, approvalRate, rollbackRate, failures, commandsTotal, \
                     succeeded, failed, rejected, rolledBack, criticalIncidents, highIncidents, \
                     mediumIncidents, lowIncidents, criticalAutonomousIncidents, p50DurationMs, \
                     p95DurationMs, p99DurationMs";
        assert_eq!(
            error("errRate > 0.05"),
            format!("unknown metric `errRate` at 0 (known: {known})")
        );
        assert_eq!(
            error("failures >= 3 and errorrate > 1"),
            format!("unknown metric `errorrate` at 18 (known: {known})")
        );
        assert_eq!(
            error("errorRate > high"),
            "expected a number after `>` at 12, found `high`"
        );
        assert_eq!(
            error("errorRate >"),
            "expected a number after `>` at 11, found the end of the condition"
        );
        assert_eq!(
            error("errorRate 0.05"),
            "expected a comparison operator (>, >=, <, <=, ==, !=) after `errorRate` at 10, found `0.05`"
        );
        assert_eq!(
            error("(errorRate > 0.05"),
            "unbalanced parenthesis: `(` at 0 is never closed"
        );
        assert_eq!(
            error("errorRate > 0.05)"),
            "unbalanced parenthesis: `)` at 16 has no matching `(`"
        );
        assert_eq!(
            error("(errorRate > 0.05 failures > 1)"),
            "expected `and`, `or` or `)` at 18, found `failures`"
        );
        assert_eq!(
            error("errorRate > 0.05 failures > 1"),
            "unexpected `failures` at 17 after a complete condition; join conditions with `and` or `or`"
        );
        assert_eq!(
            error("errorRate > 0.05 and"),
            "expected a metric, `not` or `(` at 20, found the end of the condition"
        );
        assert_eq!(
            error("and failures > 1"),
            "expected a metric, `not` or `(` at 0, found `and`"
        );
        assert_eq!(
            error("()"),
            "expected a metric, `not` or `(` at 1, found `)`"
        );
        assert_eq!(
            error("failures = 3"),
            "`=` at 9 is not an operator; use `==`"
        );
        assert_eq!(
            error("!failures > 3"),
            "`!` at 0 is not an operator; use `not` or `!=`"
        );
        assert_eq!(error("failures > 1.2.3"), "invalid number `1.2.3` at 11");
        assert_eq!(
            error("failures > 3 & failed > 1"),
            "unexpected character `&` at 13"
        );
        // Positions count characters, not bytes.
        assert_eq!(error("é"), "unexpected character `é` at 0");
        assert_eq!(error("  \u{e9}"), "unexpected character `é` at 2");
    }

    #[test]
    fn a_missing_condition_is_a_validation_error() {
        let expected = "`condition` is required, e.g. `errorRate > 0.05`";
        assert_eq!(
            Expression::validate(&parse_params("").unwrap()).unwrap_err(),
            expected
        );
        assert_eq!(error("   "), expected);
        // Evaluation refuses it too rather than guessing.
        let params = Params::default();
        assert_eq!(
            Expression::evaluate(&window(1, 0), &params).unwrap_err(),
            expected
        );
        assert!(parse_params::<Params>(r#"{"expr": "failures > 1"}"#).is_err());
    }

    /// Found by fuzzing: each `not` or `(` was a frame of recursion, so a
    /// condition of a few thousand of them overflowed the stack.
    #[test]
    fn nesting_and_length_are_bounded() {
        let nested = |n: usize| format!("{}failures > 3{}", "(".repeat(n), ")".repeat(n));
        let w = window(10, 4);
        assert!(eval(&nested(MAX_NESTING), &w).tripped);
        assert_eq!(
            error(&nested(MAX_NESTING + 1)),
            format!("`not` and parentheses nest deeper than {MAX_NESTING} levels at {MAX_NESTING}")
        );
        let nots = format!("{}failures > 3", "not ".repeat(MAX_NESTING));
        assert!(eval(&nots, &w).tripped, "an even number of `not`s");
        assert!(error(&format!("not {nots}")).contains("nest deeper than 32 levels at 128"));
        // Deep nesting of the kind that overflowed: refused, not a crash.
        assert!(error(&nested(100_000)).contains("characters long; at most 1000"));
        assert!(error(&"(".repeat(900)).contains("nest deeper"));

        let chain = |n: usize| vec!["failures > 3"; n].join(" and ");
        let longest = MAX_CONDITION_CHARS / "failures > 3 and ".len();
        assert!(eval(&chain(longest), &w).tripped);
        let too_long = chain(longest + 2);
        assert_eq!(
            error(&too_long),
            format!(
                "`condition` is {} characters long; at most {MAX_CONDITION_CHARS}",
                too_long.chars().count()
            )
        );
    }

    #[test]
    fn the_fuzz_target_accepts_every_kind_of_condition() {
        for condition in [
            "errorRate > 0.05",
            "not (failures >= 3 or successRate < 0.5)",
            "bogus > 1",
            "((",
            "",
            "\u{0}",
        ] {
            fuzz(condition.as_bytes());
        }
        fuzz(&[0xff, 0xfe]);
    }
}
