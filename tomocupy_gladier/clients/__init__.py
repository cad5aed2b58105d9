"""The Gladier clients of the flows, built for a backend: the real Globus services, or the local backend through Gladier managers that run a client's flow on it."""
