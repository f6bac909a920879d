"""Background work of the reports: folding the start page's difference rows (reports.services)."""

import logging

from celery import shared_task

from .services import claim_month_figures_compact

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def claim_month_figures_compact_task() -> int:
    """Every quarter of an hour: one row per clinic, month and support form again. The figures are right without
    it (the readers sum the rows); it keeps the sums short. Idempotent, so a redelivery is harmless."""
    removed = claim_month_figures_compact()
    logger.info("claim month figures compacted: %s rows folded away", removed)
    return removed
