//! Set-based writing of the read models: the writes of a transaction's
//! events are gathered, then sent as a few multi-row statements instead of
//! one or more statements per event.
//!
//! Every write names the row (or rows) it touches by its table and the
//! leading arguments of its statement (the row's key, or a prefix of it).
//! Writes to one row keep their order; writes to different rows commute,
//! since no read-model statement reads another row. So the writes are laid
//! out in layers — a row's first write in layer 0, its second in layer 1,
//! and so on — and each layer runs as one statement per shape over all its
//! rows: a rebuild's thousand registrations become one or a few statements
//! rather than a thousand round trips (through sqlx, each statement is a
//! hand-off to SQLite's worker thread or a network round trip to
//! PostgreSQL). SQLite gets `INSERT … VALUES (?, …), (?, …)`; PostgreSQL
//! one array per column, `INSERT … SELECT * FROM unnest($1::text[], …)`,
//! and rows that are only ever added (`Shape::appends`) copied in with
//! `COPY … FROM STDIN`.

use std::collections::HashMap;
use std::io::Write as _;

/// One argument of a write.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Value {
    Text(String),
    Int(i64),
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Self::Text(s.clone())
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Self {
        Self::Int(i64::from(n))
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Self::Int(i64::from(n))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Int(i64::from(b))
    }
}

/// The form of a write: what one row's statement would be, from which the
/// statement for many rows is made.
#[derive(Debug)]
pub(crate) struct Shape {
    table: &'static str,
    kind: Kind,
    /// How many leading arguments name the row(s) written: writes to a
    /// table with equal ones are applied in order. Every shape of a table
    /// uses the same count.
    group: usize,
    /// Arguments per row.
    arity: usize,
    /// For an insert made by folding updates into it (`fold`): the
    /// columns its conflict clause sets from the row it brings.
    sets_on_conflict: &'static [&'static str],
}

#[derive(Debug)]
enum Kind {
    /// `INSERT INTO table (columns) VALUES (…) <tail>`; `tail` is the
    /// `ON CONFLICT` clause.
    Insert {
        columns: &'static [&'static str],
        tail: &'static str,
    },
    /// `UPDATE table SET <set> WHERE key = …`: the first arguments are the
    /// key's columns, and `set` names arguments `$1`, `$2`, ….
    Update {
        key: &'static [&'static str],
        set: &'static str,
    },
    /// `DELETE FROM table WHERE key = …`.
    Delete { key: &'static [&'static str] },
}

impl Shape {
    /// An insert whose first `group` columns name the row.
    pub(crate) const fn insert(
        table: &'static str,
        columns: &'static [&'static str],
        group: usize,
        tail: &'static str,
    ) -> Self {
        Self {
            table,
            kind: Kind::Insert { columns, tail },
            group,
            arity: columns.len(),
            sets_on_conflict: &[],
        }
    }

    /// An update of the row with `key`, taking `arity` arguments (the key's
    /// first) named `$1`… in `set`.
    pub(crate) const fn update(
        table: &'static str,
        key: &'static [&'static str],
        arity: usize,
        set: &'static str,
    ) -> Self {
        Self {
            table,
            kind: Kind::Update { key, set },
            group: key.len(),
            arity,
            sets_on_conflict: &[],
        }
    }

    /// A delete of the rows whose leading key columns are `key`.
    pub(crate) const fn delete(table: &'static str, key: &'static [&'static str]) -> Self {
        Self {
            table,
            kind: Kind::Delete { key },
            group: key.len(),
            arity: key.len(),
            sets_on_conflict: &[],
        }
    }

    /// For an insert with a conflict clause on the columns that name the
    /// row, what it does then, its spaces made single: `DO NOTHING`,
    /// `DO UPDATE SET …`.
    fn on_own_key_conflict(&self) -> Option<String> {
        let Kind::Insert { columns, tail } = &self.kind else {
            return None;
        };
        let tail = tail.split_whitespace().collect::<Vec<_>>().join(" ");
        let clause = format!("ON CONFLICT ({}) ", columns.get(..self.group)?.join(", "));
        tail.strip_prefix(&clause).map(str::to_owned)
    }

    /// For an insert with no conflict clause — rows only ever added, each
    /// once — its columns.
    fn appends(&self) -> Option<&'static [&'static str]> {
        match self.kind {
            Kind::Insert { columns, tail } if tail.trim().is_empty() => Some(columns),
            _ => None,
        }
    }

    /// Whether this is an insert of rows unless they are there:
    /// `ON CONFLICT (key) DO NOTHING`, the key being the columns that name
    /// the row.
    fn inserts_unless_there(&self) -> bool {
        self.sets_on_conflict.is_empty()
            && self.on_own_key_conflict().as_deref() == Some("DO NOTHING")
    }

    /// For an insert that sets columns from the row it brings if its row
    /// is there — `ON CONFLICT (key) DO UPDATE SET c = excluded.c, …`, the
    /// key being the columns that name the row — those columns.
    fn upserts(&self) -> Option<Vec<&'static str>> {
        let Kind::Insert { columns, .. } = &self.kind else {
            return None;
        };
        let action = self.on_own_key_conflict()?;
        action
            .strip_prefix("DO UPDATE SET ")?
            .split(", ")
            .map(|set| {
                let (column, value) = set.split_once(" = ")?;
                let column = columns.iter().find(|c| **c == column)?;
                (value.strip_prefix("excluded.")? == *column).then_some(*column)
            })
            .collect()
    }

    /// `NOT EXISTS (…)`: no row of the table has the key of `v`'s row.
    fn not_there(&self, columns: &[&str]) -> String {
        let matches: Vec<String> = columns[..self.group]
            .iter()
            .map(|k| format!("there.{k} = v.{k}"))
            .collect();
        format!(
            "NOT EXISTS (SELECT 1 FROM {} AS there WHERE {})",
            self.table,
            matches.join(" AND ")
        )
    }

    /// The statement for `rows` rows with anonymous placeholders (`?`),
    /// for SQLite: it finds a numbered parameter by a linear search through
    /// the named ones, and sqlx asks for each parameter's name, so binding
    /// n numbered ones costs n² (measured: at 400 per statement, a sixth of
    /// a rebuild's time).
    fn sql(&self, rows: usize) -> String {
        let mut values = String::new();
        for r in 0..rows {
            if r > 0 {
                values.push_str(", ");
            }
            values.push('(');
            for a in 0..self.arity {
                if a > 0 {
                    values.push_str(", ");
                }
                values.push('?');
            }
            values.push(')');
        }
        let table = self.table;
        match &self.kind {
            Kind::Insert { columns, tail } => {
                format!(
                    "INSERT INTO {table} ({}) VALUES {values} {tail}",
                    columns.join(", ")
                )
            }
            Kind::Update { key, set } => {
                let matches: Vec<String> = key
                    .iter()
                    .enumerate()
                    .map(|(i, k)| format!("{table}.{k} = v.column{}", i + 1))
                    .collect();
                format!(
                    "UPDATE {table} SET {} FROM (VALUES {values}) AS v WHERE {}",
                    columns_of_v(set),
                    matches.join(" AND ")
                )
            }
            Kind::Delete { key } => {
                if key.len() == 1 {
                    // `k IN ($1, $2, …)`: one column needs no row values.
                    let list = values.replace(['(', ')'], "");
                    format!("DELETE FROM {table} WHERE {} IN ({list})", key[0])
                } else {
                    format!(
                        "DELETE FROM {table} WHERE ({}) IN (VALUES {values})",
                        key.join(", ")
                    )
                }
            }
        }
    }

    /// The statement for PostgreSQL: one array parameter per argument,
    /// of the given element types, taken apart by `unnest`, so the
    /// statement is the same whatever the number of rows and the server
    /// parses a handful of parameters, not thousands.
    fn array_sql(&self, types: &[&str]) -> String {
        let arrays: Vec<String> = types
            .iter()
            .enumerate()
            .map(|(i, t)| format!("${}::{t}[]", i + 1))
            .collect();
        let unnest = format!("unnest({})", arrays.join(", "));
        let table = self.table;
        match &self.kind {
            Kind::Insert { columns, .. } if self.inserts_unless_there() => {
                // What `ON CONFLICT (key) DO NOTHING` means, without its
                // speculative insertion, which doubled the server's work
                // per row (measured: 1,000,000 audit rows, 4.5 s against
                // 2.6 s). The key is unique among a statement's rows
                // (`plan`), and the read models have one writer; were there
                // another, a row it added meanwhile fails the transaction,
                // which is tried again, rather than being lost.
                let list = columns.join(", ");
                format!(
                    "INSERT INTO {table} ({list}) SELECT * FROM {unnest} AS v({list}) WHERE {}",
                    self.not_there(columns)
                )
            }
            Kind::Insert { columns, .. } if let Some(sets) = self.upserts() => {
                // `ON CONFLICT (key) DO UPDATE SET c = excluded.c, …` the
                // same way: the rows there are updated, the others
                // inserted, both seeing the table as it was before the
                // statement.
                let list = columns.join(", ");
                let matches: Vec<String> = columns[..self.group]
                    .iter()
                    .map(|k| format!("{table}.{k} = v.{k}"))
                    .collect();
                let sets: Vec<String> = sets.iter().map(|c| format!("{c} = v.{c}")).collect();
                format!(
                    "WITH v AS (SELECT * FROM {unnest} AS v({list})), \
                     updated AS (UPDATE {table} SET {} FROM v WHERE {}) \
                     INSERT INTO {table} ({list}) SELECT * FROM v WHERE {}",
                    sets.join(", "),
                    matches.join(" AND "),
                    self.not_there(columns)
                )
            }
            Kind::Insert { columns, tail } => format!(
                "INSERT INTO {table} ({}) SELECT * FROM {unnest} {tail}",
                columns.join(", ")
            ),
            Kind::Update { key, set } => {
                let names: Vec<String> = (1..=self.arity).map(|i| format!("column{i}")).collect();
                let matches: Vec<String> = key
                    .iter()
                    .enumerate()
                    .map(|(i, k)| format!("{table}.{k} = v.column{}", i + 1))
                    .collect();
                format!(
                    "UPDATE {table} SET {} FROM {unnest} AS v({}) WHERE {}",
                    columns_of_v(set),
                    names.join(", "),
                    matches.join(" AND ")
                )
            }
            Kind::Delete { key } => format!(
                "DELETE FROM {table} WHERE ({}) IN (SELECT * FROM {unnest})",
                key.join(", ")
            ),
        }
    }
}

/// The rows' `a`-th arguments as one array argument (bound in
/// PostgreSQL's binary form: the server takes it as it is, where a text
/// literal had to be parsed — measured in the server alone, 1,000,000
/// audit rows in 2,000-row statements: 6.0–6.4 s from literals, 3.2–3.4 s
/// from arrays), and its element type; `None` if they are not all of one
/// type. The values are taken out of the rows.
fn column_of(rows: &mut [Vec<Value>], a: usize) -> Option<(Arg, &'static str)> {
    match rows.first()?.get(a)? {
        Value::Text(_) => rows
            .iter_mut()
            .map(|row| match row.get_mut(a) {
                Some(Value::Text(t)) => Some(std::mem::take(t)),
                _ => None,
            })
            .collect::<Option<Vec<String>>>()
            .map(|texts| (Arg::Texts(texts), "text")),
        Value::Int(_) => rows
            .iter()
            .map(|row| match row.get(a) {
                Some(Value::Int(n)) => Some(*n),
                _ => None,
            })
            .collect::<Option<Vec<i64>>>()
            .map(|ints| (Arg::Ints(ints), "bigint")),
    }
}

/// `rows` in the text format of `COPY … FROM STDIN`: a line per row, its
/// values apart by tabs, with `\`, tab, newline and carriage return
/// escaped.
fn copy_text(rows: &[Vec<Value>]) -> Vec<u8> {
    let size: usize = rows
        .iter()
        .flatten()
        .map(|v| match v {
            Value::Text(t) => t.len() + 1,
            Value::Int(_) => 21,
        })
        .sum();
    let mut out = Vec::with_capacity(size);
    for row in rows {
        for (i, value) in row.iter().enumerate() {
            if i > 0 {
                out.push(b'\t');
            }
            match value {
                Value::Text(t)
                    if !t
                        .bytes()
                        .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r')) =>
                {
                    out.extend_from_slice(t.as_bytes());
                }
                Value::Text(t) => {
                    for &b in t.as_bytes() {
                        match b {
                            b'\\' => out.extend_from_slice(b"\\\\"),
                            b'\t' => out.extend_from_slice(b"\\t"),
                            b'\n' => out.extend_from_slice(b"\\n"),
                            b'\r' => out.extend_from_slice(b"\\r"),
                            _ => out.push(b),
                        }
                    }
                }
                Value::Int(n) => {
                    let _ = write!(out, "{n}");
                }
            }
        }
        out.push(b'\n');
    }
    out
}

/// `set` with each `$n` written `v.column<n>`: the n-th column of the
/// `VALUES` list the update joins (both databases name them so).
fn columns_of_v(set: &str) -> String {
    let mut out = String::with_capacity(set.len() + 32);
    let mut chars = set.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push_str("v.column");
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                out.push(d);
                chars.next();
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Most rows in one SQLite statement, and most arguments.
const MAX_ROWS: usize = 256;
const MAX_ARGUMENTS: usize = 2048;
/// Most rows in one PostgreSQL statement (its arguments are arrays).
const MAX_ARRAY_ROWS: usize = 10_000;

/// How PostgreSQL plans a transaction's writes: once per connection, not
/// at every run (a custom plan parses each array argument a second time to
/// count its rows: a tenth of the server's work in a rebuild), and always
/// as a lookup by key per row. An update or delete joins its rows to the
/// table, and a plan made while the table was small — a fresh install, a
/// rebuild's start — would otherwise scan the whole table at every run
/// once it is large (measured: half a rebuild's time). Local to the
/// transaction: the dashboard's reads are planned as usual.
const PLANS: &str = "SELECT set_config('plan_cache_mode', 'force_generic_plan', true), \
     set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true), \
     set_config('enable_mergejoin', 'off', true)";

/// One statement's worth of writes: a shape and its rows' arguments.
type Statement = (&'static Shape, Vec<Vec<Value>>);

/// The writes of one transaction, in the order they were made.
#[derive(Default)]
pub(crate) struct Writes {
    pending: Vec<(&'static Shape, Vec<Value>)>,
}

impl Writes {
    /// Adds one row's write.
    pub(crate) fn push(&mut self, shape: &'static Shape, args: Vec<Value>) {
        debug_assert_eq!(
            args.len(),
            shape.arity,
            "arguments of a {} write",
            shape.table
        );
        self.pending.push((shape, args));
    }

    /// The statements that make every write gathered, in layers, and
    /// forgets the writes. It needs no database, so it can be done while
    /// another transaction runs.
    pub(crate) fn statements(&mut self, dialect: Dialect) -> Result<Vec<Sql>, sqlx::Error> {
        let mut statements = Vec::new();
        let plan = self.plan()?;
        if dialect == Dialect::Postgres && !plan.is_empty() {
            statements.push(Sql::Query {
                text: PLANS.to_owned(),
                args: Vec::new(),
            });
        }
        for (shape, rows) in plan {
            match dialect {
                Dialect::Sqlite => values_statements(shape, rows, &mut statements),
                Dialect::Postgres => match shape.appends() {
                    Some(columns) => statements.push(copy_statement(shape.table, columns, &rows)),
                    None => {
                        let mut rows = rows;
                        for chunk in rows.chunks_mut(MAX_ARRAY_ROWS) {
                            statements.push(array_statement(shape, chunk)?);
                        }
                    }
                },
            }
        }
        Ok(statements)
    }

    /// The statements to send, in order: per layer, each shape with its
    /// rows (in the order written). An update that follows its row's
    /// insert is folded into it where it can be (`fold`), so the row is
    /// written once, as it ends up.
    fn plan(&mut self) -> Result<Vec<Statement>, sqlx::Error> {
        // Rows are told apart by a hash of their table and key, not the
        // key itself (no copy per write): two rows with one hash are only
        // kept in order as if they were one, which is never wrong. Folding
        // compares the keys themselves.
        use std::hash::BuildHasher as _;
        let hasher = std::hash::RandomState::new();
        struct Entry {
            shape: &'static Shape,
            args: Vec<Value>,
            layer: usize,
        }
        let mut entries: Vec<Entry> = Vec::with_capacity(self.pending.len());
        // A row's hash → its last entry, and how many layers it has.
        let mut rows: HashMap<u64, (usize, usize)> = HashMap::new();
        let mut groups: HashMap<&'static str, usize> = HashMap::new();
        for (shape, args) in self.pending.drain(..) {
            if *groups.entry(shape.table).or_insert(shape.group) != shape.group {
                return Err(sqlx::Error::Protocol(format!(
                    "the writes to {} name their rows by different columns",
                    shape.table
                )));
            }
            let row = hasher.hash_one((shape.table, &args[..shape.group]));
            let layer = match rows.get_mut(&row) {
                Some((last, layers)) => {
                    let prev = &mut entries[*last];
                    if prev.shape.table == shape.table
                        && prev.args[..shape.group] == args[..shape.group]
                        && let Some(fold) = fold(prev.shape, shape)
                    {
                        fold.apply(&mut prev.args, &args);
                        prev.shape = &fold.shape;
                        continue;
                    }
                    *last = entries.len();
                    *layers += 1;
                    *layers - 1
                }
                None => {
                    rows.insert(row, (entries.len(), 1));
                    0
                }
            };
            entries.push(Entry { shape, args, layer });
        }
        // (layer, shape) → its rows; shapes keyed by address, as each is
        // one static.
        let mut layers: Vec<Vec<Statement>> = Vec::new();
        for Entry { shape, args, layer } in entries {
            if layers.len() <= layer {
                layers.resize_with(layer + 1, Vec::new);
            }
            let statements = &mut layers[layer];
            match statements.iter_mut().find(|(s, _)| std::ptr::eq(*s, shape)) {
                Some((_, rows)) => rows.push(args),
                None => statements.push((shape, vec![args])),
            }
        }
        Ok(layers.into_iter().flatten().collect())
    }
}

/// An update folded into an insert of its row: the insert, made to bring
/// the values the update sets and to set them on conflict too, and where
/// each of those values goes.
///
/// Inserting a row unless it is there, then setting some of its columns,
/// is the same as inserting it with those columns' new values and, if it
/// is there, setting them: `INSERT … ON CONFLICT (key) DO NOTHING` then
/// `UPDATE … SET c = v` becomes `INSERT … (…, v) ON CONFLICT (key) DO
/// UPDATE SET c = excluded.c`. A row registered and then reported on in
/// one transaction — most of a rebuild's — is written once instead of
/// twice.
#[derive(Debug)]
struct Fold {
    shape: Shape,
    /// (the folded insert's argument, the value the update gives it).
    moves: Vec<(usize, Assigned)>,
}

#[derive(Debug)]
enum Assigned {
    /// The update's argument at this index.
    Argument(usize),
    Literal(Value),
}

impl Fold {
    fn apply(&self, row: &mut Vec<Value>, update: &[Value]) {
        // Columns the insert did not have are each given by a move.
        row.resize(self.shape.arity, Value::Int(0));
        for (at, value) in &self.moves {
            row[*at] = match value {
                Assigned::Argument(i) => update[*i].clone(),
                Assigned::Literal(v) => v.clone(),
            };
        }
    }
}

/// `update` folded into `insert`, or `None` where it cannot be: the insert
/// must do nothing on a conflict of its row's key (or be such an insert
/// with updates folded in already), and the update must set columns other
/// than the key to its arguments or to plain literals.
///
/// Folds are made once per pair of shapes and kept for the life of the
/// process: the shapes are statics, and so are the folds of them, so there
/// are only ever a handful.
fn fold(insert: &'static Shape, update: &'static Shape) -> Option<&'static Fold> {
    use std::sync::{LazyLock, Mutex, PoisonError};
    type Folds = HashMap<(usize, usize), Option<&'static Fold>>;
    static FOLDS: LazyLock<Mutex<Folds>> = LazyLock::new(Mutex::default);
    if !matches!(insert.kind, Kind::Insert { .. }) || !matches!(update.kind, Kind::Update { .. }) {
        return None;
    }
    let pair = (
        std::ptr::from_ref(insert) as usize,
        std::ptr::from_ref(update) as usize,
    );
    *FOLDS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(pair)
        .or_insert_with(|| make_fold(insert, update).map(|f| &*Box::leak(Box::new(f))))
}

fn make_fold(insert: &Shape, update: &Shape) -> Option<Fold> {
    let (Kind::Insert { columns, .. }, Kind::Update { key, set }) = (&insert.kind, &update.kind)
    else {
        return None;
    };
    if insert.table != update.table || columns.get(..key.len())? != *key {
        return None;
    }
    let key_list = key.join(", ");
    if insert.sets_on_conflict.is_empty() && !insert.inserts_unless_there() {
        return None;
    }
    let mut columns: Vec<&'static str> = columns.to_vec();
    let mut sets: Vec<&'static str> = insert.sets_on_conflict.to_vec();
    let mut moves = Vec::new();
    for (column, value) in assignments(set, update.arity)? {
        if key.contains(&column) {
            return None;
        }
        let at = columns
            .iter()
            .position(|c| *c == column)
            .unwrap_or_else(|| {
                columns.push(column);
                columns.len() - 1
            });
        if !sets.contains(&column) {
            sets.push(column);
        }
        moves.push((at, value));
    }
    let tail = format!(
        "ON CONFLICT ({key_list}) DO UPDATE SET {}",
        sets.iter()
            .map(|c| format!("{c} = excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let arity = columns.len();
    Some(Fold {
        shape: Shape {
            table: insert.table,
            kind: Kind::Insert {
                columns: Box::leak(columns.into_boxed_slice()),
                tail: Box::leak(tail.into_boxed_str()),
            },
            group: insert.group,
            arity,
            sets_on_conflict: Box::leak(sets.into_boxed_slice()),
        },
        moves,
    })
}

/// The columns an update's `set` gives and what it gives each, if every
/// one is `column = $n` or `column = <integer or 'text'>`; `None` for
/// anything else (an expression, a column's own value).
fn assignments(set: &'static str, arity: usize) -> Option<Vec<(&'static str, Assigned)>> {
    set.split(',')
        .map(|piece| {
            let (column, value) = piece.split_once('=')?;
            let (column, value) = (column.trim(), value.trim());
            if column.is_empty()
                || !column
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return None;
            }
            let assigned = if let Some(n) = value.strip_prefix('$') {
                let n: usize = n.parse().ok()?;
                if n == 0 || n > arity {
                    return None;
                }
                Assigned::Argument(n - 1)
            } else if let Ok(i) = value.parse::<i64>() {
                Assigned::Literal(Value::Int(i))
            } else {
                let text = value.strip_prefix('\'')?.strip_suffix('\'')?;
                if text.contains('\'') {
                    return None;
                }
                Assigned::Literal(Value::Text(text.to_owned()))
            };
            Some((column, assigned))
        })
        .collect()
}

/// Which database the statements are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub(crate) fn of(connection: &sqlx::AnyConnection) -> Self {
        if connection.backend_name() == <sqlx::Sqlite as sqlx::Database>::NAME {
            Self::Sqlite
        } else {
            Self::Postgres
        }
    }
}

/// One statement, ready to send.
#[derive(Debug)]
pub(crate) enum Sql {
    Query {
        text: String,
        args: Vec<Arg>,
    },
    /// `COPY … FROM STDIN` (PostgreSQL) and its rows (`copy_text`).
    Copy {
        text: String,
        rows: Vec<u8>,
    },
}

/// One argument of a statement: a row's value, or (PostgreSQL) one column
/// of many rows.
#[derive(Debug, PartialEq)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
    Texts(Vec<String>),
    Ints(Vec<i64>),
}

impl From<Value> for Arg {
    fn from(v: Value) -> Self {
        match v {
            Value::Text(t) => Self::Text(t),
            Value::Int(n) => Self::Int(n),
        }
    }
}

/// `rows` in `VALUES` lists: full statements, then the remainder in powers
/// of two, so a shape has few distinct statements for the connection's
/// statement cache.
fn values_statements(shape: &Shape, rows: Vec<Vec<Value>>, out: &mut Vec<Sql>) {
    let per_statement = MAX_ROWS.min((MAX_ARGUMENTS / shape.arity.max(1)).max(1));
    let mut left = rows.len();
    let mut rows = rows.into_iter();
    while left > 0 {
        let n = if left >= per_statement {
            per_statement
        } else {
            1 << left.ilog2()
        };
        left -= n;
        out.push(Sql::Query {
            text: shape.sql(n),
            args: rows.by_ref().take(n).flatten().map(Arg::from).collect(),
        });
    }
}

/// `rows` in one statement of array parameters (PostgreSQL); their
/// values are taken out.
fn array_statement(shape: &Shape, rows: &mut [Vec<Value>]) -> Result<Sql, sqlx::Error> {
    let mut arrays = Vec::with_capacity(shape.arity);
    let mut types = Vec::with_capacity(shape.arity);
    for a in 0..shape.arity {
        let (column, kind) = column_of(rows, a).ok_or_else(|| {
            sqlx::Error::Protocol(format!(
                "the writes to {} mix types in argument {}",
                shape.table,
                a + 1
            ))
        })?;
        arrays.push(column);
        types.push(kind);
    }
    Ok(Sql::Query {
        text: shape.array_sql(&types),
        args: arrays,
    })
}

/// `rows` of an insert with no conflict clause, copied in (PostgreSQL):
/// the server's fastest way in, with no statement to plan or arrays to take
/// apart (measured in the server alone, 1,000,000 audit rows: 2.3–2.6 s,
/// against 3.2–3.4 s through `unnest` of arrays).
fn copy_statement(table: &str, columns: &[&str], rows: &[Vec<Value>]) -> Sql {
    Sql::Copy {
        text: format!("COPY {table} ({}) FROM STDIN", columns.join(", ")),
        rows: copy_text(rows),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::Writer;

    static INSERT: Shape = Shape::insert(
        "t",
        &["k", "a"],
        1,
        "ON CONFLICT (k) DO UPDATE SET a = excluded.a",
    );
    static UPDATE: Shape = Shape::update(
        "t",
        &["k"],
        3,
        "a = a + $2, b = CASE WHEN $3 <> '' THEN $3 ELSE b END",
    );
    static DELETE: Shape = Shape::delete("t", &["k"]);
    static DELETE_PAIR: Shape = Shape::delete("u", &["k", "l"]);

    #[test]
    fn statements_for_many_rows() {
        assert_eq!(
            INSERT.sql(2),
            "INSERT INTO t (k, a) VALUES (?, ?), (?, ?) ON CONFLICT (k) DO UPDATE SET a = excluded.a"
        );
        assert_eq!(
            UPDATE.sql(2),
            "UPDATE t SET a = a + v.column2, b = CASE WHEN v.column3 <> '' THEN v.column3 ELSE b END \
             FROM (VALUES (?, ?, ?), (?, ?, ?)) AS v WHERE t.k = v.column1"
        );
        assert_eq!(DELETE.sql(3), "DELETE FROM t WHERE k IN (?, ?, ?)");
        assert_eq!(
            DELETE_PAIR.sql(2),
            "DELETE FROM u WHERE (k, l) IN (VALUES (?, ?), (?, ?))"
        );
        assert_eq!(columns_of_v("x = $12 + $1"), "x = v.column12 + v.column1");
    }

    #[test]
    fn statements_of_arrays() {
        assert_eq!(
            UPDATE.array_sql(&["text", "bigint", "text"]),
            "UPDATE t SET a = a + v.column2, b = CASE WHEN v.column3 <> '' THEN v.column3 ELSE b END \
             FROM unnest($1::text[], $2::bigint[], $3::text[]) AS v(column1, column2, column3) \
             WHERE t.k = v.column1"
        );
        assert_eq!(
            REGISTER.array_sql(&["text", "text", "bigint"]),
            "INSERT INTO f (k, a, b) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) \
             AS v(k, a, b) WHERE NOT EXISTS (SELECT 1 FROM f AS there WHERE there.k = v.k)"
        );
        assert_eq!(
            INSERT.array_sql(&["text", "text"]),
            "WITH v AS (SELECT * FROM unnest($1::text[], $2::text[]) AS v(k, a)), \
             updated AS (UPDATE t SET a = v.a FROM v WHERE t.k = v.k) \
             INSERT INTO t (k, a) SELECT * FROM v \
             WHERE NOT EXISTS (SELECT 1 FROM t AS there WHERE there.k = v.k)"
        );
        static ADD: Shape = Shape::insert(
            "t",
            &["k", "a"],
            1,
            "ON CONFLICT (k) DO UPDATE SET a = t.a + excluded.a",
        );
        assert_eq!(
            ADD.array_sql(&["text", "bigint"]),
            "INSERT INTO t (k, a) SELECT * FROM unnest($1::text[], $2::bigint[]) \
             ON CONFLICT (k) DO UPDATE SET a = t.a + excluded.a"
        );
        assert_eq!(
            DELETE_PAIR.array_sql(&["text", "text"]),
            "DELETE FROM u WHERE (k, l) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
        );
    }

    #[test]
    fn columns_are_taken_out_of_rows_of_one_type() {
        let mut rows = vec![
            vec![Value::from("a"), Value::from(-3)],
            vec![Value::from(""), Value::from(7)],
        ];
        assert_eq!(
            column_of(&mut rows, 0),
            Some((Arg::Texts(vec!["a".to_owned(), String::new()]), "text"))
        );
        assert_eq!(
            column_of(&mut rows, 1),
            Some((Arg::Ints(vec![-3, 7]), "bigint"))
        );
        let mut mixed = vec![vec![Value::from("x")], vec![Value::from(1)]];
        assert_eq!(column_of(&mut mixed, 0), None);
    }

    #[test]
    fn copied_rows_escape_what_copy_reads_specially() {
        let rows = vec![
            vec![Value::from("plain"), Value::from(-3)],
            vec![Value::from("tab\there\nnew\rline \\ back"), Value::from(7)],
        ];
        assert_eq!(
            String::from_utf8(copy_text(&rows)).expect("UTF-8"),
            "plain\t-3\ntab\\there\\nnew\\rline \\\\ back\t7\n"
        );
    }

    #[test]
    fn a_rows_writes_keep_their_order_and_others_share_statements() {
        let mut w = Writes::default();
        w.push(&INSERT, vec!["a".into(), "1".into()]);
        w.push(&UPDATE, vec!["a".into(), 1.into(), "".into()]);
        w.push(&INSERT, vec!["b".into(), "2".into()]);
        w.push(&UPDATE, vec!["b".into(), 2.into(), "".into()]);
        w.push(&UPDATE, vec!["a".into(), 3.into(), "".into()]);
        w.push(&DELETE_PAIR, vec!["a".into(), "x".into()]);
        let plan = w.plan().expect("one grouping per table");
        let key = |v: &Value| match v {
            Value::Text(s) => s.clone(),
            Value::Int(i) => i.to_string(),
        };
        let shown: Vec<(&str, Vec<String>)> = plan
            .iter()
            .map(|(s, rows)| (s.table, rows.iter().map(|r| key(&r[0])).collect()))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("t", vec!["a".to_owned(), "b".to_owned()]),
                ("u", vec!["a".to_owned()]),
                ("t", vec!["a".to_owned(), "b".to_owned()]),
                ("t", vec!["a".to_owned()]),
            ]
        );
        assert!(std::ptr::eq(plan[0].0, &INSERT));
        assert!(std::ptr::eq(plan[2].0, &UPDATE));
        assert!(std::ptr::eq(plan[3].0, &UPDATE));
        let third = &plan[3].1[0];
        assert_eq!(third[1], Value::Int(3), "the row's last write comes last");
        assert!(w.pending.is_empty());
    }

    static REGISTER: Shape = Shape::insert("f", &["k", "a", "b"], 1, "ON CONFLICT (k)  DO NOTHING");
    static SET_B: Shape = Shape::update("f", &["k"], 2, "b = $2");
    static SET_C: Shape = Shape::update("f", &["k"], 2, "c = $2, b = 7, d = 'done'");
    static ADD_B: Shape = Shape::update("f", &["k"], 2, "b = b + $2");
    static SET_KEY: Shape = Shape::update("f", &["k"], 2, "k = $2");

    fn folds_of(writes: &[(&'static Shape, Vec<Value>)]) -> Vec<(String, Vec<Vec<Value>>)> {
        let mut w = Writes::default();
        for (shape, args) in writes {
            w.push(shape, args.clone());
        }
        w.plan()
            .expect("one grouping per table")
            .into_iter()
            .map(|(shape, rows)| (shape.sql(1), rows))
            .collect()
    }

    #[test]
    fn updates_fold_into_their_rows_insert() {
        let plan = folds_of(&[
            (&REGISTER, vec!["x".into(), "a".into(), 0.into()]),
            (&SET_B, vec!["x".into(), 5.into()]),
            (&SET_C, vec!["x".into(), "c".into()]),
            (&REGISTER, vec!["y".into(), "a".into(), 0.into()]),
            (&SET_B, vec!["y".into(), 6.into()]),
        ]);
        assert_eq!(
            plan,
            vec![
                (
                    "INSERT INTO f (k, a, b, c, d) VALUES (?, ?, ?, ?, ?) \
                     ON CONFLICT (k) DO UPDATE SET b = excluded.b, c = excluded.c, d = excluded.d"
                        .to_owned(),
                    vec![vec![
                        "x".into(),
                        "a".into(),
                        7.into(),
                        "c".into(),
                        "done".into()
                    ]],
                ),
                (
                    "INSERT INTO f (k, a, b) VALUES (?, ?, ?) \
                     ON CONFLICT (k) DO UPDATE SET b = excluded.b"
                        .to_owned(),
                    vec![vec!["y".into(), "a".into(), 6.into()]],
                ),
            ]
        );
    }

    #[test]
    fn what_cannot_fold_stays_in_order() {
        // An expression of the row's own value, the key itself, an insert
        // that updates on conflict, an update before the insert.
        let plan = folds_of(&[
            (&REGISTER, vec!["x".into(), "a".into(), 0.into()]),
            (&ADD_B, vec!["x".into(), 5.into()]),
            (&SET_B, vec!["x".into(), 6.into()]),
            (&SET_B, vec!["y".into(), 1.into()]),
            (&REGISTER, vec!["y".into(), "a".into(), 0.into()]),
            (&REGISTER, vec!["z".into(), "a".into(), 0.into()]),
            (&SET_KEY, vec!["z".into(), "w".into()]),
            (&INSERT, vec!["a".into(), "1".into()]),
        ]);
        let shown: Vec<(String, usize)> = plan
            .iter()
            .map(|(sql, rows)| (sql.clone(), rows.len()))
            .collect();
        assert_eq!(
            shown,
            vec![
                (REGISTER.sql(1), 2),
                (SET_B.sql(1), 1),
                (INSERT.sql(1), 1),
                (ADD_B.sql(1), 1),
                (REGISTER.sql(1), 1),
                (SET_KEY.sql(1), 1),
                (SET_B.sql(1), 1),
            ]
        );
    }

    /// Writes `writes` into a new table `f`, in one transaction or one
    /// transaction each; returns the rows.
    async fn rows_after(
        (pool, writer): &(sqlx::AnyPool, Writer),
        writes: &[(&'static Shape, Vec<Value>)],
        together: bool,
    ) -> Vec<(
        String,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<String>,
    )> {
        use sqlx::Executor as _;
        pool.execute("CREATE TABLE f (k TEXT PRIMARY KEY, a TEXT, b BIGINT, c TEXT, d TEXT)")
            .await
            .expect("table");
        pool.execute("INSERT INTO f (k, a, b) VALUES ('there', 'old', 1)")
            .await
            .expect("a row already there");
        let batches: Vec<&[(&'static Shape, Vec<Value>)]> = if together {
            vec![writes]
        } else {
            writes.chunks(1).collect()
        };
        for batch in batches {
            let mut w = Writes::default();
            for (shape, args) in batch {
                w.push(shape, args.clone());
            }
            let mut tx = writer.begin().await.expect("begin");
            tx.run(w.statements(writer.dialect()).expect("statements"))
                .await
                .expect("the writes run");
            tx.commit().await.expect("commit");
        }
        sqlx::query_as("SELECT k, a, b, c, d FROM f ORDER BY k")
            .fetch_all(pool)
            .await
            .expect("rows")
    }

    #[tokio::test]
    async fn folded_writes_leave_the_rows_that_writes_one_at_a_time_leave() {
        sqlx::any::install_default_drivers();
        let writes: Vec<(&'static Shape, Vec<Value>)> = vec![
            // A row already there: its insert does nothing, the update sets.
            (&REGISTER, vec!["there".into(), "new".into(), 0.into()]),
            (&SET_C, vec!["there".into(), "c".into()]),
            (&REGISTER, vec!["x".into(), "a".into(), 0.into()]),
            (&SET_B, vec!["x".into(), 5.into()]),
            (&SET_C, vec!["x".into(), "c".into()]),
            (&SET_B, vec!["x".into(), 9.into()]),
            (&REGISTER, vec!["y".into(), "a".into(), 2.into()]),
            (&ADD_B, vec!["y".into(), 3.into()]),
            (&SET_B, vec!["y".into(), 4.into()]),
            // Registered twice: the second insert does nothing.
            (&REGISTER, vec!["z".into(), "first".into(), 0.into()]),
            (&SET_B, vec!["z".into(), 1.into()]),
            (&REGISTER, vec!["z".into(), "second".into(), 0.into()]),
            (&SET_B, vec!["z".into(), 2.into()]),
            // Inserts alone: a new row, and one already written.
            (&REGISTER, vec!["w".into(), "late".into(), 0.into()]),
            (&REGISTER, vec!["y".into(), "again".into(), 0.into()]),
        ];
        let (postgres, schema) = postgres().await;
        let one_at_a_time = rows_after(&sqlite().await, &writes, false).await;
        assert_eq!(
            one_at_a_time,
            vec![
                (
                    "there".into(),
                    Some("old".into()),
                    Some(7),
                    Some("c".into()),
                    Some("done".into())
                ),
                ("w".into(), Some("late".into()), Some(0), None, None),
                (
                    "x".into(),
                    Some("a".into()),
                    Some(9),
                    Some("c".into()),
                    Some("done".into())
                ),
                ("y".into(), Some("a".into()), Some(4), None, None),
                ("z".into(), Some("first".into()), Some(2), None, None),
            ]
        );
        assert_eq!(
            rows_after(&sqlite().await, &writes, true).await,
            one_at_a_time,
            "SQLite"
        );
        assert_eq!(
            rows_after(&postgres, &writes, true).await,
            one_at_a_time,
            "PostgreSQL"
        );
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&postgres.0)
            .await
            .expect("drop schema");
    }

    /// A fresh schema of the test PostgreSQL, connected as the read models
    /// are: its pools, and its name.
    async fn postgres() -> ((sqlx::AnyPool, Writer), String) {
        let schema = hongxin_testkit::pg::fresh_schema();
        let db = crate::ProjectionDb::Postgres {
            url: hongxin_testkit::pg::url(),
            schema: schema.clone(),
        };
        let pools = crate::connect(&db).await.expect("the test PostgreSQL");
        ((pools.read, pools.write), schema)
    }

    /// One in-memory SQLite database: its pool, written through itself.
    async fn sqlite() -> (sqlx::AnyPool, Writer) {
        sqlx::any::install_default_drivers();
        // One connection: each of an in-memory database's is a database.
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .expect("SQLite");
        (pool.clone(), Writer::Sqlite(pool))
    }

    #[tokio::test]
    async fn appended_rows_arrive_as_written_on_both_databases() {
        static APPEND: Shape = Shape::insert("log", &["n", "t"], 1, "");
        let texts = [
            "plain",
            "",
            "tab\tnew\nline\rreturn",
            r#"back\slash \N "quoted" {braces}, commas"#,
            // COPY's NULL marker and end of data, each a whole value.
            r"\N",
            r"\.",
            "红新 · 齐河",
        ];
        let (postgres, schema) = postgres().await;
        for (pool, writer) in [sqlite().await, postgres.clone()] {
            sqlx::query("CREATE TABLE log (n BIGINT PRIMARY KEY, t TEXT NOT NULL)")
                .execute(&pool)
                .await
                .expect("table");
            let mut w = Writes::default();
            for (n, t) in texts.iter().enumerate() {
                w.push(&APPEND, vec![(n as i64).into(), (*t).into()]);
            }
            let statements = w.statements(writer.dialect()).expect("statements");
            if writer.dialect() == Dialect::Postgres {
                assert!(matches!(statements.last(), Some(Sql::Copy { .. })));
            }
            let mut tx = writer.begin().await.expect("begin");
            tx.run(statements).await.expect("the rows are written");
            tx.commit().await.expect("commit");
            let rows: Vec<String> = sqlx::query_scalar("SELECT t FROM log ORDER BY n")
                .fetch_all(&pool)
                .await
                .expect("rows");
            assert_eq!(rows, texts, "{:?}", writer.dialect());
        }
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&postgres.0)
            .await
            .expect("drop schema");
    }

    #[test]
    fn a_table_named_two_ways_is_refused() {
        static OTHER: Shape = Shape::delete("t", &["k", "a"]);
        let mut w = Writes::default();
        w.push(&INSERT, vec!["a".into(), "1".into()]);
        w.push(&OTHER, vec!["a".into(), "1".into()]);
        assert!(w.plan().is_err());
    }
}
