"""The documentation workflow's steps (`middle docs`): `steps.py` prepares the worktree,
drives the agent's audit or write rounds and finishes the run; `tool.py` finds the repo's
docs tool from its config files."""
