"""The asynchronous SQS client (:class:`~.connection.AsyncSQSConnection`)."""
