"""Confidential reporting: the report conversation and the cases it files.

* ``flow``: the report state machine (``Step``, ``TRANSITIONS``, ``ReportFlow``), one question at a time;
* ``service``: ``ReportingService``, which runs the flow, files each case in one transaction, routes it,
  sends the receipt and handler notices, and keeps the deadlines;
* ``cases``: the encrypted cases database (``CaseDB``); ``crypto``: the report key, AES-GCM and blind indexes;
* ``routing``: who handles which category (``config/routing.toml``); ``outbox``: private messages queued
  until a channel delivers them; ``reportable``: questions that touch something staff may want to report.
"""
