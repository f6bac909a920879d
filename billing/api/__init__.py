"""The journal-system API, /api/v1/ (issue 13): the same selectors and services as the web, over JSON.

A journal system authenticates with its clinic's API key (`Authorization: Bearer <key>`) and acts for that one
clinic with the rights of a biller. Errors are RFC 9457 problem details; see billing/api/problems.py.
"""
