"""The two sensors: bronze_watch validates a changed bronze file, release_dead_runs frees the layer of a dead run."""
