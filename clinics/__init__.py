"""Regions, clinics, users and their roles."""
