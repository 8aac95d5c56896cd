"""The workspace of a project in one answer: blocks with states and last runs, edges,
kernel (what a client needs to open a project)."""
