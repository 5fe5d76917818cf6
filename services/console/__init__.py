"""The web console: where branch clerks, managers and headquarters do their work (issue 11)."""
