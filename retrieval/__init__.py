"""Text in, matches out: masking, fingerprints, embeddings, the vector index and dedup decisions."""
