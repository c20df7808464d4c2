"""What middle drives and touches outside itself: git, tmux, gh, the worktree's `.middle/`
folder, the hook channel, and the user's files it rewrites."""
