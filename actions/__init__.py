"""The intervention catalog: what Ballast may do, who must approve it, and the audit trail."""
