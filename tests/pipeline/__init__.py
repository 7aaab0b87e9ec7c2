"""The pipeline and its contract: rules, checks, CSV files, logs and the bench references, in this process or in
a `dg launch` of their own."""
