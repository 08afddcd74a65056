"""Knowledge-base upkeep by HR: ``admin`` (``KnowledgeAdmin``: preview, publish, replace, remove, diff),
``chat`` (uploads and commands in a private chat, on every channel) and ``gaps`` (unanswered and
"Not helpful" questions)."""
