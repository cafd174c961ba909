"""The kernel lab: a qemu guest with lttng-modules for the `lttng` kernel backend (README.md)."""
