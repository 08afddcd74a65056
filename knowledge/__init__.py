"""Policy documents and the code that turns a document into clauses."""
