"""The documentation workflow's use cases: `middle docs`, and serve's interval."""
