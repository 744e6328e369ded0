"""Plumbing shared by the clients of outside APIs (Meta's Graph API, Google's APIs).

* :mod:`~adinsights_pipelines.outside_apis.errors`: the base of every platform's error class.
* :mod:`~adinsights_pipelines.outside_apis.retry`: the runbook's retry policy (base-2
  exponential backoff with full jitter, at most 5 attempts, what counts as retryable on HTTP).
* :mod:`~adinsights_pipelines.outside_apis.transport`: JSON over a requests session with a
  timeout, retried by that policy, every failed call logged and reported.
* :mod:`~adinsights_pipelines.outside_apis.error_log`: ``app.api_error_log``, where those
  reports (:class:`ApiCallFailure`) are kept.

What is the platform's own (its error envelope, its retryable codes, its error subclasses)
stays in its client module.
"""
