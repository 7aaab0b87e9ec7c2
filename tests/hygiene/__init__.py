"""The repository itself: docs and their links, the layout, import rules, shell scripts, the lock and the suite's
own timeout."""
