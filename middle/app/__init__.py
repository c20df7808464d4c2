"""Use cases: what each command does, independent of how it is invoked or printed."""
