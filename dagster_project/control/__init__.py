"""The dev-loop tools the Tilt buttons, the Makefile and the tests call: a GraphQL client of the webserver, the
`python -m dagster_project.control` CLI, refresh and summary."""
