"""One module per layer: bronze validates the raw file, silver cleans it row by row, gold summarizes silver."""
