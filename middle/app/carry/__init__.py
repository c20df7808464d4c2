"""Carrying a run to another machine: its rows and transcripts as a bundle, kept on disk or
on a git ref."""
