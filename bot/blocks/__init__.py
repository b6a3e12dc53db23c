"""Block Kit builders: pure functions from frozen values to slack_sdk block lists, inside Slack's limits."""
