"""The AI agent: a tool loop over a project's blocks, runs, DAG and datasets.

``loop.py`` runs a turn (model calls through the router, tool calls, approvals, limits);
``tools/`` holds the tools, each acting as the requesting user through the services the
REST API uses; ``context.py`` builds the prompt within a token budget; ``conversations.py``
persists conversations; ``approvals.py`` decides what waits for the user; ``service.py``
ties them together for the REST API and the command line.
"""
