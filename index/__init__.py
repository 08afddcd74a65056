"""Embeddings, the FAISS vector index, FTS5 keyword search and hybrid retrieval."""
