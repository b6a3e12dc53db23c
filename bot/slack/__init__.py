"""The Slack edge: the Bolt app, its listeners, idempotent posting, and the HTTP and Socket Mode entry points."""
