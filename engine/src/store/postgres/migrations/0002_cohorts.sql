-- boxtrace PostgreSQL store, version 2: the cohort index.
--
-- A job's cohort is its box's vessel visit at its terminal, from its last result
-- (`Job::cohort` in the model: `<facility code>/<visit id>`), while the job is active.
-- It is derived from the body in the database, so every statement that writes a job keeps
-- it right without naming it, and it can never disagree with the body.
ALTER TABLE jobs ADD COLUMN cohort TEXT COLLATE "C" GENERATED ALWAYS AS (
    CASE WHEN state = 'ACTIVE' AND body -> 'lastResult' -> 'visit' ->> 'id' IS NOT NULL
         THEN coalesce(body -> 'lastResult' -> 'location' ->> 'facilityCode', '')
              || '/' || (body -> 'lastResult' -> 'visit' ->> 'id')
    END
) STORED;

-- What one box reveals about its visit brings the visit's other boxes forward: finding
-- them reads the cohort's entries only.
CREATE INDEX jobs_cohort ON jobs (provider_id, cohort) WHERE cohort IS NOT NULL;
