"""Verification: the gates that judge an agent's committed head before its work counts as done."""
