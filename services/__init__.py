"""Services shared by the CLI, the worker and (later) the web app: thin shells call these."""
