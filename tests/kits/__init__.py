"""Helpers the tests share (fakes, builders, fixtures), imported as `kits.<module>`: pytest puts tests/ on the path."""
