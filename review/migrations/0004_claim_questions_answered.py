# The start page's "Besvarade frågor att granska" read each answered question asked since the first open claim and
# looked up its claim and clinic, then each claim's unanswered questions: ~1 750 questions, 14 800 buffers, 8–9 ms
# of every page view at 1 M claims (EXPLAIN ANALYZE), and more with every question asked. Now each claim carries
# whether all its questions are answered (claims 0022, `Claim.questions_answered`), kept here by the questions'
# own statements, and the count reads the small partial index of the open claims that have it (1 150 buffers, 2 ms).

from django.db import migrations

# Whether each of `claim_ids` has a question and every one answered, written where it differs. The claims are
# locked first, in id order: two answers to one claim's two questions in concurrent transactions then run one
# after the other, and the second (a new snapshot per statement) sees the first's answer. Its services lock the
# claim before they write a question anyway (review.services).
SET_ANSWERED = """
CREATE FUNCTION review_claim_questions_answered_set(claim_ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM claims_claim WHERE id = ANY(claim_ids) ORDER BY id FOR NO KEY UPDATE;
    UPDATE claims_claim c SET questions_answered = s.answered
    FROM (
        SELECT ids.id,
               EXISTS (SELECT 1 FROM review_claimquestion q WHERE q.claim_id = ids.id AND q.answered_at IS NOT NULL)
               AND NOT EXISTS (SELECT 1 FROM review_claimquestion q WHERE q.claim_id = ids.id AND q.answered_at IS NULL)
               AS answered
        FROM unnest(claim_ids) AS ids(id)
    ) s
    WHERE c.id = s.id AND c.questions_answered IS DISTINCT FROM s.answered;
END $$;
ALTER FUNCTION review_claim_questions_answered_set(bigint[]) SET jit = off;

CREATE FUNCTION review_claim_questions_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM review_claim_questions_answered_set(ARRAY(SELECT DISTINCT claim_id FROM new_rows));
    RETURN NULL;
END $$;
CREATE FUNCTION review_claim_questions_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM review_claim_questions_answered_set(ARRAY(
        SELECT n.claim_id FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (n.claim_id, n.answered_at IS NULL) IS DISTINCT FROM (o.claim_id, o.answered_at IS NULL)
        UNION
        SELECT o.claim_id FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (n.claim_id, n.answered_at IS NULL) IS DISTINCT FROM (o.claim_id, o.answered_at IS NULL)
    ));
    RETURN NULL;
END $$;
CREATE FUNCTION review_claim_questions_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM review_claim_questions_answered_set(ARRAY(SELECT DISTINCT claim_id FROM old_rows));
    RETURN NULL;
END $$;
ALTER FUNCTION review_claim_questions_inserted() SET jit = off;
ALTER FUNCTION review_claim_questions_updated() SET jit = off;
ALTER FUNCTION review_claim_questions_deleted() SET jit = off;

CREATE TRIGGER review_claim_questions_inserted AFTER INSERT ON review_claimquestion
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION review_claim_questions_inserted();
CREATE TRIGGER review_claim_questions_updated AFTER UPDATE ON review_claimquestion
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION review_claim_questions_updated();
CREATE TRIGGER review_claim_questions_deleted AFTER DELETE ON review_claimquestion
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION review_claim_questions_deleted();
"""

DROP = """
DROP TRIGGER review_claim_questions_inserted ON review_claimquestion;
DROP TRIGGER review_claim_questions_updated ON review_claimquestion;
DROP TRIGGER review_claim_questions_deleted ON review_claimquestion;
DROP FUNCTION review_claim_questions_inserted();
DROP FUNCTION review_claim_questions_updated();
DROP FUNCTION review_claim_questions_deleted();
DROP FUNCTION review_claim_questions_answered_set(bigint[]);
"""

# The claims that have questions today (the index of claims 0022 is made before, on a column all false, so that
# the planner may use it at once).
BACKFILL = "SELECT review_claim_questions_answered_set(ARRAY(SELECT DISTINCT claim_id FROM review_claimquestion));"


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0022_claim_questions_answered"),
        ("review", "0003_question_answered_asked"),
    ]

    operations = [
        migrations.RunSQL(SET_ANSWERED, DROP),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        # Its one reader, the start page's count, reads the claims' column now.
        migrations.RemoveIndex(model_name="claimquestion", name="question_answered_asked"),
    ]
