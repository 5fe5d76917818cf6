"""The five services of the complaint system, plus their shared runtime in `services.common`."""
