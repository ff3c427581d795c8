-- 0025_analytics_compact_days: a cheaper nightly write of `analytics` (issue 13's benchmark).
-- Same figures, same answers from `tm analytics show`.
--
-- 1. A day row keeps its headline columns but no `report` JSON (NULL): 252 of a year's ~317 rows
--    a user are days, and their 1.3–1.6 KB of breakdowns were most of the write. A reader that
--    finds a day without its report computes the day's report from the user's fills
--    (AnalyticsCache), so `show --period daily` still answers every field. Weeks, months, years
--    and all time keep their report.
-- 2. `digest`: a 128-bit digest of everything stored in the row (its key, every column, the
--    report) except `run_id` and `computed_at`. A recompute rewrites only the rows whose digest
--    changed (ReportWriter): on a normal night past days, weeks and months are unchanged and not
--    written at all. So `run_id` and `computed_at` say which run last *changed* the row. NULL (rows
--    written before this migration): never equal, always rewritten.
ALTER TABLE analytics ALTER COLUMN report DROP NOT NULL;
ALTER TABLE analytics ADD CONSTRAINT analytics_report_kept CHECK (report IS NOT NULL OR period = 'day');
ALTER TABLE analytics ADD COLUMN digest uuid;
