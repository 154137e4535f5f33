"""One module per `tokensweeper` command: each has run(...), returning the exit status."""
