"""Registry policies as pure functions: each takes the request, the registry and what is stored, and returns
`None` (allowed) or a `Refusal` that names the rule and says what to do instead."""
