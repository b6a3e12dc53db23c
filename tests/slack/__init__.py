"""Slack app tests: Block Kit builders, and signed requests through the real Bolt app to a fake Web API."""
