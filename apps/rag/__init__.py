"""Chat with your documents (RAG): persistent collections, hybrid retrieval, reranking, cited answers.

- `parse`: files and pasted text → sections (document, page/section, character offsets).
- `chunking`: sections → chunks of a token budget with overlap, each with its character span.
- `store`: collections on disk in LanceDB (an embedded, file-based vector database) under
  `settings.data_path / "rag"`. LanceDB was chosen because it is made to be embedded (no server, one folder
  per collection), every `add`/`delete` is one atomic commit of a new table version (so a crash or
  `kill -9` mid-ingest leaves the previous version: ingest is atomic per document), readers see a
  consistent version while a writer commits, and it installs from PyPI here without touching the pinned
  torch/numpy/pydantic/pandas. Its flat (exact) vector scan is what small collections want; an ANN index
  can be added to the same table for large ones. With `settings.vector_uri` the same tables live in object
  storage (S3, GCS, Azure, S3-compatible servers), shared by several replicas: LanceDB's way to scale.
- `retrieve`: BM25 (bm25s) + dense search fused with reciprocal-rank fusion, then an optional
  cross-encoder reranker.
- `task`: the task functions (rag_add, rag_ask, rag_documents, rag_remove) and the reranker's loader.
- `tab`: the Documents tab.
"""
