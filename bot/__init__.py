"""Ballast's edges: settings, composition root, CLI, HTTP app, storage and the incident lifecycle."""
