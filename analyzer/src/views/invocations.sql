-- The `invocations` view: one row per request id, merging the fragments that different sources
-- reported (an OTLP span, a REPORT line, ...) with the same rules as the collector's
-- Invocation::merge: the platform report is trusted for what the platform measures, the span for
-- ids, trigger and precise times, a cold start seen by any source is a cold start (but a
-- source's evidence beats a cold start only inferred: cold_start_inferred, null in files of
-- schema versions before 3, whose cold starts were all evidence), and the most specific failure
-- status wins; a function's name beats 'unknown', the name of Lambda log lines
-- that named none. Files that compaction already merged pass through unchanged.
--
-- Merging millions of request ids is under every invocation query, so text columns use
-- max_text(x): max(x) without a copy of the value per group (max_text.rs). Other engines (DuckDB
-- in the benchmarks) run this view with max_text spelled max; a test checks both answer the same.
-- Trace and span ids are aggregated as BYTEA: DataFusion has a vectorized max only for variable-
-- length binary, and max of FixedSizeBinary made the merge about four times slower (benchmarks);
-- the session casts them back to the stored FixedSizeBinary types.
SELECT
  coalesce(max_text(CASE WHEN function_name <> 'unknown' THEN function_name END), max_text(function_name)) AS function_name,
  max_text(function_version) AS function_version,
  max_text(provider) AS provider,
  max_text(region) AS region,
  max_text(account_id) AS account_id,
  max_text(runtime) AS runtime,
  max_text(architecture) AS architecture,
  coalesce(max(CASE WHEN strpos(sources, 'platform_report') > 0 THEN memory_size_mb END), max(memory_size_mb)) AS memory_size_mb,
  request_id,
  coalesce(max(CASE WHEN strpos(sources, 'otlp_span') > 0 THEN CAST(trace_id AS BYTEA) END), max(CAST(trace_id AS BYTEA))) AS trace_id,
  coalesce(max(CASE WHEN strpos(sources, 'otlp_span') > 0 THEN CAST(span_id AS BYTEA) END), max(CAST(span_id AS BYTEA))) AS span_id,
  max_text(instance_id) AS instance_id,
  coalesce(max_text(CASE WHEN strpos(sources, 'otlp_span') > 0 THEN "trigger" END), max_text("trigger")) AS "trigger",
  coalesce(min(CASE WHEN strpos(sources, 'otlp_span') > 0 THEN start_time END), min(CASE WHEN end_time IS NOT NULL THEN start_time END), min(start_time)) AS start_time,
  coalesce(max(CASE WHEN strpos(sources, 'otlp_span') > 0 THEN end_time END), max(end_time)) AS end_time,
  coalesce(max(CASE WHEN strpos(sources, 'platform_report') > 0 THEN duration_ms END), max(duration_ms)) AS duration_ms,
  coalesce(max(CASE WHEN strpos(sources, 'platform_report') > 0 THEN billed_duration_ms END), max(billed_duration_ms)) AS billed_duration_ms,
  coalesce(max(CASE WHEN strpos(sources, 'platform_report') > 0 THEN init_duration_ms END), max(init_duration_ms)) AS init_duration_ms,
  CASE WHEN bool_and(cold_start_inferred IS TRUE) THEN bool_or(cold_start)
       ELSE bool_or(cold_start AND cold_start_inferred IS NOT TRUE) END AS cold_start,
  coalesce(max(CASE WHEN strpos(sources, 'platform_report') > 0 THEN max_memory_used_mb END), max(max_memory_used_mb)) AS max_memory_used_mb,
  CASE max(CASE status WHEN 'success' THEN 0 WHEN 'error' THEN 1 WHEN 'throttled' THEN 2
                       WHEN 'timeout' THEN 3 WHEN 'out_of_memory' THEN 4 WHEN 'init_error' THEN 5 END)
    WHEN 0 THEN 'success' WHEN 1 THEN 'error' WHEN 2 THEN 'throttled'
    WHEN 3 THEN 'timeout' WHEN 4 THEN 'out_of_memory' ELSE 'init_error' END AS status,
  max_text(error_type) AS error_type,
  max_text(error_message) AS error_message,
  concat_ws(',',
    CASE WHEN bool_or(strpos(sources, 'otlp_span') > 0) THEN 'otlp_span' END,
    CASE WHEN bool_or(strpos(sources, 'platform_report') > 0) THEN 'platform_report' END,
    CASE WHEN bool_or(strpos(sources, 'function_log') > 0) THEN 'function_log' END,
    CASE WHEN bool_or(strpos(sources, 'caller_span') > 0) THEN 'caller_span' END) AS sources,
  bool_and(cold_start_inferred IS TRUE) AS cold_start_inferred
FROM invocation_fragments
GROUP BY request_id
