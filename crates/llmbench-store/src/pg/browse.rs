//! `llmbench view`'s reads on PostgreSQL: the queries of the `browse` module, with text
//! ordered bytewise (`COLLATE "C"`, as SQLite orders it) and the answer search
//! case-insensitive (`ILIKE`, as SQLite's `LIKE` is for ASCII letters).

use postgres::Row;
use postgres::types::ToSql;

use super::{Pg, attempt_of, to_i64};
use crate::{
    RunListing, RunStatus, SampleDetail, SampleFacets, SampleFilter, SamplePage, SampleRow, Store,
    StoreError, StoredGrade, VerdictFilter,
};

const ROW_COLUMNS: &str = "s.sample_id, s.task, s.item, s.provider, s.model, s.repeat,
    s.error_kind, s.verdict_pass, s.verdict_score, s.cost_usd, c.latency_seconds,
    substr(c.text, 1, 160)";

const DETAIL_COLUMNS: &str = "s.status, s.error_message, s.http_status, s.attempts,
    s.finished_at, c.text, c.stop_reason, c.response_model, c.input_tokens, c.output_tokens,
    c.ttft_seconds, q.request_json";

fn unsigned(n: Option<i64>) -> Option<u64> {
    n.map(|n| u64::try_from(n).unwrap_or_default())
}

fn sample_row(row: &Row) -> SampleRow {
    SampleRow {
        sample_id: row.get(0),
        task: row.get(1),
        item: row.get(2),
        provider: row.get(3),
        model: row.get(4),
        repeat: u32::try_from(row.get::<_, i64>(5)).unwrap_or(u32::MAX),
        error_kind: row.get(6),
        verdict_pass: row.get(7),
        verdict_score: row.get(8),
        cost_usd: row.get(9),
        latency_seconds: row.get(10),
        answer_start: row.get(11),
    }
}

impl Store {
    /// Makes this session refuse every write (`default_transaction_read_only`).
    pub(crate) fn pg_make_query_only(&self, pg: &Pg) -> Result<(), StoreError> {
        self.client(pg)?
            .batch_execute("SET default_transaction_read_only = on")
            .map_err(self.pg_err("make the connection read-only"))
    }

    pub(crate) fn pg_browse_runs(&self, pg: &Pg) -> Result<Vec<RunListing>, StoreError> {
        let rows = self
            .client(pg)?
            .query(
                "SELECT id, created_at, config_path, status, status_reason, finished_at,
                     providers_json, planned_samples, samples_deleted_at IS NOT NULL,
                     aggregated_at IS NOT NULL
                 FROM runs ORDER BY created_at DESC, seq DESC",
                &[],
            )
            .map_err(self.pg_err("list runs"))?;
        rows.iter()
            .map(|row| {
                let id: String = row.get(0);
                let status: String = row.get(3);
                let status: RunStatus = status.parse().map_err(|e| self.corrupt("runs", e))?;
                let (status, status_reason) = self.pg_live_status(pg, &id, status, row.get(4))?;
                let providers: String = row.get(6);
                let providers = serde_json::from_str(&providers).map_err(|e| {
                    self.corrupt("runs", format!("run `{id}`: column providers_json: {e}"))
                })?;
                let planned = unsigned(Some(row.get(7))).unwrap_or_default();
                let aggregated: bool = row.get(9);
                let totals =
                    self.pg_totals(pg, &id, planned, aggregated && status != RunStatus::Running)?;
                Ok(RunListing {
                    created_at: row.get(1),
                    config_path: row.get(2),
                    status,
                    status_reason,
                    finished_at: row.get(5),
                    providers,
                    totals,
                    samples_deleted: row.get(8),
                    id,
                })
            })
            .collect()
    }

    pub(crate) fn pg_sample_facets(
        &self,
        pg: &Pg,
        run_id: &str,
    ) -> Result<SampleFacets, StoreError> {
        let err = self.pg_err("read a run's sample values");
        let mut client = self.client(pg)?;
        let mut distinct = |sql: &str| -> Result<Vec<String>, StoreError> {
            Ok(client
                .query(sql, &[&run_id])
                .map_err(&err)?
                .iter()
                .map(|row| row.get(0))
                .collect())
        };
        Ok(SampleFacets {
            providers: distinct(
                "SELECT DISTINCT provider COLLATE \"C\" FROM samples WHERE run_id = $1 ORDER BY 1",
            )?,
            tasks: distinct(
                "SELECT DISTINCT task COLLATE \"C\" FROM samples WHERE run_id = $1 ORDER BY 1",
            )?,
            graders: distinct(
                "SELECT DISTINCT grader COLLATE \"C\" FROM grades WHERE run_id = $1 ORDER BY 1",
            )?,
            error_kinds: distinct(
                "SELECT DISTINCT error_kind COLLATE \"C\" FROM samples
                 WHERE run_id = $1 AND error_kind IS NOT NULL ORDER BY 1",
            )?,
        })
    }

    pub(crate) fn pg_browse_samples(
        &self,
        pg: &Pg,
        run_id: &str,
        filter: &SampleFilter,
    ) -> Result<SamplePage, StoreError> {
        let err = self.pg_err("read samples");
        let mut values: Vec<Box<dyn ToSql + Sync>> = vec![Box::new(run_id.to_owned())];
        let mut conditions = vec!["s.run_id = $1".to_owned()];
        let bind = |values: &mut Vec<Box<dyn ToSql + Sync>>, value: String| {
            values.push(Box::new(value));
            format!("${}", values.len())
        };
        for (column, value) in [
            ("s.provider", &filter.provider),
            ("s.task", &filter.task),
            ("s.item", &filter.item),
            ("s.error_kind", &filter.error_kind),
        ] {
            if let Some(value) = value {
                let n = bind(&mut values, value.clone());
                conditions.push(format!("{column} = {n}"));
            }
        }
        if let Some(verdict) = filter.verdict {
            conditions.push(
                match verdict {
                    VerdictFilter::Pass => "s.verdict_pass",
                    VerdictFilter::Fail => "NOT s.verdict_pass",
                    VerdictFilter::Error => "s.status = 'error'",
                    VerdictFilter::Ungraded => "s.status = 'done' AND s.verdict_pass IS NULL",
                }
                .to_owned(),
            );
        }
        if filter.grader.is_some() || filter.grade_outcome.is_some() {
            let mut grade = "EXISTS (SELECT 1 FROM grades g WHERE g.run_id = s.run_id
                 AND g.sample_id = s.sample_id"
                .to_owned();
            if let Some(grader) = &filter.grader {
                let n = bind(&mut values, grader.clone());
                grade.push_str(&format!(" AND g.grader = {n}"));
            }
            if let Some(outcome) = &filter.grade_outcome {
                let n = bind(&mut values, outcome.clone());
                grade.push_str(&format!(" AND g.outcome = {n}"));
            }
            grade.push(')');
            conditions.push(grade);
        }
        if let Some(text) = filter.text.as_deref().filter(|t| !t.is_empty()) {
            let escaped = text
                .replace('\\', r"\\")
                .replace('%', r"\%")
                .replace('_', r"\_");
            let n = bind(&mut values, format!("%{escaped}%"));
            conditions.push(format!(r"c.text ILIKE {n} ESCAPE '\'"));
        }
        let from = format!(
            "FROM samples s LEFT JOIN completions c
                 ON c.run_id = s.run_id AND c.sample_id = s.sample_id
             WHERE {}",
            conditions.join(" AND ")
        );
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
        let mut client = self.client(pg)?;
        let total: i64 = client
            .query_one(&format!("SELECT count(*) {from}"), &params)
            .map_err(&err)?
            .get(0);
        let (limit, offset) = (to_i64(filter.limit), to_i64(filter.offset));
        let mut page_params = params;
        page_params.push(&limit);
        page_params.push(&offset);
        let n = page_params.len();
        let rows = client
            .query(
                &format!(
                    "SELECT {ROW_COLUMNS} {from}
                     ORDER BY s.task COLLATE \"C\", s.provider COLLATE \"C\",
                         s.item COLLATE \"C\", s.repeat
                     LIMIT ${} OFFSET ${n}",
                    n - 1
                ),
                &page_params,
            )
            .map_err(&err)?;
        Ok(SamplePage {
            total: unsigned(Some(total)).unwrap_or_default(),
            rows: rows.iter().map(sample_row).collect(),
        })
    }

    /// The samples of a run meeting `condition` (on `$2`, and `$3` when given), with all
    /// that is stored about them, by provider and repeat.
    pub(crate) fn pg_details(
        &self,
        pg: &Pg,
        run_id: &str,
        condition: &str,
        first: &str,
        second: Option<&str>,
    ) -> Result<Vec<SampleDetail>, StoreError> {
        let err = self.pg_err("read a sample");
        let mut client = self.client(pg)?;
        let sql = format!(
            "SELECT {ROW_COLUMNS}, {DETAIL_COLUMNS}
             FROM samples s
             LEFT JOIN completions c ON c.run_id = s.run_id AND c.sample_id = s.sample_id
             LEFT JOIN requests q ON q.hash = s.request_hash
             WHERE s.run_id = $1 AND {condition}
             ORDER BY s.provider COLLATE \"C\", s.repeat"
        );
        let rows = match second {
            Some(second) => client.query(&sql, &[&run_id, &first, &second]),
            None => client.query(&sql, &[&run_id, &first]),
        }
        .map_err(&err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let sample = sample_row(row);
            let request_json: Option<String> = row.get(23);
            let request = request_json
                .as_deref()
                .map(crate::inputs::parse_request)
                .transpose()
                .map_err(|e| {
                    self.corrupt("requests", format!("sample {}: {e}", sample.sample_id))
                })?;
            let grades = client
                .query(
                    "SELECT grader, outcome, score, evidence, kind, input_tokens, output_tokens,
                         cost_usd
                     FROM grades WHERE run_id = $1 AND sample_id = $2 ORDER BY position",
                    &[&run_id, &sample.sample_id],
                )
                .map_err(&err)?
                .iter()
                .map(|g| StoredGrade {
                    grader: g.get(0),
                    outcome: g.get(1),
                    score: g.get(2),
                    evidence: g.get(3),
                    kind: g.get(4),
                    input_tokens: unsigned(g.get(5)),
                    output_tokens: unsigned(g.get(6)),
                    cost_usd: g.get(7),
                })
                .collect();
            let attempts = client
                .query(
                    "SELECT outcome, http_status, wait_seconds, duration_seconds FROM attempts
                     WHERE run_id = $1 AND sample_id = $2 ORDER BY attempt",
                    &[&run_id, &sample.sample_id],
                )
                .map_err(&err)?
                .iter()
                .map(attempt_of)
                .collect();
            out.push(SampleDetail {
                status: row.get(12),
                error_message: row.get(13),
                http_status: row
                    .get::<_, Option<i32>>(14)
                    .map(|s| u16::try_from(s).unwrap_or(u16::MAX)),
                attempts_count: u32::try_from(row.get::<_, i64>(15)).unwrap_or(u32::MAX),
                finished_at: row.get(16),
                answer: row.get(17),
                stop_reason: row.get(18),
                response_model: row.get(19),
                input_tokens: unsigned(row.get(20)),
                output_tokens: unsigned(row.get(21)),
                ttft_seconds: row.get(22),
                request,
                grades,
                attempts,
                row: sample,
            });
        }
        Ok(out)
    }
}
