"""Projects, memberships and blocks: business rules and authorization."""
