"""The platform-free core: conversation engine, answers with citations, report flow and cases.

Nothing in this package imports Slack or Bot Framework code; adapters translate to and from it.
"""
