"""One CI job's worth of work, from the event Actions passes to what the job leaves
behind."""
