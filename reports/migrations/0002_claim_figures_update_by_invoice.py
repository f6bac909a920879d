# The figures' UPDATE trigger found the month of each changed claim's invoice by a join the planner could not size
# (transition tables have no statistics): it merge-joined with every invoice, an index scan of the whole
# claims_invoice table per statement (~100 ms at 155 000 invoices) whether the statement changed 1 claim or 1 000.
# A payout run moves its claims 1 000 at a time, so a run of 100 000 claims paid for 100 such scans. Now the
# differences are summed per invoice first, and each invoice's month (and each clinic's region) is read by its key.
# And no trigger function compiles its statement with JIT: the planner's guess for a transition table of a few
# hundred rows passed jit_above_cost, and each statement of a run's chunk spent ~90 ms compiling a query that then
# ran in 1 ms (auto_explain: "JIT: Timing: Total 92 ms" under the invoices' UPDATE of 800 rows).

from django.db import migrations

# As in 0001 (frozen here as the trigger holds them).
MONTH = "(date_trunc('month', {received_at} AT TIME ZONE 'Europe/Stockholm'))::date"
COLUMNS = "region_id, clinic_id, month, support_form, state, amount, claims"

CHANGED = """
    WITH changed AS (
        SELECT o.clinic_id AS old_clinic, o.invoice_id AS old_invoice, o.support_form AS old_form,
               o.state AS old_state, o.total AS old_total,
               n.clinic_id AS new_clinic, n.invoice_id AS new_invoice, n.support_form AS new_form,
               n.state AS new_state, n.total AS new_total
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.state, o.clinic_id, o.invoice_id, o.support_form, o.total)
              IS DISTINCT FROM (n.state, n.clinic_id, n.invoice_id, n.support_form, n.total)
    ), difference AS (
        SELECT new_clinic AS clinic_id, new_invoice AS invoice_id, new_form AS support_form, new_state AS state,
               new_total AS amount, 1 AS claims
        FROM changed
        UNION ALL
        SELECT old_clinic, old_invoice, old_form, old_state, -old_total, -1
        FROM changed
    )"""

BY_INVOICE = f"""
CREATE OR REPLACE FUNCTION reports_claim_figures_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {CHANGED}, per_invoice AS (
        SELECT clinic_id, invoice_id, support_form, state, SUM(amount) AS amount, SUM(claims) AS claims
        FROM difference
        GROUP BY 1, 2, 3, 4
    ), keyed AS (
        SELECT (SELECT k.region_id FROM clinics_clinic k WHERE k.id = p.clinic_id) AS region_id, p.clinic_id,
               (SELECT {MONTH.format(received_at="i.received_at")} FROM claims_invoice i WHERE i.id = p.invoice_id)
               AS month,
               p.support_form, p.state, p.amount, p.claims
        FROM per_invoice p
    )
    INSERT INTO reports_claimmonthfigure ({COLUMNS})
    SELECT region_id, clinic_id, month, support_form, state, SUM(amount), SUM(claims)
    FROM keyed
    GROUP BY 1, 2, 3, 4, 5;
    RETURN NULL;
END $$;
"""

BY_JOIN = f"""
CREATE OR REPLACE FUNCTION reports_claim_figures_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {CHANGED}
    INSERT INTO reports_claimmonthfigure ({COLUMNS})
    SELECT k.region_id, d.clinic_id, {MONTH.format(received_at="i.received_at")}, d.support_form, d.state,
           SUM(d.amount), SUM(d.claims)
    FROM difference d
    JOIN claims_invoice i ON i.id = d.invoice_id
    JOIN clinics_clinic k ON k.id = d.clinic_id
    GROUP BY 1, 2, 3, 4, 5;
    RETURN NULL;
END $$;
"""


FUNCTIONS = (
    "reports_claim_figures_insert()",
    "reports_claim_figures_delete()",
    "reports_claim_figures_update()",
    "reports_invoice_figures_update()",
)
NO_JIT = "".join(f"ALTER FUNCTION {function} SET jit = off;\n" for function in FUNCTIONS)
JIT_AS_SET = "".join(f"ALTER FUNCTION {function} RESET jit;\n" for function in FUNCTIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_claim_month_figures"),
    ]

    operations = [migrations.RunSQL(BY_INVOICE, BY_JOIN), migrations.RunSQL(NO_JIT, JIT_AS_SET)]
