"""Patients, certificates, free cards and prior assessments (built in the eligibility issue)."""
