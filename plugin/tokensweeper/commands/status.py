"""Exit statuses (EXIT_STATUS in arguments.py explains them to users) and CliError."""


OK, FAILURE, USAGE, PARTIAL = 0, 1, 2, 3


class CliError(Exception):
    def __init__(self, message, status=FAILURE):
        super(CliError, self).__init__(message)
        self.status = status
