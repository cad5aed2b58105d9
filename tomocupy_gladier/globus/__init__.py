"""Globus adapters: login and scopes, deployment, Gladier's Flows manager and id storage, recorded requests (dry runs), the Polaris endpoint files."""
