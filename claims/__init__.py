"""Tariffs, claims, invoices, invoice files and payouts (built in the claims issues)."""
