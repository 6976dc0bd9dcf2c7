"""The team's own components (a folder most Pulumi projects have; it must not shadow the library)."""
